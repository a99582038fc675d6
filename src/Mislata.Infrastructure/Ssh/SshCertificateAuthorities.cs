using System.Buffers.Binary;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Encryption;
using Mislata.Core.Keys;
using Mislata.Core.Ssh;
using Mislata.Crypto;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.Persistence;
using Npgsql;

namespace Mislata.Infrastructure.Ssh;

/// <summary>Why a CA could not be created or a certificate issued (the api maps each to a problem).</summary>
public enum SshError
{
    None = 0,

    /// <summary>No CA of this id for the tenant (another tenant's included): <c>404 not_found</c>.</summary>
    NotFound,

    /// <summary>The CA's key cannot sign now (disabled, pending deletion, destroyed): <c>409 key_state_invalid</c>.</summary>
    KeyStateInvalid,

    /// <summary>The signing key refused for another reason of the operations (<see cref="SshIssueResult.OperationError"/>).</summary>
    Operation,

    /// <summary>A serial collided twice in a row (never in practice: 53 random bits per CA): <c>409 conflict</c>.</summary>
    Concurrent,
}

/// <summary>A CA as the api shows it: the row, its SSH public key (the current version of its key) and that version.</summary>
public sealed record SshCaView(SshCertificateAuthority Ca, SshPublicKey? PublicKey, int? KeyVersion, KeyState KeyState);

public sealed record SshIssueResult(SshIssuedCertificate? Record, string? Certificate, SshError Error, OperationError OperationError = OperationError.None, string? Detail = null);

/// <summary>
/// SSH certificate authorities of a tenant (API.md <c>/ssh/ca</c>, <c>/ssh/certificates</c>). A CA's key is created by
/// <see cref="KeyAdministration"/> in the same transaction as the CA row; certificates are signed by
/// <see cref="CryptoOperations.SignEmbeddingKeyAsync"/> (the key's material never leaves the key store) and recorded
/// with an audit event (serial, key id, principals, fingerprints: no key material) before the answer leaves.
/// </summary>
public sealed class SshCertificateAuthorities(
    MislataDbContext db, KeyAdministration keys, CryptoOperations operations, IRandomSource random, IAuditLog audit, TimeProvider time)
{
    /// <summary>Serials are random below 2^53: unique per CA in practice (checked by an index) and exact in every JSON reader.</summary>
    public const ulong SerialLimit = 1UL << 53;

    /// <summary>The name of a CA's key among the tenant's keys.</summary>
    public static string KeyNameOf(string caName) => "ssh-ca-" + caName;

    /// <summary>The comment of the CA's public key line.</summary>
    public static string CommentOf(string caName) => "mislata-ssh-ca:" + caName;

    public async Task<(SshCaView? Ca, KeyError Error)> CreateAsync(
        Guid tenantId, string name, AlgorithmInfo algorithm, SshCaPolicy policy, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        ArgumentNullException.ThrowIfNull(actor);
        if (await db.Set<SshCertificateAuthority>().AnyAsync(c => c.TenantId == tenantId && c.Name == name, cancellationToken))
        {
            return (null, KeyError.NameTaken);
        }

        SshCertificateAuthority? ca = null;
        var draft = new KeyDraft(KeyNameOf(name), algorithm, KeyType.Signing, $"Key of the SSH CA {name}", ["ssh-ca"], null, false);
        var (key, error) = await keys.CreateAsync(tenantId, draft, actor, async created =>
        {
            var now = time.GetUtcNow();
            ca = SshCertificateAuthority.Create(Guid.CreateVersion7(now), tenantId, name, algorithm.Name, created.Id, policy, actor.ActorId, now);
            db.Add(ca);
            var publicKey = SshPublicKey.FromMislata(PublicKey.FromRaw(algorithm.Name, KeyType.Signing, created.Versions[0].PublicKey));
            await audit.RecordAsync(actor.Event(tenantId, "ssh.ca.create", "ssh_ca", ca.Id.ToString(), details: new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["name"] = name,
                ["algorithm"] = algorithm.Name,
                ["keyId"] = created.Id.ToString(),
                ["fingerprint"] = publicKey.Fingerprint,
            }), cancellationToken);
        }, cancellationToken);
        if (key is null)
        {
            return (null, error);
        }

        return (new SshCaView(ca!, SshPublicKey.FromMislata(PublicKey.FromRaw(key.Algorithm, KeyType.Signing, key.Versions[0].PublicKey)), 1, key.State), KeyError.None);
    }

    public async Task<SshCaView?> FindAsync(Guid tenantId, Guid id, CancellationToken cancellationToken) =>
        (await ViewsAsync(db.Set<SshCertificateAuthority>().AsNoTracking().Where(c => c.TenantId == tenantId && c.Id == id), cancellationToken)).SingleOrDefault();

    /// <summary>One page of the tenant's CAs in id order after <paramref name="after"/>.</summary>
    public Task<List<SshCaView>> ListAsync(Guid tenantId, Guid? after, int take, CancellationToken cancellationToken)
    {
        var query = db.Set<SshCertificateAuthority>().AsNoTracking().Where(c => c.TenantId == tenantId);
        if (after is { } a)
        {
            query = query.Where(c => c.Id > a);
        }

        return ViewsAsync(query.OrderBy(c => c.Id).Take(take), cancellationToken);
    }

    private async Task<List<SshCaView>> ViewsAsync(IQueryable<SshCertificateAuthority> query, CancellationToken cancellationToken)
    {
        var rows = await (from c in query
                          join k in db.Set<Key>().AsNoTracking() on c.KeyId equals k.Id
                          select new { Ca = c, k.State, k.CurrentVersion, Public = k.Versions.Where(v => v.Version == k.CurrentVersion).Select(v => v.PublicKey).FirstOrDefault() })
            .ToListAsync(cancellationToken);
        return [.. rows.OrderBy(r => r.Ca.Id).Select(r => new SshCaView(r.Ca,
            r.Public is null || r.State == KeyState.Destroyed ? null : SshPublicKey.FromMislata(PublicKey.FromRaw(r.Ca.Algorithm, KeyType.Signing, r.Public)),
            r.CurrentVersion, r.State))];
    }

    /// <summary>
    /// Issues a certificate for a checked order: a random nonce and serial, the window of <see cref="SshCertificateRules.Window"/>,
    /// the CA key's signature, then the record and its audit event in one transaction.
    /// </summary>
    public async Task<SshIssueResult> IssueAsync(Guid tenantId, Guid caId, SshCertificateOrder order, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(order);
        ArgumentNullException.ThrowIfNull(actor);
        var ca = await db.Set<SshCertificateAuthority>().AsNoTracking().SingleOrDefaultAsync(c => c.TenantId == tenantId && c.Id == caId, cancellationToken);
        if (ca is null)
        {
            return new SshIssueResult(null, null, SshError.NotFound);
        }

        for (var attempt = 0; ; attempt++)
        {
            var result = await TryIssueAsync(ca, order, actor, cancellationToken);
            if (result.Error != SshError.Concurrent || attempt == 1)
            {
                return result;
            }
        }
    }

    private async Task<SshIssueResult> TryIssueAsync(SshCertificateAuthority ca, SshCertificateOrder order, RequestActor actor, CancellationToken cancellationToken)
    {
        var nonce = new byte[32];
        var serialBytes = new byte[8];
        try
        {
            random.Fill(nonce);
            random.Fill(serialBytes);
        }
        catch (CryptoException e) when (e.Error == CryptoError.EntropyUnavailable)
        {
            return new SshIssueResult(null, null, SshError.Operation, OperationError.EntropyUnavailable);
        }

        var serial = (BinaryPrimitives.ReadUInt64BigEndian(serialBytes) % (SerialLimit - 1)) + 1;
        var now = time.GetUtcNow();
        var (after, before) = SshCertificateRules.Window(now, order.ValiditySeconds);
        var fields = new SshCertificateFields(order.Type, order.SubjectKey, serial, order.KeyId, order.Principals, after, before, order.CriticalOptions, order.Extensions);
        SshPublicKey? caKey = null;
        var signed = await operations.SignEmbeddingKeyAsync(ca.TenantId, ca.KeyId, publicKey =>
        {
            caKey = SshPublicKey.FromMislata(publicKey);
            return SshCertificateFormat.ToBeSigned(fields, nonce, caKey);
        }, actor, cancellationToken);
        if (!signed.Succeeded)
        {
            return signed.Error switch
            {
                OperationError.NotFound => new SshIssueResult(null, null, SshError.NotFound),
                OperationError.StateInvalid => new SshIssueResult(null, null, SshError.KeyStateInvalid),
                _ => new SshIssueResult(null, null, SshError.Operation, signed.Error, signed.Detail),
            };
        }

        var blob = SshCertificateFormat.Assemble(signed.Value!.Message, SshCertificateFormat.SignatureBlob(caKey!, signed.Value.Signature));
        var record = SshIssuedCertificate.Record(Guid.CreateVersion7(now), ca, fields, caKey!.Fingerprint, signed.Value.KeyVersion, actor.ActorId, now);
        // The row first (a colliding serial is found before anything is audited), then the audit event, then the commit:
        // when the audit log cannot record, nothing is stored and no certificate leaves.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        db.Add(record);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            db.Entry(record).State = EntityState.Detached;
            return new SshIssueResult(null, null, SshError.Concurrent);
        }

        await audit.RecordAsync(actor.Event(ca.TenantId, "ssh.certificate.issue", "ssh_certificate", record.Id.ToString(), details: new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["caId"] = ca.Id.ToString(),
            ["serial"] = serial.ToString(CultureInfo.InvariantCulture),
            ["type"] = order.Type == SshCertificateType.User ? "user" : "host",
            ["keyId"] = order.KeyId,
            ["principals"] = string.Join(',', order.Principals),
            ["validAfter"] = after.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["validBefore"] = before.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["subjectFingerprint"] = record.SubjectFingerprint,
            ["caFingerprint"] = record.CaFingerprint,
            ["keyVersion"] = signed.Value.KeyVersion.ToString(CultureInfo.InvariantCulture),
        }), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new SshIssueResult(record, SshCertificateFormat.ToLine(order.SubjectKey.Type, blob, order.KeyId), SshError.None);
    }

    /// <summary>One page of the tenant's issued certificates (newest ids last), optionally of one CA.</summary>
    public Task<List<SshIssuedCertificate>> ListCertificatesAsync(Guid tenantId, Guid? caId, Guid? after, int take, CancellationToken cancellationToken)
    {
        var query = db.Set<SshIssuedCertificate>().AsNoTracking().Where(c => c.TenantId == tenantId);
        if (caId is { } ca)
        {
            query = query.Where(c => c.CaId == ca);
        }

        if (after is { } a)
        {
            query = query.Where(c => c.Id > a);
        }

        return query.OrderBy(c => c.Id).Take(take).ToListAsync(cancellationToken);
    }

    public Task<SshIssuedCertificate?> FindCertificateAsync(Guid tenantId, Guid id, CancellationToken cancellationToken) =>
        db.Set<SshIssuedCertificate>().AsNoTracking().SingleOrDefaultAsync(c => c.TenantId == tenantId && c.Id == id, cancellationToken);
}
