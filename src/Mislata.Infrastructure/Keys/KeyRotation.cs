using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Core.Keys;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Limits;
using Mislata.Infrastructure.Persistence;

namespace Mislata.Infrastructure.Keys;

/// <summary>
/// Automatic rotation, run by the worker: an enabled key gets a new current version when its rotation period has
/// passed (<c>nextRotationAt</c>, API.md <c>rotationPeriodDays</c>), and an AES-256-GCM key when its current version
/// has been used for <see cref="UsageThreshold"/> encryptions — three quarters of the 2^32 that random 96-bit nonces
/// allow (CRYPTO.md), leaving the last quarter for encryptions that replicas counted in memory but have not stored
/// yet. Each rotation is its own transaction, re-checked under the key's row lock and audited as the system with
/// its reason (<c>schedule</c> or <c>usage</c>).
/// </summary>
public sealed partial class KeyRotation(MislataDbContext db, KeyAdministration administration, TimeProvider time, ILogger<KeyRotation> logger)
{
    public const int Batch = 200;

    public const long UsageThreshold = InvocationLimits.AesGcmRandomNonce / 4 * 3;

    public const string ScheduleReason = "schedule";

    public const string UsageReason = "usage";

    /// <summary>Why <paramref name="key"/> is due for rotation at <paramref name="now"/>, or null when it is not.</summary>
    public static string? Reason(Key key, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.State != KeyState.Enabled)
        {
            return null;
        }

        if (key.NextRotationAt is { } next && next <= now)
        {
            return ScheduleReason;
        }

        return key.Algorithm == AlgorithmNames.Aes256Gcm && key.Version(key.CurrentVersion) is { InvocationCount: >= UsageThreshold }
            ? UsageReason
            : null;
    }

    /// <summary>
    /// Rotates up to <see cref="Batch"/> due keys of every tenant; returns how many were rotated and how many were
    /// found due (a key rotated meanwhile by its tenant, or disabled, is found but not rotated).
    /// </summary>
    public async Task<(int Rotated, int Due)> RotateDueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var due = await db.Set<Key>().AsNoTracking()
            .Where(k => k.State == KeyState.Enabled &&
                        ((k.NextRotationAt != null && k.NextRotationAt <= now) ||
                         (k.Algorithm == AlgorithmNames.Aes256Gcm &&
                          k.Versions.Any(v => v.Version == k.CurrentVersion && v.InvocationCount >= UsageThreshold))))
            .OrderBy(k => k.NextRotationAt).ThenBy(k => k.Id)
            .Select(k => new { k.TenantId, k.Id })
            .Take(Batch)
            .ToListAsync(cancellationToken);

        var rotated = 0;
        foreach (var key in due)
        {
            db.ChangeTracker.Clear();
            try
            {
                var (_, error) = await administration.RotateAsync(key.TenantId, key.Id, RequestActor.System, Reason, cancellationToken);
                if (error == KeyError.None)
                {
                    rotated++;
                }
            }
            catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or InvalidOperationException)
            {
                // One key whose tenant data key cannot be opened (a master key no longer configured) must not stop the
                // others; it is tried again on the next run and reported each time.
                LogRotationFailed(logger, ex, key.TenantId, key.Id);
            }
        }

        return (rotated, due.Count);
    }

    [LoggerMessage(EventId = 720, Level = LogLevel.Error, Message = "Key {KeyId} of tenant {TenantId} is due for rotation but could not be rotated")]
    private static partial void LogRotationFailed(ILogger logger, Exception exception, Guid tenantId, Guid keyId);
}
