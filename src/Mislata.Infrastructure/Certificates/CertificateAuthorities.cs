using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Certificates;
using Mislata.Core.Keys;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Certificates;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Keys;
using Mislata.Infrastructure.Keys;
using Npgsql;

namespace Mislata.Infrastructure.Certificates;

/// <summary>
/// The X.509 CAs of a tenant (issue 18): create root and intermediate CAs whose keys are Mislata keys (created by
/// <see cref="KeyAdministration"/>, signing only through <see cref="CaKeySigner"/>), issue leaf certificates from a CSR or
/// from a key pair generated here (its PKCS#8 returned once, never stored), revoke, and sign CRLs. Every statement names
/// the tenant, so another tenant's CA or certificate is not found. Audited before commit (fail-closed), never with key
/// material. A hybrid CA is an ML-DSA CA and a classic companion under the same subject, issuing pairs.
/// </summary>
public sealed class CertificateAuthorities(
    NpgsqlDataSource db, KeyAdministration keys, CaKeySigner signer, IRandomSource random, IAuditLog audit, TimeProvider time)
{
    private const int MaxChainDepth = CertificateLimits.MaxPathLength + 2;

    public async Task<CertificateOutcome<CertificateAuthority>> CreateAsync(Guid tenantId, CaDraft draft, RequestActor actor, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentNullException.ThrowIfNull(actor);
        CertificateAuthority? parent = null;
        await using (var connection = await db.OpenConnectionAsync(ct))
        {
            if (await CertificateStore.CountAsync(connection, null, "certificate_authorities", tenantId, ct) + (draft.ClassicAlgorithm is null ? 1 : 2) >
                CertificateLimits.MaxCasPerTenant)
            {
                return CertificateOutcome<CertificateAuthority>.Fail(CertificateError.QuotaExceeded);
            }

            if (await CertificateStore.CaNameTakenAsync(connection, null, tenantId, draft.Name, ct) ||
                (draft.ClassicAlgorithm is not null && await CertificateStore.CaNameTakenAsync(connection, null, tenantId, CompanionName(draft.Name), ct)))
            {
                return CertificateOutcome<CertificateAuthority>.Fail(CertificateError.NameTaken);
            }

            if (draft.ParentId is { } parentId)
            {
                parent = await CertificateStore.FindCaAsync(connection, null, tenantId, parentId, forUpdate: false, ct);
                if (parent is null)
                {
                    return CertificateOutcome<CertificateAuthority>.Fail(CertificateError.NotFound);
                }
            }
        }

        CertificateAuthority? companionParent = null;
        if (draft.ClassicAlgorithm is not null && parent is not null)
        {
            if (parent.CompanionId is null)
            {
                return CertificateOutcome<CertificateAuthority>.Invalid("hybrid", "a hybrid intermediate needs a hybrid parent (a CA created with hybrid).");
            }

            await using var connection = await db.OpenConnectionAsync(ct);
            companionParent = await CertificateStore.FindCaAsync(connection, null, tenantId, parent.CompanionId.Value, forUpdate: false, ct);
        }

        var first = await CreateOneAsync(tenantId, draft.Name, draft, draft.Algorithm, parent, companionId: null, actor, ct);
        if (first.Value is null || draft.ClassicAlgorithm is null)
        {
            return first;
        }

        var companion = await CreateOneAsync(tenantId, CompanionName(draft.Name), draft, draft.ClassicAlgorithm, companionParent ?? parent, first.Value.Id, actor, ct);
        if (companion.Value is null)
        {
            return companion;
        }

        await using (var connection = await db.OpenConnectionAsync(ct))
        await using (var link = new NpgsqlCommand("UPDATE mislata.certificate_authorities SET companion_id = @companion WHERE tenant_id = @tenant AND id = @id", connection))
        {
            link.Parameters.AddWithValue("companion", companion.Value.Id);
            link.Parameters.AddWithValue("tenant", tenantId);
            link.Parameters.AddWithValue("id", first.Value.Id);
            await link.ExecuteNonQueryAsync(ct);
        }

        return CertificateOutcome<CertificateAuthority>.Ok(first.Value with { CompanionId = companion.Value.Id });
    }

    public async Task<CertificateOutcome<IssueResult>> IssueAsync(Guid tenantId, IssueDraft draft, RequestActor actor, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(draft);
        CertificateAuthority? ca, companion = null;
        await using (var connection = await db.OpenConnectionAsync(ct))
        {
            ca = await CertificateStore.FindCaAsync(connection, null, tenantId, draft.CaId, forUpdate: false, ct);
            if (ca is null)
            {
                return CertificateOutcome<IssueResult>.Fail(CertificateError.NotFound);
            }

            if (draft.Pair)
            {
                if (ca.CompanionId is null)
                {
                    return CertificateOutcome<IssueResult>.Fail(CertificateError.NoCompanion);
                }

                companion = await CertificateStore.FindCaAsync(connection, null, tenantId, ca.CompanionId.Value, forUpdate: false, ct);
            }

            if (await CertificateStore.CountAsync(connection, null, "certificates", tenantId, ct) + (draft.Pair ? 2 : 1) > CertificateLimits.MaxCertificatesPerTenant)
            {
                return CertificateOutcome<IssueResult>.Fail(CertificateError.QuotaExceeded);
            }
        }

        var pairId = draft.Pair ? Guid.CreateVersion7(time.GetUtcNow()) : (Guid?)null;
        var issued = await IssueOneAsync(tenantId, ca, draft, draft.KeyAlgorithm, pairId, actor, ct);
        if (issued.Value is null || companion is null)
        {
            return issued;
        }

        var second = await IssueOneAsync(tenantId, companion, draft with { Csr = null }, draft.CompanionKeyAlgorithm ?? Info(companion.Algorithm), pairId, actor, ct);
        return second.Value is null ? second : CertificateOutcome<IssueResult>.Ok(issued.Value with { Companion = second.Value });
    }

    public async Task<CertificateOutcome<IssuedCertificate>> RevokeAsync(Guid tenantId, Guid certificateId, string reason, RequestActor actor, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(actor);
        var now = X509Writer.Truncate(time.GetUtcNow());
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using (var update = new NpgsqlCommand(
            "UPDATE mislata.certificates SET revoked_at = @now, revocation_reason = @reason WHERE tenant_id = @tenant AND id = @id AND revoked_at IS NULL", connection, tx))
        {
            update.Parameters.AddWithValue("now", now);
            update.Parameters.AddWithValue("reason", reason);
            update.Parameters.AddWithValue("tenant", tenantId);
            update.Parameters.AddWithValue("id", certificateId);
            if (await update.ExecuteNonQueryAsync(ct) == 0)
            {
                var existing = await CertificateStore.FindCertificateAsync(connection, tx, tenantId, certificateId, ct);
                return CertificateOutcome<IssuedCertificate>.Fail(existing is null ? CertificateError.NotFound : CertificateError.AlreadyRevoked);
            }
        }

        var certificate = (await CertificateStore.FindCertificateAsync(connection, tx, tenantId, certificateId, ct))!;

        // The cached CRL no longer lists every revoked certificate: the next GET signs a new one.
        await using (var drop = new NpgsqlCommand("DELETE FROM mislata.certificate_crls WHERE tenant_id = @tenant AND ca_id = @ca", connection, tx))
        {
            drop.Parameters.AddWithValue("tenant", tenantId);
            drop.Parameters.AddWithValue("ca", certificate.CaId);
            await drop.ExecuteNonQueryAsync(ct);
        }

        await audit.RecordAsync(actor.Event(tenantId, "certificate.revoke", "certificate", certificateId.ToString(), details: new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["caId"] = certificate.CaId.ToString(),
            ["serialNumber"] = certificate.SerialNumber,
            ["profile"] = certificate.Profile,
            ["reason"] = reason,
        }), ct);
        await tx.CommitAsync(ct);
        return CertificateOutcome<IssuedCertificate>.Ok(certificate);
    }

    /// <summary>
    /// The CA's current CRL (DER): the cached one while it is in the first half of its validity and no revocation happened
    /// since (a revocation drops the cache), otherwise a new one with the next cRLNumber, signed under the CA's row lock so
    /// two replicas never sign two CRLs of one number.
    /// </summary>
    public async Task<CertificateOutcome<byte[]>> CrlAsync(Guid tenantId, Guid caId, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        var now = X509Writer.Truncate(time.GetUtcNow());
        var cached = await CachedCrlAsync(connection, null, tenantId, caId, now, ct);
        if (cached is not null)
        {
            return CertificateOutcome<byte[]>.Ok(cached);
        }

        await using var tx = await connection.BeginTransactionAsync(ct);
        var ca = await CertificateStore.FindCaAsync(connection, tx, tenantId, caId, forUpdate: true, ct);
        if (ca is null)
        {
            return CertificateOutcome<byte[]>.Fail(CertificateError.NotFound);
        }

        cached = await CachedCrlAsync(connection, tx, tenantId, caId, now, ct);
        if (cached is not null)
        {
            return CertificateOutcome<byte[]>.Ok(cached);
        }

        var revoked = new List<RevokedEntry>();
        await using (var list = new NpgsqlCommand(
            "SELECT serial_number, revoked_at, revocation_reason FROM mislata.certificates WHERE tenant_id = @tenant AND ca_id = @ca AND revoked_at IS NOT NULL ORDER BY revoked_at, serial_number",
            connection, tx))
        {
            list.Parameters.AddWithValue("tenant", tenantId);
            list.Parameters.AddWithValue("ca", caId);
            await using var reader = await list.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var reason = CertificateRules.RevocationReasons.GetValueOrDefault(reader.GetString(2));
                revoked.Add(new RevokedEntry(Convert.FromHexString(reader.GetString(0)), reader.GetFieldValue<DateTimeOffset>(1), reason == 0 ? null : reason));
            }
        }

        long number;
        await using (var next = new NpgsqlCommand(
            "UPDATE mislata.certificate_authorities SET crl_number = crl_number + 1 WHERE tenant_id = @tenant AND id = @id RETURNING crl_number", connection, tx))
        {
            next.Parameters.AddWithValue("tenant", tenantId);
            next.Parameters.AddWithValue("id", caId);
            number = (long)(await next.ExecuteScalarAsync(ct))!;
        }

        var nextUpdate = now + CertificateLimits.CrlValidity;
        var tbs = X509Writer.TbsCertList(new CrlFields(ca.Algorithm, ca.SubjectName, ca.KeyIdentifier, now, nextUpdate, number, revoked));
        var (signature, error) = await signer.SignAsync(tenantId, ca.KeyId, ca.KeyVersion, tbs, ct);
        if (signature is null)
        {
            return CertificateOutcome<byte[]>.Fail(Map(error));
        }

        var der = X509Writer.Signed(tbs, ca.Algorithm, signature);
        await using (var store = new NpgsqlCommand(
            "INSERT INTO mislata.certificate_crls (ca_id, tenant_id, crl_number, this_update, next_update, crl_der) VALUES (@ca, @tenant, @number, @this, @next, @der) " +
            "ON CONFLICT (ca_id) DO UPDATE SET crl_number = EXCLUDED.crl_number, this_update = EXCLUDED.this_update, next_update = EXCLUDED.next_update, crl_der = EXCLUDED.crl_der",
            connection, tx))
        {
            store.Parameters.AddWithValue("ca", caId);
            store.Parameters.AddWithValue("tenant", tenantId);
            store.Parameters.AddWithValue("number", number);
            store.Parameters.AddWithValue("this", now);
            store.Parameters.AddWithValue("next", nextUpdate);
            store.Parameters.AddWithValue("der", der);
            await store.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
        return CertificateOutcome<byte[]>.Ok(der);
    }

    public async Task<CertificateAuthority?> FindAsync(Guid tenantId, Guid id, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        return await CertificateStore.FindCaAsync(connection, null, tenantId, id, forUpdate: false, ct);
    }

    public async Task<List<CertificateAuthority>> ListAsync(Guid tenantId, Guid? after, int take, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        return await CertificateStore.ListCasAsync(connection, tenantId, after, take, ct);
    }

    public async Task<IssuedCertificate?> FindCertificateAsync(Guid tenantId, Guid id, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        return await CertificateStore.FindCertificateAsync(connection, null, tenantId, id, ct);
    }

    public async Task<List<IssuedCertificate>> ListCertificatesAsync(Guid tenantId, Guid? caId, Guid? after, int take, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        return await CertificateStore.ListCertificatesAsync(connection, tenantId, caId, after, take, ct);
    }

    /// <summary>PEM of the CA's certificate and of each issuer above it, up to and including the root.</summary>
    public async Task<string> ChainPemAsync(Guid tenantId, CertificateAuthority ca, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ca);
        await using var connection = await db.OpenConnectionAsync(ct);
        var pem = new System.Text.StringBuilder(Pem(ca.CertificateDer));
        var current = ca;
        for (var depth = 0; current.ParentId is { } parentId && depth < MaxChainDepth; depth++)
        {
            current = await CertificateStore.FindCaAsync(connection, null, tenantId, parentId, forUpdate: false, ct);
            if (current is null)
            {
                break;
            }

            pem.Append(Pem(current.CertificateDer));
        }

        return pem.ToString();
    }

    public static string Pem(byte[] certificateDer) => PemEncodingCertificate(certificateDer);

    private static string PemEncodingCertificate(byte[] der) => System.Security.Cryptography.PemEncoding.WriteString("CERTIFICATE", der) + "\n";

    private static string CompanionName(string name) => name + " (classic)";

    private static AlgorithmInfo Info(string algorithm) => AlgorithmRegistry.Default.Get(algorithm).Info;

    private static CertificateError Map(CaSignError error) => error switch
    {
        CaSignError.EntropyUnavailable => CertificateError.EntropyUnavailable,
        CaSignError.KeyNotFound => CertificateError.NotFound,
        _ => CertificateError.KeyStateInvalid,
    };

    private async Task<CertificateOutcome<CertificateAuthority>> CreateOneAsync(
        Guid tenantId, string name, CaDraft draft, AlgorithmInfo algorithm, CertificateAuthority? parent, Guid? companionId, RequestActor actor, CancellationToken ct)
    {
        var now = X509Writer.Truncate(time.GetUtcNow());
        var notAfter = now.AddDays(draft.ValidityDays);
        int? pathLength = draft.PathLength;
        if (parent is not null)
        {
            var reason = CertificateRules.CheckPathLength(draft.PathLength, parent.PathLength, hasParent: true, out pathLength);
            if (reason is not null)
            {
                return CertificateOutcome<CertificateAuthority>.Invalid("pathLength", reason);
            }

            if (notAfter > parent.NotAfter)
            {
                return CertificateOutcome<CertificateAuthority>.Invalid("validityDays", "would outlive the parent CA's certificate.");
            }

            // A parent whose key cannot sign refuses before a key is created for the child.
            var check = await signer.CheckAsync(tenantId, parent.KeyId, parent.KeyVersion, ct);
            if (check != CaSignError.None)
            {
                return CertificateOutcome<CertificateAuthority>.Fail(Map(check));
            }
        }

        var id = Guid.CreateVersion7(now);
        var (key, keyError) = await keys.CreateAsync(tenantId, new KeyDraft(
            $"ca-{id:N}", algorithm, KeyType.Signing, $"Key of the X.509 CA {Clip(name)} ({id:D}); signs only through the CA.", ["x509-ca"], null, false), actor, ct);
        if (key is null)
        {
            return CertificateOutcome<CertificateAuthority>.Fail(keyError == KeyError.QuotaExceeded ? CertificateError.KeyQuotaExceeded : CertificateError.KeyStateInvalid);
        }

        var publicKey = Mislata.Crypto.Algorithms.PublicKey.FromRaw(algorithm.Name, KeyType.Signing, key.Version(1)!.PublicKey!);
        var spki = PublicKeyExporter.ExportSpki(publicKey);
        var ski = X509Writer.KeyIdentifier(spki);
        var serial = X509Writer.NewSerialNumber(Random);
        var fields = new CertificateFields(serial, parent?.Algorithm ?? algorithm.Name, parent?.SubjectName ?? draft.Subject.Der, now - CertificateLimits.Backdate, notAfter,
            draft.Subject.Der, spki,
            [
                X509Writer.BasicConstraints(true, pathLength),
                X509Writer.KeyUsage(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign),
                X509Writer.SubjectKeyIdentifier(ski),
                X509Writer.AuthorityKeyIdentifier(parent?.KeyIdentifier ?? ski),
            ]);
        var tbs = X509Writer.TbsCertificate(fields);
        var (signature, signError) = await signer.SignAsync(tenantId, parent?.KeyId ?? key.Id, parent?.KeyVersion ?? 1, tbs, ct);
        if (signature is null)
        {
            return CertificateOutcome<CertificateAuthority>.Fail(Map(signError));
        }

        var ca = new CertificateAuthority(id, tenantId, name, algorithm.Name, key.Id, 1, parent?.Id, pathLength, draft.Subject.Text, draft.Subject.Der, ski,
            X509Writer.Signed(tbs, fields.SignatureAlgorithm, signature), Convert.ToHexString(serial).ToLowerInvariant(), fields.NotBefore, notAfter,
            draft.MaxValidityDays, draft.AllowedDomains, companionId, now);
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        if (await CertificateStore.CaNameTakenAsync(connection, tx, tenantId, name, ct))
        {
            return CertificateOutcome<CertificateAuthority>.Fail(CertificateError.NameTaken);
        }

        await CertificateStore.InsertCaAsync(connection, tx, ca, actor.ActorId, ct);
        await audit.RecordAsync(actor.Event(tenantId, "ca.create", "ca", id.ToString(), details: new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["algorithm"] = algorithm.Name,
            ["keyId"] = key.Id.ToString(),
            ["parentId"] = parent?.Id.ToString() ?? string.Empty,
            ["serialNumber"] = ca.SerialNumber,
            ["companionOf"] = companionId?.ToString() ?? string.Empty,
        }), ct);
        await tx.CommitAsync(ct);
        return CertificateOutcome<CertificateAuthority>.Ok(ca);
    }

    private async Task<CertificateOutcome<IssueResult>> IssueOneAsync(
        Guid tenantId, CertificateAuthority ca, IssueDraft draft, AlgorithmInfo? keyAlgorithm, Guid? pairId, RequestActor actor, CancellationToken ct)
    {
        var sanProblem = CertificateRules.CheckSans(draft.Sans, draft.Profile, ca.AllowedDomains, out var sans);
        if (sanProblem is not null)
        {
            return CertificateOutcome<IssueResult>.Invalid("sans", sanProblem);
        }

        var now = X509Writer.Truncate(time.GetUtcNow());
        var validityProblem = CertificateRules.CheckLeafValidity(draft.ValidityDays, ca.MaxValidityDays, now, ca.NotAfter, out var notAfter);
        if (validityProblem is not null)
        {
            return CertificateOutcome<IssueResult>.Invalid("validityDays", validityProblem);
        }

        byte[] spki, subjectName;
        string subject, keyName;
        string? privateKeyPem = null;
        if (draft.Csr is { } csr)
        {
            spki = csr.SubjectPublicKeyInfo;
            keyName = csr.KeyAlgorithm;
            (subjectName, subject) = draft.Subject is { } s ? (s.Der, s.Text) : (csr.SubjectName, DistinguishedNames.Format(csr.SubjectName) ?? string.Empty);
        }
        else
        {
            keyAlgorithm ??= Info(ca.Algorithm);
            using var generated = AlgorithmRegistry.Default.Generate(keyAlgorithm.Name, KeyType.Signing, random);
            spki = PublicKeyExporter.ExportSpki(generated.PublicKey!);
            keyName = keyAlgorithm.Name;
            privateKeyPem = GeneratedKeys.Pkcs8Pem(generated);
            (subjectName, subject) = (draft.Subject!.Der, draft.Subject.Text);
        }

        var usage = X509KeyUsageFlags.DigitalSignature;
        if (draft.Profile == CertificateProfile.Server && keyName.StartsWith("RSA-", StringComparison.Ordinal))
        {
            usage |= X509KeyUsageFlags.KeyEncipherment;
        }

        var extensions = new List<CertificateExtension>
        {
            X509Writer.BasicConstraints(false, null),
            X509Writer.KeyUsage(usage),
            X509Writer.ExtendedKeyUsage(draft.Profile switch
            {
                CertificateProfile.Server => X509Writer.KeyUsageServerAuth,
                CertificateProfile.Client => X509Writer.KeyUsageClientAuth,
                _ => X509Writer.KeyUsageCodeSigning,
            }),
            X509Writer.SubjectKeyIdentifier(X509Writer.KeyIdentifier(spki)),
            X509Writer.AuthorityKeyIdentifier(ca.KeyIdentifier),
        };
        if (sans.Count > 0)
        {
            extensions.Add(X509Writer.SubjectAltNames(
                sans.Where(n => n.Kind == SanKind.Dns).Select(n => n.Value), sans.Where(n => n.Kind == SanKind.Ip).Select(n => IPAddress.Parse(n.Value)),
                sans.Where(n => n.Kind == SanKind.Email).Select(n => n.Value), sans.Where(n => n.Kind == SanKind.Uri).Select(n => n.Value),
                critical: subjectName.Length <= 2));
        }

        var chain = await ChainPemAsync(tenantId, ca, ct);
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var serial = X509Writer.NewSerialNumber(Random);
            var tbs = X509Writer.TbsCertificate(new CertificateFields(serial, ca.Algorithm, ca.SubjectName, now - CertificateLimits.Backdate, notAfter, subjectName, spki, extensions));
            var (signature, error) = await signer.SignAsync(tenantId, ca.KeyId, ca.KeyVersion, tbs, ct);
            if (signature is null)
            {
                return CertificateOutcome<IssueResult>.Fail(Map(error));
            }

            var certificate = new IssuedCertificate(Guid.CreateVersion7(now), tenantId, ca.Id, Convert.ToHexString(serial).ToLowerInvariant(), subject,
                CertificateRules.ProfileName(draft.Profile), [.. sans.Select(n => n.ToString())], keyName, privateKeyPem is not null, now - CertificateLimits.Backdate,
                notAfter, X509Writer.Signed(tbs, ca.Algorithm, signature), null, null, pairId, now);
            await using var connection = await db.OpenConnectionAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            if (!await CertificateStore.TryInsertCertificateAsync(connection, tx, certificate, actor.ActorId, ct))
            {
                // A serial this CA already used (2^-120 per pair): draw another.
                continue;
            }

            await audit.RecordAsync(actor.Event(tenantId, "certificate.issue", "certificate", certificate.Id.ToString(), details: new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["caId"] = ca.Id.ToString(),
                ["serialNumber"] = certificate.SerialNumber,
                ["profile"] = certificate.Profile,
                ["keyAlgorithm"] = keyName,
                ["keyGenerated"] = privateKeyPem is null ? "false" : "true",
                ["validityDays"] = draft.ValidityDays!.Value.ToString(CultureInfo.InvariantCulture),
            }), ct);
            await tx.CommitAsync(ct);
            return CertificateOutcome<IssueResult>.Ok(new IssueResult(certificate, Pem(certificate.CertificateDer) + chain, privateKeyPem, null));
        }

        throw new InvalidOperationException("Three random serial numbers collided.");
    }

    private static async Task<byte[]?> CachedCrlAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, Guid tenantId, Guid caId, DateTimeOffset now, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(
            "SELECT crl_der, this_update, next_update FROM mislata.certificate_crls WHERE tenant_id = @tenant AND ca_id = @ca", connection, tx);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("ca", caId);
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }

        var thisUpdate = reader.GetFieldValue<DateTimeOffset>(1);
        var nextUpdate = reader.GetFieldValue<DateTimeOffset>(2);
        return now < thisUpdate + ((nextUpdate - thisUpdate) / 2) ? (byte[])reader[0] : null;
    }

    private byte[] Random(int length)
    {
        var bytes = new byte[length];
        random.Fill(bytes);
        return bytes;
    }

    private static string Clip(string name) => name.Length <= 60 ? name : name[..60] + "…";
}
