using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Certificates;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Keys;
using Org.BouncyCastle.X509;
using PublicKey = Mislata.Crypto.Algorithms.PublicKey;

namespace Mislata.Crypto.Tests.Certificates;

/// <summary>
/// The DER of <see cref="X509Writer"/>, read back by two parsers that are not it: .NET's X509Certificate2 (and its chain
/// engine) and BouncyCastle's X509CertificateParser/X509CrlParser, which also verify each signature over the TBS part.
/// </summary>
public sealed class X509WriterTests
{
    internal sealed record Issuer(KeyMaterial Key, byte[] Subject, byte[] KeyIdentifier, byte[] Der);

    public static TheoryData<string> Algorithms =>
    [
        AlgorithmNames.MlDsa44, AlgorithmNames.MlDsa65, AlgorithmNames.MlDsa87, AlgorithmNames.EcdsaP256, AlgorithmNames.EcdsaP384,
        AlgorithmNames.Rsa2048, AlgorithmNames.Ed25519, AlgorithmNames.SlhDsaSha2_128f,
    ];

    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    internal static DistinguishedName Name(string text) =>
        DistinguishedNames.TryParse(text, out var name, out var reason) ? name! : throw new InvalidOperationException(reason);

    internal static Issuer Ca(string algorithm, string subject, Issuer? parent, int? pathLength, DateTimeOffset? notAfter = null)
    {
        var key = AlgorithmRegistry.Default.Generate(algorithm, KeyType.Signing, OsRandomSource.Instance);
        var spki = PublicKeyExporter.ExportSpki(key.PublicKey!);
        var ski = X509Writer.KeyIdentifier(spki);
        var name = Name(subject);
        var fields = new CertificateFields(X509Writer.NewSerialNumber(RandomNumberGenerator.GetBytes), parent?.Key.Algorithm ?? algorithm, parent?.Subject ?? name.Der,
            Now.AddMinutes(-5), notAfter ?? Now.AddYears(10), name.Der, spki,
            [X509Writer.BasicConstraints(true, pathLength), X509Writer.KeyUsage(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign),
             X509Writer.SubjectKeyIdentifier(ski), X509Writer.AuthorityKeyIdentifier(parent?.KeyIdentifier ?? ski)]);
        return new Issuer(key, name.Der, ski, Sign(X509Writer.TbsCertificate(fields), parent?.Key ?? key));
    }

    internal static byte[] Leaf(Issuer issuer, byte[] spki, string subject, IReadOnlyList<CertificateExtension> extensions, byte[]? serial = null) =>
        Sign(X509Writer.TbsCertificate(new CertificateFields(serial ?? X509Writer.NewSerialNumber(RandomNumberGenerator.GetBytes), issuer.Key.Algorithm, issuer.Subject,
            Now.AddMinutes(-5), Now.AddDays(90), Name(subject).Der, spki, extensions)), issuer.Key);

    internal static byte[] Sign(byte[] tbs, KeyMaterial key) =>
        X509Writer.Signed(tbs, key.Algorithm, AlgorithmRegistry.Default.GetSigner(key.Algorithm).Sign(key, tbs, [], OsRandomSource.Instance));

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void A_root_CA_parses_in_dotnet_and_BouncyCastle_with_the_profile_extensions_and_a_signature_that_verifies(string algorithm)
    {
        var root = Ca(algorithm, "CN=Test Root,O=Mislata,C=NL", null, 1);

        using var cert = X509CertificateLoader.LoadCertificate(root.Der);
        Assert.Equal(3, cert.Version);
        Assert.Equal("CN=Test Root, O=Mislata, C=NL", cert.Subject);
        Assert.Equal(cert.Subject, cert.Issuer);
        Assert.Equal(X509Algorithms.SignatureOid(algorithm), cert.SignatureAlgorithm.Value);
        var basic = Assert.IsType<X509BasicConstraintsExtension>(cert.Extensions["2.5.29.19"]);
        Assert.True(basic.Critical);
        Assert.True(basic.CertificateAuthority);
        Assert.True(basic.HasPathLengthConstraint);
        Assert.Equal(1, basic.PathLengthConstraint);
        var usage = Assert.IsType<X509KeyUsageExtension>(cert.Extensions["2.5.29.15"]);
        Assert.True(usage.Critical);
        Assert.Equal(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, usage.KeyUsages);
        Assert.Equal(Convert.ToHexString(root.KeyIdentifier), Assert.IsType<X509SubjectKeyIdentifierExtension>(cert.Extensions["2.5.29.14"]).SubjectKeyIdentifier);
        Assert.Equal(root.KeyIdentifier, Assert.IsType<X509AuthorityKeyIdentifierExtension>(cert.Extensions["2.5.29.35"]).KeyIdentifier!.Value.ToArray());
        Assert.Equal(16, cert.SerialNumberBytes.Length);
        Assert.Equal(Now.AddMinutes(-5).UtcDateTime, cert.NotBefore.ToUniversalTime());

        var bc = new X509CertificateParser().ReadCertificate(root.Der);
        Assert.Equal(X509Algorithms.SignatureOid(algorithm), bc.SigAlgOid);
        Assert.True(bc.GetBasicConstraints() == 1);
        Assert.Equal(root.Der, bc.GetEncoded());
        Assert.True(VerifiesOverTbs(root.Der, root.Key.PublicKey!));

        // A flipped bit of the TBS part no longer verifies.
        var tampered = (byte[])root.Der.Clone();
        tampered[40] ^= 1;
        Assert.False(VerifiesOverTbs(tampered, root.Key.PublicKey!));
    }

    [Theory]
    [InlineData(AlgorithmNames.MlDsa44, X509Algorithms.MlDsa44)]
    [InlineData(AlgorithmNames.MlDsa65, X509Algorithms.MlDsa65)]
    [InlineData(AlgorithmNames.MlDsa87, X509Algorithms.MlDsa87)]
    [InlineData(AlgorithmNames.Ed25519, X509Algorithms.Ed25519)]
    public void Pure_signature_algorithms_have_no_AlgorithmIdentifier_parameters_and_the_raw_public_key_in_the_BIT_STRING(string algorithm, string oid)
    {
        var root = Ca(algorithm, "CN=Pure", null, null);
        var certificate = new AsnReader(root.Der, AsnEncodingRules.DER).ReadSequence();
        var tbs = certificate.ReadSequence();
        var outer = certificate.ReadSequence();
        Assert.Equal(oid, outer.ReadObjectIdentifier());
        Assert.False(outer.HasData, "signatureAlgorithm parameters must be absent");

        tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
        tbs.ReadInteger();
        var inner = tbs.ReadSequence();
        Assert.Equal(oid, inner.ReadObjectIdentifier());
        Assert.False(inner.HasData);
        tbs.ReadSequence();
        tbs.ReadSequence();
        tbs.ReadSequence();
        var spki = tbs.ReadSequence();
        var keyAlgorithm = spki.ReadSequence();
        Assert.Equal(oid, keyAlgorithm.ReadObjectIdentifier());
        Assert.False(keyAlgorithm.HasData, "the key's AlgorithmIdentifier has no parameters");
        Assert.Equal(root.Key.PublicKey!.Raw.ToArray(), spki.ReadBitString(out _));
    }

    [Fact]
    public void An_RSA_CA_signs_with_RSASSA_PSS_SHA256_MGF1_SHA256_salt_32_as_RFC_4055_encodes_it()
    {
        var root = Ca(AlgorithmNames.Rsa2048, "CN=RSA Root", null, null);
        var algorithm = X509Algorithms.SignatureAlgorithm(AlgorithmNames.Rsa2048);
        Assert.Equal(
            "303D" + "06092A864886F70D01010A" + "3030" + "A00D300B0609608648016503040201" +
            "A11A3018" + "06092A864886F70D010108" + "300B0609608648016503040201" + "A203020120",
            Convert.ToHexString(algorithm));
        using var cert = X509CertificateLoader.LoadCertificate(root.Der);
        using var rsa = cert.GetRSAPublicKey()!;
        var (tbs, signature) = TbsAndSignature(root.Der);
        Assert.True(rsa.VerifyData(tbs, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss));
        Assert.False(rsa.VerifyData(tbs, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public void A_chain_root_intermediate_leaf_builds_in_the_dotnet_chain_engine_with_server_auth()
    {
        var root = Ca(AlgorithmNames.EcdsaP384, "CN=Chain Root,O=Mislata", null, 1);
        var intermediate = Ca(AlgorithmNames.EcdsaP256, "CN=Chain Issuing,O=Mislata", root, 0);
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var spki = leafKey.ExportSubjectPublicKeyInfo();
        var leaf = Leaf(intermediate, spki, "CN=api.example.com",
        [
            X509Writer.BasicConstraints(false, null), X509Writer.KeyUsage(X509KeyUsageFlags.DigitalSignature),
            X509Writer.ExtendedKeyUsage(X509Writer.KeyUsageServerAuth), X509Writer.SubjectKeyIdentifier(X509Writer.KeyIdentifier(spki)),
            X509Writer.AuthorityKeyIdentifier(intermediate.KeyIdentifier),
            X509Writer.SubjectAltNames(["api.example.com", "*.api.example.com"], [System.Net.IPAddress.Parse("10.0.0.1")], [], ["spiffe://example/api"], false),
        ]);

        using var rootCert = X509CertificateLoader.LoadCertificate(root.Der);
        using var intermediateCert = X509CertificateLoader.LoadCertificate(intermediate.Der);
        using var leafCert = X509CertificateLoader.LoadCertificate(leaf);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(rootCert);
        chain.ChainPolicy.ExtraStore.Add(intermediateCert);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = Now.AddDays(1).UtcDateTime;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(X509Writer.KeyUsageServerAuth));
        Assert.True(chain.Build(leafCert), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.Equal(3, chain.ChainElements.Count);

        var san = Assert.IsType<X509SubjectAlternativeNameExtension>(leafCert.Extensions["2.5.29.17"]);
        Assert.Equal(["api.example.com", "*.api.example.com"], san.EnumerateDnsNames());
        Assert.Equal([System.Net.IPAddress.Parse("10.0.0.1")], san.EnumerateIPAddresses());
        Assert.True(leafCert.MatchesHostname("x.api.example.com"));

        // The intermediate has pathLength 0: a CA under it fails the chain.
        var tooDeep = Ca(AlgorithmNames.EcdsaP256, "CN=Too Deep", intermediate, null);
        using var tooDeepCert = X509CertificateLoader.LoadCertificate(tooDeep.Der);
        var deepLeaf = Leaf(new Issuer(tooDeep.Key, tooDeep.Subject, tooDeep.KeyIdentifier, tooDeep.Der), spki, "CN=deep", [X509Writer.BasicConstraints(false, null)]);
        using var deepLeafCert = X509CertificateLoader.LoadCertificate(deepLeaf);
        using var deepChain = new X509Chain();
        deepChain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        deepChain.ChainPolicy.CustomTrustStore.Add(rootCert);
        deepChain.ChainPolicy.ExtraStore.Add(intermediateCert);
        deepChain.ChainPolicy.ExtraStore.Add(tooDeepCert);
        deepChain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        deepChain.ChainPolicy.VerificationTime = Now.AddDays(1).UtcDateTime;
        Assert.False(deepChain.Build(deepLeafCert));
    }

    [Theory]
    [InlineData(AlgorithmNames.EcdsaP256)]
    [InlineData(AlgorithmNames.MlDsa65)]
    [InlineData(AlgorithmNames.Rsa2048)]
    public void A_CRL_parses_in_BouncyCastle_with_its_number_AKI_entries_and_reasons_and_verifies(string algorithm)
    {
        var ca = Ca(algorithm, "CN=CRL Issuer", null, null);
        var serial = X509Writer.NewSerialNumber(RandomNumberGenerator.GetBytes);
        var other = X509Writer.NewSerialNumber(RandomNumberGenerator.GetBytes);
        var tbs = X509Writer.TbsCertList(new CrlFields(algorithm, ca.Subject, ca.KeyIdentifier, Now, Now.AddDays(7), 42,
            [new RevokedEntry(serial, Now.AddHours(-1), 1), new RevokedEntry(other, Now.AddHours(-2), null)]));
        var der = Sign(tbs, ca.Key);

        var crl = new X509CrlParser().ReadCrl(der);
        Assert.Equal(2, crl.Version);
        Assert.Equal(X509Algorithms.SignatureOid(algorithm), crl.SigAlgOid);
        Assert.Equal(Now.UtcDateTime, crl.ThisUpdate);
        Assert.Equal(Now.AddDays(7).UtcDateTime, crl.NextUpdate!.Value);
        var number = Org.BouncyCastle.Asn1.DerInteger.GetInstance(Org.BouncyCastle.Asn1.Asn1Object.FromByteArray(crl.GetExtensionValue(new Org.BouncyCastle.Asn1.DerObjectIdentifier("2.5.29.20")).GetOctets()));
        Assert.Equal(42, number.IntValueExact);
        Assert.NotNull(crl.GetExtensionValue(new Org.BouncyCastle.Asn1.DerObjectIdentifier("2.5.29.35")));
        var entries = crl.GetRevokedCertificates().ToDictionary(e => Convert.ToHexString(e.SerialNumber.ToByteArrayUnsigned()));
        Assert.Equal(2, entries.Count);
        var revoked = entries[Convert.ToHexString(serial)];
        Assert.Equal(Now.AddHours(-1).UtcDateTime, revoked.RevocationDate);
        var reason = Org.BouncyCastle.Asn1.DerEnumerated.GetInstance(Org.BouncyCastle.Asn1.Asn1Object.FromByteArray(revoked.GetExtensionValue(new Org.BouncyCastle.Asn1.DerObjectIdentifier("2.5.29.21")).GetOctets()));
        Assert.Equal(1, reason.IntValueExact);
        Assert.Null(entries[Convert.ToHexString(other)].GetExtensionValue(new Org.BouncyCastle.Asn1.DerObjectIdentifier("2.5.29.21")));
        Assert.True(VerifiesOverTbs(der, ca.Key.PublicKey!));
    }

    [Fact]
    public void Serial_numbers_are_16_byte_positive_and_distinct()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 10_000; i++)
        {
            var serial = X509Writer.NewSerialNumber(RandomNumberGenerator.GetBytes);
            Assert.Equal(16, serial.Length);
            Assert.InRange(serial[0], 0x40, 0x7F);
            Assert.True(seen.Add(Convert.ToHexString(serial)));
        }

        // Even an all-ones or all-zeros source gives a positive 16-octet INTEGER.
        Assert.Equal(0x7F, X509Writer.NewSerialNumber(n => Enumerable.Repeat((byte)0xFF, n).ToArray())[0]);
        Assert.Equal(0x40, X509Writer.NewSerialNumber(n => new byte[n])[0]);
    }

    [Fact]
    public void Times_are_UTCTime_through_2049_and_GeneralizedTime_from_2050()
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        X509Writer.WriteTime(writer, new DateTimeOffset(2049, 12, 31, 23, 59, 59, 999, TimeSpan.Zero));
        X509Writer.WriteTime(writer, new DateTimeOffset(2050, 1, 1, 0, 0, 0, TimeSpan.FromHours(2)));
        X509Writer.WriteTime(writer, new DateTimeOffset(2050, 1, 1, 0, 0, 0, TimeSpan.Zero));

        // The second is 2049-12-31T22:00Z once in UTC: still a UTCTime.
        Assert.Equal("170D3439313233313233353935395A" + "170D3439313233313232303030305A" + "180F32303530303130313030303030305A", Convert.ToHexString(writer.Encode()));
    }

    /// <summary>Verifies the outer signature over the TBS DER with Mislata-independent code for the classic algorithms (.NET) and BouncyCastle for the others.</summary>
    internal static bool VerifiesOverTbs(byte[] der, PublicKey key)
    {
        var (tbs, signature) = TbsAndSignature(der);
        switch (key.Algorithm)
        {
            case AlgorithmNames.EcdsaP256 or AlgorithmNames.EcdsaP384:
                using (var ec = ECDsa.Create())
                {
                    ec.ImportSubjectPublicKeyInfo(PublicKeyExporter.ExportSpki(key), out _);
                    return ec.VerifyData(tbs, signature, key.Algorithm == AlgorithmNames.EcdsaP256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA384, DSASignatureFormat.Rfc3279DerSequence);
                }

            case AlgorithmNames.Rsa2048 or AlgorithmNames.Rsa3072 or AlgorithmNames.Rsa4096:
                using (var rsa = RSA.Create())
                {
                    rsa.ImportSubjectPublicKeyInfo(PublicKeyExporter.ExportSpki(key), out _);
                    return rsa.VerifyData(tbs, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
                }

            default:
                var verifier = Org.BouncyCastle.Security.SignerUtilities.GetSigner(key.Algorithm switch
                {
                    AlgorithmNames.Ed25519 => "Ed25519",
                    AlgorithmNames.SlhDsaSha2_128f => "SLH-DSA-SHA2-128F",
                    _ => key.Algorithm,
                });
                verifier.Init(false, Org.BouncyCastle.Security.PublicKeyFactory.CreateKey(PublicKeyExporter.ExportSpki(key)));
                verifier.BlockUpdate(tbs);
                return verifier.VerifySignature(signature);
        }
    }

    internal static (byte[] Tbs, byte[] Signature) TbsAndSignature(byte[] der)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var tbs = outer.ReadEncodedValue().ToArray();
        outer.ReadSequence();
        return (tbs, outer.ReadBitString(out _));
    }
}
