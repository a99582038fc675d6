using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Certificates;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Keys;

namespace Mislata.Crypto.Tests.Certificates;

/// <summary>PKCS#10 proof of possession (<see cref="CertificationRequests"/>) and RFC 4514 names (<see cref="DistinguishedNames"/>).</summary>
public sealed class CertificationRequestTests
{
    private static string Pem(byte[] der) => PemEncoding.WriteString("CERTIFICATE REQUEST", der);

    /// <summary>A CSR built field by field and signed with a Mislata key (for algorithms .NET's CertificateRequest cannot sign).</summary>
    internal static byte[] MislataCsr(KeyMaterial key, string subject)
    {
        var info = new AsnWriter(AsnEncodingRules.DER);
        using (info.PushSequence())
        {
            info.WriteInteger(0);
            info.WriteEncodedValue(X509WriterTests.Name(subject).Der);
            info.WriteEncodedValue(PublicKeyExporter.ExportSpki(key.PublicKey!));
            using (info.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
            }
        }

        var tbs = info.Encode();
        return X509Writer.Signed(tbs, key.Algorithm, AlgorithmRegistry.Default.GetSigner(key.Algorithm).Sign(key, tbs, [], OsRandomSource.Instance));
    }

    [Fact]
    public void ECDSA_and_RSA_requests_from_dotnet_verify_and_keep_their_subject_and_key()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var ecCsr = new CertificateRequest("CN=svc.example.com, O=Acme", ec, HashAlgorithmName.SHA256).CreateSigningRequest();
        var (request, error) = CertificationRequests.Read(Pem(ecCsr));
        Assert.Equal(CsrError.None, error);
        Assert.Equal(AlgorithmNames.EcdsaP256, request!.KeyAlgorithm);
        Assert.Equal(ec.ExportSubjectPublicKeyInfo(), request.SubjectPublicKeyInfo);
        Assert.Equal("CN=svc.example.com, O=Acme", DistinguishedNames.Format(request.SubjectName));

        using var rsa = RSA.Create(2048);
        foreach (var padding in new[] { RSASignaturePadding.Pkcs1, RSASignaturePadding.Pss })
        {
            var rsaCsr = new CertificateRequest("CN=rsa", rsa, HashAlgorithmName.SHA256, padding).CreateSigningRequest();
            var (rsaRequest, rsaError) = CertificationRequests.Read(Pem(rsaCsr));
            Assert.Equal(CsrError.None, rsaError);
            Assert.Equal("RSA-2048", rsaRequest!.KeyAlgorithm);
            Assert.True(rsaRequest.IsRsa);
        }
    }

    [Theory]
    [InlineData(AlgorithmNames.Ed25519)]
    [InlineData(AlgorithmNames.MlDsa44)]
    [InlineData(AlgorithmNames.MlDsa65)]
    [InlineData(AlgorithmNames.MlDsa87)]
    public void Ed25519_and_ML_DSA_requests_verify_and_a_flipped_bit_anywhere_in_the_signed_part_is_a_bad_signature(string algorithm)
    {
        using var key = AlgorithmRegistry.Default.Generate(algorithm, KeyType.Signing, OsRandomSource.Instance);
        var csr = MislataCsr(key, "CN=device-42,O=Acme");
        var (request, error) = CertificationRequests.Read(Pem(csr));
        Assert.Equal(CsrError.None, error);
        Assert.Equal(algorithm, request!.KeyAlgorithm);

        // "device-42" → "device-52" inside certificationRequestInfo: the DER stays valid, the signature does not.
        var tampered = (byte[])csr.Clone();
        var at = tampered.AsSpan().IndexOf("device-42"u8) + 7;
        Assert.True(at > 7);
        tampered[at] = (byte)'5';
        Assert.Equal(CsrError.BadSignature, CertificationRequests.Read(Pem(tampered)).Error);

        var badSignature = (byte[])csr.Clone();
        badSignature[^5] ^= 0x01;
        Assert.Equal(CsrError.BadSignature, CertificationRequests.Read(Pem(badSignature)).Error);
    }

    [Fact]
    public void Malformed_and_unsupported_requests_are_told_apart_and_never_throw()
    {
        Assert.Equal(CsrError.Malformed, CertificationRequests.Read(null).Error);
        Assert.Equal(CsrError.Malformed, CertificationRequests.Read("not a pem").Error);
        Assert.Equal(CsrError.Malformed, CertificationRequests.Read(PemEncoding.WriteString("CERTIFICATE", [0x30, 0x00])).Error);
        Assert.Equal(CsrError.Malformed, CertificationRequests.Read(Pem([0x30, 0x03, 0x02, 0x01, 0x00])).Error);
        Assert.Equal(CsrError.Malformed, CertificationRequests.Read(Pem(RandomNumberGenerator.GetBytes(300))).Error);
        Assert.Equal(CsrError.Malformed, CertificationRequests.Read(new string('A', CertificationRequests.MaxPemLength + 1)).Error);

        using var p521 = ECDsa.Create(ECCurve.NamedCurves.nistP521);
        Assert.Equal(CsrError.Unsupported, CertificationRequests.Read(Pem(new CertificateRequest("CN=x", p521, HashAlgorithmName.SHA512).CreateSigningRequest())).Error);
        using var small = RSA.Create(1024);
        Assert.Equal(CsrError.Unsupported, CertificationRequests.Read(Pem(new CertificateRequest("CN=x", small, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest())).Error);

        // A truncated request at every length never escapes as an exception.
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var good = new CertificateRequest("CN=t", ec, HashAlgorithmName.SHA256).CreateSigningRequest();
        for (var length = 0; length < good.Length; length += 7)
        {
            Assert.NotEqual(CsrError.None, CertificationRequests.Read(Pem(good[..length])).Error);
        }
    }

    [Fact]
    public void RFC_4514_names_encode_least_specific_first_and_read_back_most_specific_first()
    {
        Assert.True(DistinguishedNames.TryParse("CN=api.example.com, OU=Platform, O=Acme\\, Inc., L=Amsterdam, C=NL", out var name, out _));
        Assert.Equal("CN=api.example.com,OU=Platform,O=Acme\\, Inc.,L=Amsterdam,C=NL", name!.Text);
        var x500 = new X500DistinguishedName(name.Der);
        Assert.Equal("CN=api.example.com, OU=Platform, O=\"Acme, Inc.\", L=Amsterdam, C=NL", x500.Name);
        var rdns = x500.EnumerateRelativeDistinguishedNames(reversed: false).Select(r => r.GetSingleElementType().Value).ToList();
        Assert.Equal(["2.5.4.6", "2.5.4.7", "2.5.4.10", "2.5.4.11", "2.5.4.3"], rdns);

        Assert.True(DistinguishedNames.TryParse("CN=Caf\\C3\\A9,DC=example,DC=com,2.5.4.97=VATNL-123", out var escaped, out _));
        Assert.Contains("Café", new X500DistinguishedName(escaped!.Der).Name, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("CN")]
    [InlineData("=x")]
    [InlineData("CN=a,,O=b")]
    [InlineData("XX=1")]
    [InlineData("C=Netherlands")]
    [InlineData("C=nl")]
    [InlineData("CN=a+O=b")]
    [InlineData("CN=#04024869")]
    [InlineData("CN=a;b")]
    [InlineData("CN=a\\")]
    [InlineData("CN=a\\zz")]
    [InlineData("CN=\u0001")]
    [InlineData("CN=12345678901234567890123456789012345678901234567890123456789012345")]
    [InlineData("DC=ex\u00e4mple")]
    public void Names_this_CA_does_not_accept_are_refused_with_a_reason(string? text)
    {
        Assert.False(DistinguishedNames.TryParse(text, out var name, out var reason));
        Assert.Null(name);
        Assert.False(string.IsNullOrWhiteSpace(reason));
    }
}
