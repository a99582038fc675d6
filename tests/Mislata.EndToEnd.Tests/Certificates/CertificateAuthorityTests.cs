using System.Diagnostics;
using System.Formats.Asn1;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;
using Npgsql;
using static Mislata.EndToEnd.Tests.ApiResponses;

namespace Mislata.EndToEnd.Tests.Certificates;

/// <summary>A stack of its own: one test stops its PostgreSQL.</summary>
public sealed class CertificatesFixture : TenancyFixture
{
    protected override StackOptions Options() => base.Options() with { OwnPostgres = true };
}

/// <summary>
/// <c>/api/v1/cas</c> and <c>/api/v1/certificates</c> through the gateway (two api replicas), checked by tools that are
/// not Mislata: <c>openssl verify</c> for ECDSA, RSA and Ed25519 chains and for a revoked certificate with the CA's CRL,
/// @noble/post-quantum (tests/tools/verify-mldsa.mjs) for every ML-DSA signature over the TBSCertificate/TBSCertList DER,
/// which this test extracts with its own DER reader. Then the boundaries: other tenants, narrower, revoked and suspended
/// credentials, PostgreSQL down, bad CSRs, TTLs and SANs, and a generated private key that appears nowhere but in its answer.
/// </summary>
[ExpectedSeconds(30)]
public sealed class CertificateAuthorityTests(CertificatesFixture fixture) : IClassFixture<CertificatesFixture>
{
    private static readonly string[] ReadWrite = ["certificates:read", "certificates:write"];

    private static string ToolsDirectory => Path.Combine(TestEnvironment.RepositoryRoot, "tests", "tools");

    private static Uri U(string path) => new(path, UriKind.Relative);

    private async Task<HttpClient> TenantClientAsync(string[]? scopes = null)
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, scopes ?? ReadWrite);
        var client = fixture.WithKey(key);
        client.Timeout = TimeSpan.FromMinutes(2);
        return client;
    }

    private static async Task<JsonElement> CreateCaAsync(HttpClient client, string algorithm, string subject, Guid? parentId = null, int? pathLength = null, object? hybrid = null) =>
        await OkJsonAsync(await client.PostAsJsonAsync(U("/api/v1/cas"), new
        {
            name = "ca-" + Guid.NewGuid().ToString("N")[..10],
            algorithm,
            subject,
            validityDays = parentId is null ? 3650 : 1825,
            parentId,
            pathLength,
            hybrid,
        }), HttpStatusCode.Created);

    private static async Task<JsonElement> IssueAsync(HttpClient client, object body) =>
        await OkJsonAsync(await client.PostAsJsonAsync(U("/api/v1/certificates"), body), HttpStatusCode.Created);

    private static string Folder() => TestEnvironment.NewFolder("x509");

    private static async Task<string> OpensslAsync(params string[] args)
    {
        try
        {
            return (await Processes.RunAsync("openssl", args)).Trim();
        }
        catch (InvalidOperationException e)
        {
            return "FAILED: " + e.Message;
        }
    }

    private static async Task<string> VerifyMlDsaAsync(string algorithm, byte[] publicKey, byte[] message, byte[] signature)
    {
        Assert.True(Directory.Exists(Path.Combine(ToolsDirectory, "node_modules", "@noble", "post-quantum")),
            "tests/tools is not installed: ./test.sh runs `npm ci` there (or run it by hand)");
        var folder = Folder();
        string Write(string name, byte[] bytes)
        {
            var path = Path.Combine(folder, name);
            File.WriteAllText(path, Convert.ToHexString(bytes));
            return path;
        }

        try
        {
            return (await Processes.RunAsync("node", [Path.Combine(ToolsDirectory, "verify-mldsa.mjs"), algorithm, Write("pk", publicKey), Write("msg", message), Write("sig", signature)])).Trim();
        }
        catch (InvalidOperationException e) when (e.Message.Contains("invalid: ", StringComparison.Ordinal))
        {
            return e.Message[e.Message.IndexOf("invalid: ", StringComparison.Ordinal)..].Trim();
        }
    }

    /// <summary>(TBS DER, signature algorithm OID, whether it had parameters, signature bytes) of a Certificate or CertificateList.</summary>
    private static (byte[] Tbs, string AlgorithmOid, bool HasParameters, byte[] Signature) Split(byte[] der)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var tbs = outer.ReadEncodedValue().ToArray();
        var algorithm = outer.ReadSequence();
        var oid = algorithm.ReadObjectIdentifier();
        var hasParameters = algorithm.HasData;
        var signature = outer.ReadBitString(out _);
        outer.ThrowIfNotEmpty();
        return (tbs, oid, hasParameters, signature);
    }

    /// <summary>The raw public key (subjectPublicKey BIT STRING) of a certificate, read from its SubjectPublicKeyInfo.</summary>
    private static (string Oid, byte[] Key) PublicKeyOf(byte[] certificateDer)
    {
        var tbs = new AsnReader(Split(certificateDer).Tbs, AsnEncodingRules.DER).ReadSequence();
        tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
        tbs.ReadInteger();
        tbs.ReadSequence();
        tbs.ReadSequence();
        tbs.ReadSequence();
        tbs.ReadSequence();
        var spki = tbs.ReadSequence();
        var oid = spki.ReadSequence().ReadObjectIdentifier();
        return (oid, spki.ReadBitString(out _));
    }

    private static byte[] Der(string pem) => PemEncoding.TryFind(pem, out var f) ? Convert.FromBase64String(pem[f.Base64Data]) : throw new FormatException("no PEM");

    private static List<byte[]> Ders(string pem)
    {
        var list = new List<byte[]>();
        var rest = pem;
        while (PemEncoding.TryFind(rest, out var fields))
        {
            list.Add(Convert.FromBase64String(rest[fields.Base64Data]));
            rest = rest[fields.Location.End..];
        }

        return list;
    }

    private static readonly Dictionary<string, string> MlDsaOids = new(StringComparer.Ordinal)
    {
        ["2.16.840.1.101.3.4.3.17"] = "ML-DSA-44",
        ["2.16.840.1.101.3.4.3.18"] = "ML-DSA-65",
        ["2.16.840.1.101.3.4.3.19"] = "ML-DSA-87",
    };

    [Theory]
    [InlineData("ECDSA-P384", "ECDSA-P256")]
    [InlineData("RSA-3072", "RSA-2048")]
    [InlineData("Ed25519", "Ed25519")]
    public async Task A_root_intermediate_and_leaf_verify_with_openssl_and_the_revoked_leaf_fails_crl_check_with_the_CAs_CRL(string rootAlgorithm, string issuingAlgorithm)
    {
        using var client = await TenantClientAsync();
        var root = await CreateCaAsync(client, rootAlgorithm, "CN=Acme Root CA,O=Acme,C=NL", pathLength: 1);
        Assert.Equal(rootAlgorithm, root.GetProperty("algorithm").GetString());
        Assert.Equal(root.GetProperty("certificatePem").GetString(), root.GetProperty("chainPem").GetString());
        var intermediate = await CreateCaAsync(client, issuingAlgorithm, "CN=Acme Issuing CA,O=Acme,C=NL", root.GetProperty("id").GetGuid());
        Assert.Equal(0, intermediate.GetProperty("pathLength").GetInt32());
        Assert.Equal(2, Ders(intermediate.GetProperty("chainPem").GetString()!).Count);

        // The CA key is a Mislata key of the keys API, a signing key: never exportable, listed like any other.
        var keyId = intermediate.GetProperty("keyId").GetGuid();
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.keys WHERE id = '{keyId}' AND algorithm = '{issuingAlgorithm}' AND type = 'Signing'"));

        var folder = Folder();
        var rootPem = Path.Combine(folder, "root.pem");
        var interPem = Path.Combine(folder, "inter.pem");
        var leafPem = Path.Combine(folder, "leaf.pem");
        await File.WriteAllTextAsync(rootPem, root.GetProperty("certificatePem").GetString());
        await File.WriteAllTextAsync(interPem, intermediate.GetProperty("certificatePem").GetString());

        // A leaf from a CSR made by openssl, and one from a key Mislata generates.
        var csrKey = Path.Combine(folder, "csr.key");
        var csrFile = Path.Combine(folder, "leaf.csr");
        Assert.False((await OpensslAsync("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", csrKey, "-out", csrFile, "-subj", "/O=Acme/CN=api.acme.test")).StartsWith("FAILED", StringComparison.Ordinal));
        var fromCsr = await IssueAsync(client, new
        {
            caId = intermediate.GetProperty("id").GetGuid(), csrPem = await File.ReadAllTextAsync(csrFile), profile = "server",
            sans = new[] { "dns:api.acme.test", "dns:*.api.acme.test", "ip:10.1.2.3" }, validityDays = 90,
        });
        Assert.Equal(JsonValueKind.Null, fromCsr.GetProperty("privateKeyPem").ValueKind);
        Assert.Equal("CN=api.acme.test, O=Acme", fromCsr.GetProperty("subject").GetString());
        Assert.Equal(3, Ders(fromCsr.GetProperty("chainPem").GetString()!).Count);
        await File.WriteAllTextAsync(leafPem, fromCsr.GetProperty("certificatePem").GetString());
        Assert.Equal($"{leafPem}: OK", await OpensslAsync("verify", "-CAfile", rootPem, "-untrusted", interPem, "-purpose", "sslserver", leafPem));
        Assert.Contains("api.acme.test", await OpensslAsync("x509", "-in", leafPem, "-noout", "-ext", "subjectAltName"), StringComparison.Ordinal);
        Assert.False((await OpensslAsync("verify", "-CAfile", rootPem, "-untrusted", interPem, "-verify_hostname", "x.api.acme.test", leafPem)).StartsWith("FAILED", StringComparison.Ordinal));
        Assert.StartsWith("FAILED", await OpensslAsync("verify", "-CAfile", rootPem, "-untrusted", interPem, "-purpose", "sslclient", leafPem));
        Assert.StartsWith("FAILED", await OpensslAsync("verify", "-CAfile", interPem, leafPem));

        var generated = await IssueAsync(client, new
        {
            caId = intermediate.GetProperty("id").GetGuid(), subject = "CN=worker-7,O=Acme", algorithm = issuingAlgorithm, profile = "client",
            sans = new[] { "email:worker-7@acme.test" }, validityDays = 30,
        });
        var generatedPem = Path.Combine(folder, "generated.pem");
        var generatedKey = Path.Combine(folder, "generated.key");
        await File.WriteAllTextAsync(generatedPem, generated.GetProperty("certificatePem").GetString());
        await File.WriteAllTextAsync(generatedKey, generated.GetProperty("privateKeyPem").GetString());
        Assert.Equal($"{generatedPem}: OK", await OpensslAsync("verify", "-CAfile", rootPem, "-untrusted", interPem, "-purpose", "sslclient", generatedPem));
        Assert.Equal(await OpensslAsync("x509", "-in", generatedPem, "-noout", "-pubkey"), await OpensslAsync("pkey", "-in", generatedKey, "-pubout"));

        // The key is shown once: the stored certificate has no private key.
        var again = await OkJsonAsync(await client.GetAsync(U($"/api/v1/certificates/{generated.GetProperty("id").GetGuid()}")));
        Assert.Equal(JsonValueKind.Null, again.GetProperty("privateKeyPem").ValueKind);
        Assert.True(again.GetProperty("keyGenerated").GetBoolean());

        // Before any revocation the CRL is empty and -crl_check passes; after the revocation it lists the leaf.
        var interId = intermediate.GetProperty("id").GetGuid();
        var crlFile = Path.Combine(folder, "inter.crl");
        await File.WriteAllTextAsync(crlFile, await (await client.GetAsync(U($"/api/v1/cas/{interId}/crl"))).Content.ReadAsStringAsync());
        Assert.Equal($"{leafPem}: OK", await OpensslAsync("verify", "-crl_check", "-CAfile", rootPem, "-untrusted", interPem, "-CRLfile", crlFile, leafPem));

        var revoked = await OkJsonAsync(await client.PostAsJsonAsync(U($"/api/v1/certificates/{fromCsr.GetProperty("id").GetGuid()}/revoke"), new { reason = "keyCompromise" }));
        Assert.True(revoked.GetProperty("revoked").GetBoolean());
        Assert.Equal("keyCompromise", revoked.GetProperty("revocationReason").GetString());
        await AssertProblemAsync(await client.PostAsJsonAsync(U($"/api/v1/certificates/{fromCsr.GetProperty("id").GetGuid()}/revoke"), new { reason = "superseded" }), HttpStatusCode.Conflict, "conflict");

        using var crlResponse = await client.GetAsync(U($"/api/v1/cas/{interId}/crl?format=pem"));
        Assert.Equal("application/x-pem-file", crlResponse.Content.Headers.ContentType?.MediaType);
        await File.WriteAllTextAsync(crlFile, await crlResponse.Content.ReadAsStringAsync());
        var verdict = await OpensslAsync("verify", "-crl_check", "-CAfile", rootPem, "-untrusted", interPem, "-CRLfile", crlFile, leafPem);
        Assert.StartsWith("FAILED", verdict);
        Assert.Contains("certificate revoked", verdict, StringComparison.Ordinal);
        Assert.Equal($"{generatedPem}: OK", await OpensslAsync("verify", "-crl_check", "-CAfile", rootPem, "-untrusted", interPem, "-CRLfile", crlFile, generatedPem));

        var text = await OpensslAsync("crl", "-in", crlFile, "-noout", "-text");
        Assert.Contains(fromCsr.GetProperty("serialNumber").GetString()!.ToUpperInvariant(), text.Replace(":", string.Empty, StringComparison.Ordinal).ToUpperInvariant(), StringComparison.Ordinal);
        Assert.Contains("Key Compromise", text, StringComparison.Ordinal);
        Assert.Contains("X509v3 CRL Number", text, StringComparison.Ordinal);
        Assert.False((await OpensslAsync("crl", "-in", crlFile, "-noout", "-CAfile", interPem)).StartsWith("FAILED", StringComparison.Ordinal));

        // DER form, and cRLNumber only grows: the CRL after the revocation has a higher number than the first.
        using var derResponse = await client.GetAsync(U($"/api/v1/cas/{interId}/crl?format=der"));
        Assert.Equal("application/pkix-crl", derResponse.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Der(await File.ReadAllTextAsync(crlFile)), await derResponse.Content.ReadAsByteArrayAsync());
        Assert.Equal(2L, await fixture.ScalarAsync($"SELECT crl_number FROM mislata.certificate_authorities WHERE id = '{interId}'"));

        // Listing: the tenant's certificates, filtered by CA, paged.
        var page = await OkJsonAsync(await client.GetAsync(U($"/api/v1/certificates?caId={interId}&limit=1")));
        Assert.Single(page.GetProperty("data").EnumerateArray());
        var next = await OkJsonAsync(await client.GetAsync(U($"/api/v1/certificates?caId={interId}&limit=1&cursor={page.GetProperty("nextCursor").GetString()}")));
        Assert.Single(next.GetProperty("data").EnumerateArray());
        Assert.Empty((await OkJsonAsync(await client.GetAsync(U($"/api/v1/certificates?caId={root.GetProperty("id").GetGuid()}")))).GetProperty("data").EnumerateArray());
        Assert.Equal(2, (await OkJsonAsync(await client.GetAsync(U("/api/v1/cas")))).GetProperty("data").GetArrayLength());

        // Every CA creation, issuance and revocation is audited with ids, serial and profile.
        var actions = new List<string>();
        await using (var connection = new NpgsqlConnection(fixture.Stack.PostgresConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"SELECT action FROM mislata.audit_events WHERE resource_id IN ('{interId}', '{fromCsr.GetProperty("id").GetGuid()}', '{generated.GetProperty("id").GetGuid()}') ORDER BY occurred_at, sequence", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                actions.Add(reader.GetString(0));
            }
        }

        Assert.Equal(["ca.create", "certificate.issue", "certificate.issue", "certificate.revoke"], actions);
        Assert.Equal(1L, await fixture.ScalarAsync(
            $"SELECT count(*) FROM mislata.audit_events WHERE action = 'certificate.revoke' AND details->>'serialNumber' = '{fromCsr.GetProperty("serialNumber").GetString()}' AND details->>'profile' = 'server' AND details->>'caId' = '{interId}'"));
    }

    [Fact]
    public async Task An_ML_DSA_chain_and_its_CRL_verify_with_an_independent_implementation_over_the_TBS_DER()
    {
        using var client = await TenantClientAsync();
        var root = await CreateCaAsync(client, "ML-DSA-87", "CN=PQ Root,O=Acme", pathLength: 2);
        var intermediate = await CreateCaAsync(client, "ML-DSA-65", "CN=PQ Issuing,O=Acme", root.GetProperty("id").GetGuid());
        var leaf = await IssueAsync(client, new
        {
            caId = intermediate.GetProperty("id").GetGuid(), subject = "CN=pq.acme.test", algorithm = "ML-DSA-44", profile = "server",
            sans = new[] { "dns:pq.acme.test" }, validityDays = 30,
        });

        var rootDer = Der(root.GetProperty("certificatePem").GetString()!);
        var interDer = Der(intermediate.GetProperty("certificatePem").GetString()!);
        var leafDer = Der(leaf.GetProperty("certificatePem").GetString()!);
        Assert.Equal([leafDer, interDer, rootDer], Ders(leaf.GetProperty("chainPem").GetString()!));

        // Each certificate: the signature algorithm is its issuer's ML-DSA OID with no parameters, and the issuer's raw
        // public key verifies the signature over the TBSCertificate bytes.
        foreach (var (certificate, issuer, expected) in new[] { (rootDer, rootDer, "ML-DSA-87"), (interDer, rootDer, "ML-DSA-87"), (leafDer, interDer, "ML-DSA-65") })
        {
            var (tbs, oid, hasParameters, signature) = Split(certificate);
            Assert.Equal(expected, MlDsaOids[oid]);
            Assert.False(hasParameters, "RFC 9881: the AlgorithmIdentifier parameters are absent");
            var (keyOid, key) = PublicKeyOf(issuer);
            Assert.Equal(oid, keyOid);
            Assert.Equal("valid", await VerifyMlDsaAsync(expected, key, tbs, signature));

            var tampered = (byte[])tbs.Clone();
            tampered[^10] ^= 0x01;
            Assert.StartsWith("invalid", await VerifyMlDsaAsync(expected, key, tampered, signature), StringComparison.Ordinal);
        }

        Assert.Equal("ML-DSA-44", MlDsaOids[PublicKeyOf(leafDer).Oid]);
        Assert.Contains("-----BEGIN PRIVATE KEY-----", leaf.GetProperty("privateKeyPem").GetString(), StringComparison.Ordinal);

        // .NET's certificate parser reads all three (extensions, names) even without knowing ML-DSA.
        using var parsed = X509CertificateLoader.LoadCertificate(leafDer);
        Assert.Equal("CN=PQ Issuing, O=Acme", parsed.Issuer);
        Assert.Equal(["pq.acme.test"], Assert.IsType<X509SubjectAlternativeNameExtension>(parsed.Extensions["2.5.29.17"]).EnumerateDnsNames());

        // Revoked: the next CRL lists the serial and verifies the same way under the issuing CA's key.
        await OkJsonAsync(await client.PostAsJsonAsync(U($"/api/v1/certificates/{leaf.GetProperty("id").GetGuid()}/revoke"), new { reason = "superseded" }));
        var crl = await (await client.GetAsync(U($"/api/v1/cas/{intermediate.GetProperty("id").GetGuid()}/crl?format=der"))).Content.ReadAsByteArrayAsync();
        var (crlTbs, crlOid, crlParameters, crlSignature) = Split(crl);
        Assert.Equal("ML-DSA-65", MlDsaOids[crlOid]);
        Assert.False(crlParameters);
        Assert.Equal("valid", await VerifyMlDsaAsync("ML-DSA-65", PublicKeyOf(interDer).Key, crlTbs, crlSignature));

        var list = new AsnReader(crlTbs, AsnEncodingRules.DER).ReadSequence();
        Assert.Equal(1, (int)list.ReadInteger());
        list.ReadSequence();
        list.ReadSequence();
        list.ReadUtcTime();
        list.ReadUtcTime();
        var entry = list.ReadSequence().ReadSequence();
        Assert.Equal(leaf.GetProperty("serialNumber").GetString(), Convert.ToHexString(entry.ReadIntegerBytes().Span).ToLowerInvariant());
    }

    [Fact]
    public async Task A_hybrid_CA_issues_an_ML_DSA_and_an_ECDSA_certificate_for_one_subject_in_one_call()
    {
        using var client = await TenantClientAsync();
        var root = await CreateCaAsync(client, "ML-DSA-65", "CN=Hybrid Root,O=Acme", hybrid: new { classicAlgorithm = "ECDSA-P256" });
        var companionId = root.GetProperty("companionId").GetGuid();
        var companion = await OkJsonAsync(await client.GetAsync(U($"/api/v1/cas/{companionId}")));
        Assert.Equal(("ECDSA-P256", root.GetProperty("subject").GetString()), (companion.GetProperty("algorithm").GetString(), companion.GetProperty("subject").GetString()));

        var pair = await IssueAsync(client, new
        {
            caId = root.GetProperty("id").GetGuid(), subject = "CN=both.acme.test", profile = "server", sans = new[] { "dns:both.acme.test" }, validityDays = 30, pair = true,
        });
        var classic = pair.GetProperty("companion");
        Assert.Equal(pair.GetProperty("pairId").GetGuid(), classic.GetProperty("pairId").GetGuid());
        Assert.Equal(("ML-DSA-65", "ECDSA-P256"), (pair.GetProperty("keyAlgorithm").GetString(), classic.GetProperty("keyAlgorithm").GetString()));
        Assert.Equal(pair.GetProperty("subject").GetString(), classic.GetProperty("subject").GetString());
        Assert.Equal(pair.GetProperty("sans").GetRawText(), classic.GetProperty("sans").GetRawText());

        var folder = Folder();
        await File.WriteAllTextAsync(Path.Combine(folder, "root.pem"), companion.GetProperty("certificatePem").GetString());
        await File.WriteAllTextAsync(Path.Combine(folder, "leaf.pem"), classic.GetProperty("certificatePem").GetString());
        Assert.Equal($"{Path.Combine(folder, "leaf.pem")}: OK", await OpensslAsync("verify", "-CAfile", Path.Combine(folder, "root.pem"), Path.Combine(folder, "leaf.pem")));
        var (tbs, _, _, signature) = Split(Der(pair.GetProperty("certificatePem").GetString()!));
        Assert.Equal("valid", await VerifyMlDsaAsync("ML-DSA-65", PublicKeyOf(Der(root.GetProperty("certificatePem").GetString()!)).Key, tbs, signature));

        // A CA without a companion cannot issue pairs; hybrid needs an ML-DSA algorithm.
        var plain = await CreateCaAsync(client, "ECDSA-P256", "CN=Plain");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/certificates"), new { caId = plain.GetProperty("id").GetGuid(), subject = "CN=x", profile = "client", validityDays = 1, pair = true }), "pair");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/cas"), new { name = "h2", algorithm = "ECDSA-P256", subject = "CN=h", validityDays = 10, hybrid = new { } }), "hybrid");
    }

    [Fact]
    public async Task A_broken_CSR_signature_an_over_long_TTL_and_forbidden_SANs_are_clear_400s_and_store_nothing()
    {
        using var client = await TenantClientAsync();
        var ca = await CreateCaAsync(client, "ECDSA-P256", "CN=Rules CA");
        var caId = ca.GetProperty("id").GetGuid();

        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=device-42", ec, HashAlgorithmName.SHA256).CreateSigningRequest();
        var tampered = (byte[])csr.Clone();
        tampered[tampered.AsSpan().IndexOf("device-42"u8) + 7] = (byte)'5';
        var broken = await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/certificates"), new
        {
            caId, csrPem = PemEncoding.WriteString("CERTIFICATE REQUEST", tampered), profile = "client", validityDays = 30,
        }), HttpStatusCode.BadRequest, "csr_signature_invalid");
        Assert.Contains("signature", broken.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/certificates"), new { caId, csrPem = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", profile = "client", validityDays = 30 }), "csrPem");
        await IssueAsync(client, new { caId, csrPem = PemEncoding.WriteString("CERTIFICATE REQUEST", csr), profile = "client", validityDays = 30 });

        var tooLong = await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/certificates"), new { caId, subject = "CN=x", algorithm = "Ed25519", profile = "client", validityDays = 398 }),
            HttpStatusCode.BadRequest, "validation_failed");
        Assert.Contains("397", tooLong.GetProperty("errors").GetProperty("validityDays")[0].GetString(), StringComparison.Ordinal);
        var shortCa = await OkJsonAsync(await client.PostAsJsonAsync(U("/api/v1/cas"), new { name = "short", algorithm = "Ed25519", subject = "CN=Short", validityDays = 10, maxValidityDays = 30 }),
            HttpStatusCode.Created);
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/certificates"), new { caId = shortCa.GetProperty("id").GetGuid(), subject = "CN=x", profile = "client", validityDays = 20 }), "validityDays");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/cas"), new { name = "child", algorithm = "Ed25519", subject = "CN=Child", validityDays = 20, parentId = shortCa.GetProperty("id").GetGuid() }), "validityDays");

        foreach (var (profile, san) in new[] { ("server", "dns:*.com"), ("server", "dns:a.*.acme.test"), ("client", "ip:10.0.0.1"), ("server", "dns:bad_name.acme.test"), ("codeSigning", "dns:x.acme.test"), ("server", "ftp:x") })
        {
            await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/certificates"), new { caId, subject = "CN=x", profile, sans = new[] { san }, validityDays = 30 }), "sans");
        }

        var scoped = await OkJsonAsync(await client.PostAsJsonAsync(U("/api/v1/cas"), new { name = "scoped", algorithm = "ECDSA-P256", subject = "CN=Scoped", validityDays = 100, allowedDomains = new[] { "acme.test" } }),
            HttpStatusCode.Created);
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/certificates"), new { caId = scoped.GetProperty("id").GetGuid(), subject = "CN=x", profile = "server", sans = new[] { "dns:evil.test" }, validityDays = 30 }), "sans");
        await IssueAsync(client, new { caId = scoped.GetProperty("id").GetGuid(), subject = "CN=x", profile = "server", sans = new[] { "dns:www.acme.test" }, validityDays = 30 });

        foreach (var body in new object[]
        {
            new { name = "x", algorithm = "ML-KEM-768", subject = "CN=x", validityDays = 10 },
            new { name = "x", algorithm = "ECDSA-P256", subject = "not a name", validityDays = 10 },
            new { name = "x", algorithm = "ECDSA-P256", subject = "CN=x", validityDays = 0 },
            new { name = "x", algorithm = "ECDSA-P256", subject = "CN=x", validityDays = 10, pathLength = 11 },
            new { name = "x", algorithm = "ECDSA-P256", subject = "CN=x", validityDays = 10, allowedDomains = new[] { "*.acme.test" } },
        })
        {
            await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/cas"), body), HttpStatusCode.BadRequest, "validation_failed");
        }

        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/certificates/" + Guid.NewGuid() + "/revoke"), new { reason = "certificateHold" }), "reason");
        await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/certificates/" + Guid.NewGuid() + "/revoke"), new { reason = "superseded" }), HttpStatusCode.NotFound, "not_found");
        await AssertFieldErrorAsync(await client.GetAsync(U($"/api/v1/cas/{caId}/crl?format=txt")), "format");
        Assert.Equal(2L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.certificates WHERE ca_id IN ('{caId}', '{scoped.GetProperty("id").GetGuid()}', '{shortCa.GetProperty("id").GetGuid()}')"));
    }

    [Fact]
    public async Task Another_tenants_CA_and_certificates_are_not_found_for_every_route()
    {
        using var owner = await TenantClientAsync();
        using var stranger = await TenantClientAsync();
        var ca = await CreateCaAsync(owner, "ECDSA-P256", "CN=Owner CA");
        var caId = ca.GetProperty("id").GetGuid();
        var certificate = await IssueAsync(owner, new { caId, subject = "CN=owned", profile = "client", validityDays = 10 });
        var certificateId = certificate.GetProperty("id").GetGuid();

        await AssertProblemAsync(await stranger.GetAsync(U($"/api/v1/cas/{caId}")), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await stranger.GetAsync(U($"/api/v1/cas/{caId}/crl")), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await stranger.GetAsync(U($"/api/v1/certificates/{certificateId}")), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await stranger.PostAsJsonAsync(U($"/api/v1/certificates/{certificateId}/revoke"), new { reason = "keyCompromise" }), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await stranger.PostAsJsonAsync(U("/api/v1/certificates"), new { caId, subject = "CN=stolen", profile = "client", validityDays = 10 }), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await stranger.PostAsJsonAsync(U("/api/v1/cas"), new { name = "sub", algorithm = "ECDSA-P256", subject = "CN=Sub", validityDays = 10, parentId = caId }), HttpStatusCode.NotFound, "not_found");
        Assert.Empty((await OkJsonAsync(await stranger.GetAsync(U("/api/v1/cas")))).GetProperty("data").EnumerateArray());
        Assert.Empty((await OkJsonAsync(await stranger.GetAsync(U($"/api/v1/certificates?caId={caId}")))).GetProperty("data").EnumerateArray());

        Assert.False((await OkJsonAsync(await owner.GetAsync(U($"/api/v1/certificates/{certificateId}")))).GetProperty("revoked").GetBoolean());
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.certificates WHERE ca_id = '{caId}'"));
        Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.certificate_authorities WHERE parent_id = '{caId}'"));
    }

    [Fact]
    public async Task Narrower_revoked_and_suspended_credentials_are_refused_on_every_route()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, adminKey) = await fixture.CreateKeyAsync(tenant, ["certificates:read", "certificates:write", "apikeys:write"]);
        var (_, readerKey) = await fixture.CreateKeyAsync(tenant, ["certificates:read"]);
        var (_, strangerKey) = await fixture.CreateKeyAsync(tenant, ["keys:read", "keys:write", "ssh:read", "ssh:write"]);
        using var admin = fixture.WithKey(adminKey);
        using var reader = fixture.WithKey(readerKey);
        using var stranger = fixture.WithKey(strangerKey);
        var caId = (await CreateCaAsync(admin, "Ed25519", "CN=Scoped CA")).GetProperty("id").GetGuid();
        var certificateId = (await IssueAsync(admin, new { caId, subject = "CN=c", profile = "client", validityDays = 5 })).GetProperty("id").GetGuid();

        var writes = new (string Path, object Body)[]
        {
            ("/api/v1/cas", new { name = "n", algorithm = "Ed25519", subject = "CN=n", validityDays = 5 }),
            ("/api/v1/certificates", new { caId, subject = "CN=c", profile = "client", validityDays = 5 }),
            ($"/api/v1/certificates/{certificateId}/revoke", new { reason = "superseded" }),
        };
        var reads = new[] { "/api/v1/cas", $"/api/v1/cas/{caId}", $"/api/v1/cas/{caId}/crl", "/api/v1/certificates", $"/api/v1/certificates/{certificateId}" };
        foreach (var (path, body) in writes)
        {
            await AssertProblemAsync(await reader.PostAsJsonAsync(U(path), body), HttpStatusCode.Forbidden, "insufficient_scope");
            await AssertProblemAsync(await stranger.PostAsJsonAsync(U(path), body), HttpStatusCode.Forbidden, "insufficient_scope");
        }

        foreach (var path in reads)
        {
            Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync(U(path))).StatusCode);
            await AssertProblemAsync(await stranger.GetAsync(U(path)), HttpStatusCode.Forbidden, "insufficient_scope");
        }

        var issued = await OkJsonAsync(await admin.PostAsJsonAsync(U("/api/v1/api-keys"), new { name = "short-lived", scopes = ReadWrite }), HttpStatusCode.Created);
        using var revokedClient = fixture.WithKey(issued.GetProperty("key").GetString());
        await OkJsonAsync(await revokedClient.GetAsync(U($"/api/v1/cas/{caId}")));
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync(U($"/api/v1/api-keys/{issued.GetProperty("id").GetGuid()}"))).StatusCode);
        var (status, _, _) = await TenancyFixture.EventuallyAsync(() => revokedClient.GetAsync(U($"/api/v1/cas/{caId}")), HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        foreach (var (path, body) in writes)
        {
            await AssertProblemAsync(await revokedClient.PostAsJsonAsync(U(path), body), HttpStatusCode.Unauthorized, "unauthorized");
        }

        foreach (var path in reads)
        {
            await AssertProblemAsync(await revokedClient.GetAsync(U(path)), HttpStatusCode.Unauthorized, "unauthorized");
        }

        using var op = fixture.Operator();
        Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{tenant}/suspend"), null)).StatusCode);
        (status, _, _) = await TenancyFixture.EventuallyAsync(() => admin.GetAsync(U($"/api/v1/cas/{caId}")), HttpStatusCode.Forbidden, TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        foreach (var (path, body) in writes)
        {
            await AssertProblemAsync(await admin.PostAsJsonAsync(U(path), body), HttpStatusCode.Forbidden, "forbidden");
        }

        Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{tenant}/reactivate"), null)).StatusCode);
        (status, _, _) = await TenancyFixture.EventuallyAsync(() => admin.GetAsync(U($"/api/v1/cas/{caId}")), HttpStatusCode.OK, TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.certificate_authorities WHERE tenant_id = '{tenant}'"));
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.certificates WHERE tenant_id = '{tenant}' AND revoked_at IS NULL"));
    }

    [Fact]
    public async Task A_disabled_CA_key_refuses_to_sign_and_the_CA_key_never_leaves_as_private_material()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["certificates:read", "certificates:write", "keys:read", "keys:write"]);
        using var client = fixture.WithKey(key);
        var ca = await CreateCaAsync(client, "ECDSA-P256", "CN=Disabled CA");
        var keyId = ca.GetProperty("keyId").GetGuid();
        var keyJson = await OkJsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}")));
        Assert.DoesNotContain("privateKey", keyJson.GetRawText(), StringComparison.OrdinalIgnoreCase);

        await OkJsonAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/disable"), null));
        await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/certificates"), new { caId = ca.GetProperty("id").GetGuid(), subject = "CN=x", profile = "client", validityDays = 5 }),
            HttpStatusCode.Conflict, "key_state_invalid");
        await AssertProblemAsync(await client.GetAsync(U($"/api/v1/cas/{ca.GetProperty("id").GetGuid()}/crl")), HttpStatusCode.Conflict, "key_state_invalid");
        await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/cas"), new { name = "under-disabled", algorithm = "ECDSA-P256", subject = "CN=u", validityDays = 5, parentId = ca.GetProperty("id").GetGuid() }),
            HttpStatusCode.Conflict, "key_state_invalid");
        await OkJsonAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/enable"), null));
        await IssueAsync(client, new { caId = ca.GetProperty("id").GetGuid(), subject = "CN=x", profile = "client", validityDays = 5 });
    }

    [Fact]
    public async Task A_generated_private_key_appears_in_no_log_audit_row_or_database_table()
    {
        using var client = await TenantClientAsync();
        var ca = await CreateCaAsync(client, "ECDSA-P256", "CN=Marker CA");
        var forms = new List<string>();
        foreach (var algorithm in new[] { "ECDSA-P256", "Ed25519", "ML-DSA-44" })
        {
            var issued = await IssueAsync(client, new { caId = ca.GetProperty("id").GetGuid(), subject = "CN=marker", algorithm, profile = "client", validityDays = 5 });
            var pem = issued.GetProperty("privateKeyPem").GetString()!;
            var der = Der(pem);
            var body = pem.Split('\n')[1];
            forms.Add(body[8..56]);
            byte[] secret;
            if (algorithm == "ECDSA-P256")
            {
                using var ec = ECDsa.Create();
                ec.ImportPkcs8PrivateKey(der, out _);
                secret = ec.ExportParameters(true).D!;
            }
            else
            {
                // Ed25519 (RFC 8410) and ML-DSA (RFC 9881 seed form) PKCS#8 end with the 32-byte seed.
                secret = der[^32..];
            }

            forms.Add(Convert.ToHexString(secret).ToLowerInvariant());
        }

        await using (var connection = new NpgsqlConnection(fixture.Stack.PostgresConnectionString))
        {
            await connection.OpenAsync();
            var tables = new List<string>();
            await using (var list = new NpgsqlCommand(
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables WHERE table_schema IN ('mislata', 'identity') AND table_type = 'BASE TABLE'",
                connection))
            await using (var reader = await list.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    tables.Add(reader.GetString(0));
                }
            }

            Assert.Contains("mislata.certificates", tables);
            foreach (var table in tables)
            {
                // Each row as text (bytea as hex), searched for the base64 and hex forms of the keys.
                await using var search = new NpgsqlCommand($"SELECT count(*) FROM {table} t WHERE position(@a in t::text) > 0 OR position(@b in t::text) > 0 OR position(@c in t::text) > 0 " +
                    "OR position(@d in t::text) > 0 OR position(@e in t::text) > 0 OR position(@f in t::text) > 0", connection);
                for (var k = 0; k < forms.Count; k++)
                {
                    search.Parameters.AddWithValue(((char)('a' + k)).ToString(), forms[k]);
                }

                Assert.True((long)(await search.ExecuteScalarAsync())! == 0, $"{table} holds a generated private key");
            }
        }

        foreach (var service in fixture.Stack.Services)
        {
            foreach (var form in forms)
            {
                Assert.False(service.Output.Contains(form, StringComparison.OrdinalIgnoreCase), $"{service.Name} logged a generated private key");
            }
        }

        Assert.True(await fixture.ScalarAsync("SELECT count(*) FROM mislata.audit_events WHERE action = 'certificate.issue' AND details->>'keyGenerated' = 'true'") >= 3);
    }

    [Fact]
    public async Task While_postgres_is_down_every_route_answers_503_and_works_again_afterwards()
    {
        using var client = await TenantClientAsync();
        var ca = await CreateCaAsync(client, "ECDSA-P256", "CN=Outage CA");
        var caId = ca.GetProperty("id").GetGuid();
        var certificateId = (await IssueAsync(client, new { caId, subject = "CN=o", profile = "client", validityDays = 5 })).GetProperty("id").GetGuid();

        await fixture.Stack.Postgres.StopAsync();
        try
        {
            await AssertProblemAsync(await client.GetAsync(U("/api/v1/cas")), HttpStatusCode.ServiceUnavailable, "unavailable");
            await AssertProblemAsync(await client.GetAsync(U($"/api/v1/cas/{caId}")), HttpStatusCode.ServiceUnavailable, "unavailable");
            await AssertProblemAsync(await client.GetAsync(U($"/api/v1/cas/{caId}/crl")), HttpStatusCode.ServiceUnavailable, "unavailable");
            await AssertProblemAsync(await client.GetAsync(U($"/api/v1/certificates/{certificateId}")), HttpStatusCode.ServiceUnavailable, "unavailable");
            await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/cas"), new { name = "down", algorithm = "ECDSA-P256", subject = "CN=d", validityDays = 5 }), HttpStatusCode.ServiceUnavailable, "unavailable");
            await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/certificates"), new { caId, subject = "CN=d", profile = "client", validityDays = 5 }), HttpStatusCode.ServiceUnavailable, "unavailable");
            await AssertProblemAsync(await client.PostAsJsonAsync(U($"/api/v1/certificates/{certificateId}/revoke"), new { reason = "superseded" }), HttpStatusCode.ServiceUnavailable, "unavailable");
        }
        finally
        {
            await fixture.Stack.Postgres.StartAsync();
            NpgsqlConnection.ClearAllPools();
        }

        await fixture.Stack.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        var inARow = 0;
        var watch = Stopwatch.StartNew();
        while (inARow < 8 && watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            using var response = await client.PostAsJsonAsync(U("/api/v1/certificates"), new { caId, subject = "CN=back", profile = "client", validityDays = 5 });
            inARow = response.StatusCode == HttpStatusCode.Created ? inARow + 1 : 0;
            await Task.Delay(inARow == 0 ? 200 : 20);
        }

        Assert.True(inARow >= 8, "the api did not issue again on every replica within 60 s of PostgreSQL's return");
        Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.certificate_authorities WHERE name = 'down'"));
        Assert.False((await OkJsonAsync(await client.GetAsync(U($"/api/v1/certificates/{certificateId}")))).GetProperty("revoked").GetBoolean());
    }
}
