using Microsoft.EntityFrameworkCore;
using Mislata.Core.Licensing;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Persistence;

namespace Mislata.Infrastructure.Licensing;

/// <summary>
/// This process's view of the installed licence. The licence text is loaded from PostgreSQL and its signatures checked
/// against <see cref="ILicenceTrustAnchors"/> when it changes; the state is evaluated against the clock on every call,
/// so grace and restriction begin on time in every replica without a message. A change of the installed licence (or
/// of its revocation) is announced on the access invalidation channel (<see cref="AccessInvalidation.Licence"/>): every
/// replica reloads within moments; <see cref="MaxAge"/> is the safety net for a lost message.
/// </summary>
public sealed partial class LicenceMonitor
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(1);

    /// <summary>After a failed reload the licence loaded before stands this long before the next try.</summary>
    public static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(10);

    private readonly IDbContextFactory<MislataDbContext> _dbs;
    private readonly ILicenceTrustAnchors _anchors;
    private readonly TimeProvider _time;
    private readonly ILogger<LicenceMonitor> _logger;
    private readonly SemaphoreSlim _reload = new(1, 1);
    private volatile Snapshot? _snapshot;
    private volatile bool _stale = true;
    private long _loads;

    public LicenceMonitor(IDbContextFactory<MislataDbContext> dbs, ILicenceTrustAnchors anchors, TimeProvider time, AccessInvalidation invalidation, ILogger<LicenceMonitor> logger)
    {
        ArgumentNullException.ThrowIfNull(invalidation);
        _dbs = dbs;
        _anchors = anchors;
        _time = time;
        _logger = logger;
        invalidation.Invalidated += message =>
        {
            if (message is AccessInvalidation.Licence or AccessInvalidation.All)
            {
                _stale = true;
            }
        };
    }

    /// <summary>The installed licence as loaded: its check (null = none installed), revocation and row.</summary>
    public sealed record Snapshot(LicenceCheck? Check, bool Revoked, InstalledLicence? Row, DateTimeOffset LoadedAt);

    /// <summary>The licence's state now. Reloads when told to or after <see cref="MaxAge"/>; when PostgreSQL does not answer, the last loaded licence stands.</summary>
    public async ValueTask<LicenceStatus> CurrentAsync(CancellationToken cancellationToken)
    {
        var snapshot = await SnapshotAsync(cancellationToken);
        return LicenceRules.Evaluate(snapshot.Check, snapshot.Revoked, _time.GetUtcNow());
    }

    public async ValueTask<Snapshot> SnapshotAsync(CancellationToken cancellationToken)
    {
        var snapshot = _snapshot;
        if (snapshot is not null && !_stale && _time.GetUtcNow() - snapshot.LoadedAt < MaxAge)
        {
            return snapshot;
        }

        // Requests that find the licence stale together wait for one load, not one each.
        return await LoadAsync(Interlocked.Read(ref _loads), keepOnFailure: true, cancellationToken);
    }

    /// <summary>Loads the installed licence now (at start, after a change, from the worker's check).</summary>
    public Task<Snapshot> ReloadAsync(CancellationToken cancellationToken) => LoadAsync(null, keepOnFailure: false, cancellationToken);

    /// <summary>Loads the licence, unless another caller loaded it since this one found it stale (load number <paramref name="seen"/>).</summary>
    private async Task<Snapshot> LoadAsync(long? seen, bool keepOnFailure, CancellationToken cancellationToken)
    {
        await _reload.WaitAsync(cancellationToken);
        try
        {
            if (seen is { } before && Interlocked.Read(ref _loads) != before && _snapshot is { } fresh)
            {
                return fresh;
            }

            _stale = false;
            await using var db = await _dbs.CreateDbContextAsync(cancellationToken);
            var row = await db.Set<InstalledLicence>().AsNoTracking().SingleOrDefaultAsync(cancellationToken);
            var previous = _snapshot;
            var check = row is null
                ? null
                : previous?.Row?.Document == row.Document && previous.Check is not null ? previous.Check : LicenceDocument.Verify(row.Document, _anchors);
            var snapshot = new Snapshot(check, row?.RevokedAt is not null, row, _time.GetUtcNow());
            _snapshot = snapshot;
            Interlocked.Increment(ref _loads);
            var state = LicenceRules.Evaluate(check, snapshot.Revoked, snapshot.LoadedAt).State;
            if (previous is null || LicenceRules.Evaluate(previous.Check, previous.Revoked, snapshot.LoadedAt).State != state || previous.Row?.LicenceId != row?.LicenceId)
            {
                LogLoaded(_logger, LicenceRules.Name(state), row?.LicenceId, check?.Problem ?? LicenceProblem.None);
            }

            return snapshot;
        }
        catch (Exception ex) when (keepOnFailure && _snapshot is { } previous && ex is not OperationCanceledException)
        {
            // PostgreSQL does not answer: the licence loaded before stands, and the next try is in a few seconds rather
            // than on every request (requests must not queue behind a database that is down).
            LogReloadFailed(_logger, ex);
            var kept = previous with { LoadedAt = _time.GetUtcNow() - MaxAge + RetryAfterFailure };
            _snapshot = kept;
            Interlocked.Increment(ref _loads);
            return kept;
        }
        catch
        {
            _stale = true;
            throw;
        }
        finally
        {
            _reload.Release();
        }
    }

    /// <summary>Marks the loaded licence stale (this replica changed it).</summary>
    public void Invalidate() => _stale = true;

    [LoggerMessage(EventId = 5600, Level = LogLevel.Information, Message = "Licence loaded: state {State}, licence {LicenceId}, check {Problem}")]
    private static partial void LogLoaded(ILogger logger, string state, Guid? licenceId, LicenceProblem problem);

    [LoggerMessage(EventId = 5601, Level = LogLevel.Warning, Message = "Could not reload the licence; the one loaded before stands")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception);
}
