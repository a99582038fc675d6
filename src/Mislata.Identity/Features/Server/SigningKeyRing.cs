using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.IdentityModel.Tokens;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Authentication;
using Mislata.Infrastructure.Identity;
using OpenIddict.Server;
using OpenIddict.Validation;

namespace Mislata.Identity.Features.Server;

/// <summary>
/// The keys that sign identity's tokens, one chain per algorithm: ES256 and ML-DSA-65 (an application chooses which
/// signs its tokens: <see cref="TokenSigning"/>). Generated once, stored encrypted in <c>identity.signing_keys</c>
/// (AES-256-GCM under a platform-key derived key; the <c>master_key_id</c> column names the platform key), loaded by
/// every replica at start. Rotation: when the signing key
/// of an algorithm is older than <see cref="RotationPeriod"/>, a successor is created that is published at once but signs only from
/// <see cref="PublishAhead"/> later; the predecessor stays published for <see cref="Retention"/> after that.
/// Creation happens under a PostgreSQL advisory lock, so replicas starting together agree on one key.
/// </summary>
internal sealed partial class SigningKeyRing(IServiceProvider services, PlatformKey platformKey, TimeProvider time, ILogger<SigningKeyRing> logger)
    : IOptionsChangeTokenSource<OpenIddictServerOptions>, IOptionsChangeTokenSource<OpenIddictValidationOptions>
{
    private CancellationTokenSource _changed = new();
    private string _fingerprint = string.Empty;

    /// <summary>OpenIddict's options are rebuilt from <see cref="Credentials"/> when the published set changes.</summary>
    public string? Name => Options.DefaultName;

    public IChangeToken GetChangeToken() => new CancellationChangeToken(Volatile.Read(ref _changed).Token);

    /// <summary>The key ids of one algorithm in signing order: the first one signs.</summary>
    public IReadOnlyList<string> KeyIds(string algorithm) => [.. Credentials.Where(c => c.Algorithm == algorithm).Select(c => c.Key.KeyId)];

    /// <summary>The credentials that sign with <paramref name="algorithm"/> now.</summary>
    public SigningCredentials Active(string algorithm) => Credentials.First(c => c.Algorithm == algorithm);

    /// <summary>The algorithms identity signs with, each with its own key chain; the first one signs what no application chose.</summary>
    public static readonly IReadOnlyList<string> Algorithms = [SecurityAlgorithms.EcdsaSha256, MlDsaJose.Algorithm];

    internal const string Purpose = "identity-signing-keys";

    /// <summary>Advisory lock key: ASCII "MISLSIGN".</summary>
    private const long AdvisoryLockKey = 0x4D49534C5349474E;

    internal static readonly TimeSpan RotationPeriod = TimeSpan.FromDays(90);
    internal static readonly TimeSpan PublishAhead = TimeSpan.FromHours(24);
    internal static readonly TimeSpan Retention = TimeSpan.FromDays(2);

    private IReadOnlyList<SigningCredentials>? _credentials;

    /// <summary>Signing credentials, the one to sign with first, then the others still published.</summary>
    public IReadOnlyList<SigningCredentials> Credentials =>
        _credentials ?? throw new InvalidOperationException("The signing keys are not loaded yet.");

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock({AdvisoryLockKey})", cancellationToken);

        var now = time.GetUtcNow();
        var all = await db.SigningKeys.Where(k => k.ExpiresAt == null || k.ExpiresAt > now).ToListAsync(cancellationToken);
        var ordered = new List<SigningKeyRecord>();
        var others = new List<SigningKeyRecord>();
        foreach (var algorithm in Algorithms)
        {
            var keys = all.Where(k => k.Algorithm == algorithm).ToList();
            var active = keys.Where(k => k.ActivatesAt <= now).OrderByDescending(k => k.ActivatesAt).FirstOrDefault();
            var pending = keys.Where(k => k.ActivatesAt > now).OrderBy(k => k.ActivatesAt).FirstOrDefault();
            if (active is null)
            {
                active = Create(algorithm, now, now);
                db.SigningKeys.Add(active);
                keys.Add(active);
                LogCreated(logger, active.KeyId, algorithm, "no signing key yet");
            }
            else if (pending is null && now - active.ActivatesAt >= RotationPeriod)
            {
                pending = Create(algorithm, now, now + PublishAhead);
                db.SigningKeys.Add(pending);
                keys.Add(pending);
                active.ExpiresAt = pending.ActivatesAt + Retention;
                LogCreated(logger, pending.KeyId, algorithm, "rotation due");
            }

            // Predecessors of the active key retire once every token they signed has expired.
            foreach (var older in keys.Where(k => k.ActivatesAt < active.ActivatesAt && k.ExpiresAt is null))
            {
                older.ExpiresAt = active.ActivatesAt + Retention;
            }

            ordered.Add(active);
            others.AddRange(keys.Where(k => k != active));
        }

        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);

        // The active key of each algorithm first (the ES256 one first of all: OpenIddict signs with the first
        // credentials unless an application chose otherwise), then the others still published.
        ordered.AddRange(others.OrderByDescending(k => k.ActivatesAt));
        var fingerprint = string.Join(',', ordered.Select(k => k.KeyId));
        if (fingerprint == _fingerprint)
        {
            return;
        }

        _credentials = [.. ordered.Select(Open)];
        _fingerprint = fingerprint;
        LogLoaded(logger, string.Join(", ", ordered.Take(Algorithms.Count).Select(k => $"{k.KeyId} ({k.Algorithm})")), ordered.Count);

        // Tell the options monitors (server and validation) to rebuild with the new keys.
        var previous = Interlocked.Exchange(ref _changed, new CancellationTokenSource());
        await previous.CancelAsync();
        previous.Dispose();
    }

    [SuppressMessage("Reliability", "CA2000", Justification = "The key lives as long as the process: it is owned by the signing credentials.")]
    private SigningCredentials Open(SigningKeyRecord record)
    {
        if (!string.Equals(record.MasterKeyId, platformKey.Id, StringComparison.Ordinal))
        {
            throw new ServiceDefaults.StartupException($"signing key {record.KeyId} is encrypted under key {record.MasterKeyId}, which is not this installation's platform key ({platformKey.Id}).");
        }

        var key = platformKey;
        var blob = record.EncryptedPrivateKey;
        var plaintext = new byte[blob.Length - 12 - 16];
        Span<byte> derived = stackalloc byte[32];
        try
        {
            key.DeriveKey(Purpose, derived);
            using var aes = new AesGcm(derived, 16);
            aes.Decrypt(blob.AsSpan(0, 12), blob.AsSpan(12, plaintext.Length), blob.AsSpan(12 + plaintext.Length), plaintext, AssociatedData(record.Algorithm, record.KeyId, record.MasterKeyId));
            if (record.Algorithm == MlDsaJose.Algorithm)
            {
                var material = KeyMaterial.FromStorage(plaintext);
                var mldsa = new MlDsa65SecurityKey(material.PublicKey!, material, record.KeyId);
                // at_hash and c_hash of ID tokens signed with ML-DSA use SHA-256 (the draft defines no hash of its own).
                return new SigningCredentials(mldsa, MlDsaJose.Algorithm, SecurityAlgorithms.Sha256);
            }

            var ecdsa = ECDsa.Create();
            ecdsa.ImportPkcs8PrivateKey(plaintext, out _);
            return new SigningCredentials(new ECDsaSecurityKey(ecdsa) { KeyId = record.KeyId }, SecurityAlgorithms.EcdsaSha256);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(derived);
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private SigningKeyRecord Create(string algorithm, DateTimeOffset now, DateTimeOffset activatesAt)
    {
        var pkcs8 = NewPrivateKey(algorithm);
        var master = platformKey;
        var kid = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var blob = new byte[12 + pkcs8.Length + 16];
        Span<byte> derived = stackalloc byte[32];
        try
        {
            master.DeriveKey(Purpose, derived);
            RandomNumberGenerator.Fill(blob.AsSpan(0, 12));
            using var aes = new AesGcm(derived, 16);
            aes.Encrypt(blob.AsSpan(0, 12), pkcs8, blob.AsSpan(12, pkcs8.Length), blob.AsSpan(12 + pkcs8.Length), AssociatedData(algorithm, kid, master.Id));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(derived);
            CryptographicOperations.ZeroMemory(pkcs8);
        }

        return new SigningKeyRecord
        {
            Id = Guid.CreateVersion7(now),
            KeyId = kid,
            Algorithm = algorithm,
            MasterKeyId = master.Id,
            EncryptedPrivateKey = blob,
            CreatedAt = now,
            ActivatesAt = activatesAt,
        };
    }

    /// <summary>ES256: PKCS#8; ML-DSA-65: the key's storage form (its 32-byte seed and the algorithm).</summary>
    private static byte[] NewPrivateKey(string algorithm)
    {
        if (algorithm == MlDsaJose.Algorithm)
        {
            using var material = AlgorithmRegistry.Default.Generate(algorithm, KeyType.Signing, OsRandomSource.Instance);
            return material.ExportForStorage();
        }

        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return ecdsa.ExportPkcs8PrivateKey();
    }

    /// <summary>Binds the blob to its key id, platform key and (for any algorithm but the original ES256) its algorithm.</summary>
    private static byte[] AssociatedData(string algorithm, string kid, string masterKeyId) =>
        Encoding.ASCII.GetBytes(algorithm == SecurityAlgorithms.EcdsaSha256
            ? $"mislata/v1/identity-signing-key|{kid}|{masterKeyId}"
            : $"mislata/v1/identity-signing-key|{kid}|{masterKeyId}|{algorithm}");

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Created signing key {KeyId}, {Algorithm} ({Reason})")]
    private static partial void LogCreated(ILogger logger, string keyId, string algorithm, string reason);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "Signing with {KeyIds}; {Count} key(s) published")]
    private static partial void LogLoaded(ILogger logger, string keyIds, int count);
}

/// <summary>
/// Re-reads the key table every hour in every replica, so a rotation made by any of them (or due by the clock: a
/// successor signs from its activation time, a retired key leaves the JWKS) takes effect without a restart.
/// </summary>
internal sealed partial class SigningKeyRotation(SigningKeyRing ring, TimeProvider time, ILogger<SigningKeyRotation> logger) : BackgroundService
{
    internal static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await ring.LoadAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The keys in memory keep working; the next tick tries again.
                LogReloadFailed(logger, ex.GetType().Name);
            }
        }
    }

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Reloading the signing keys failed ({ErrorType}); keeping the current ones")]
    private static partial void LogReloadFailed(ILogger logger, string errorType);
}

/// <summary>Feeds the loaded keys to OpenIddict (options are built on first use, after <see cref="SigningKeyRing.LoadAsync"/>).</summary>
internal sealed class SigningKeyOptionsSetup(SigningKeyRing ring, PlatformKey platformKey) : IConfigureOptions<OpenIddictServerOptions>
{
    internal const string TokenEncryptionPurpose = "identity-token-encryption";

    public void Configure(OpenIddictServerOptions options)
    {
        foreach (var credentials in ring.Credentials)
        {
            options.SigningCredentials.Add(credentials);
        }

        // Authorization codes and refresh tokens are encrypted with a key derived from the platform key, so every
        // replica has it without storing it, and it outlives master-key rotations.
        options.EncryptionCredentials.Add(EncryptionCredentials(platformKey));
    }

    private static EncryptingCredentials EncryptionCredentials(PlatformKey master)
    {
        var bytes = new byte[32];
        master.DeriveKey(TokenEncryptionPurpose, bytes);
        var key = new SymmetricSecurityKey(bytes) { KeyId = "enc-" + master.Id };
        return new EncryptingCredentials(key, SecurityAlgorithms.Aes256KW, SecurityAlgorithms.Aes256CbcHmacSha512);
    }
}
