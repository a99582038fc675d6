using System.Security.Cryptography;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.ServiceDefaults;
using Npgsql;

namespace Mislata.Infrastructure.Persistence.PlatformKeys;

/// <summary>
/// The key hierarchy's middle: the platform key (<see cref="PlatformKey"/>) in <c>mislata.platform_keys</c>, one row,
/// wrapped by a master key. Every service creates it if missing and loads it while it starts (under the migration lock,
/// so replicas starting together agree on one key), unwrapping with <c>QAPI_MASTER_KEY</c> or, during a rotation,
/// <c>QAPI_MASTER_KEY_PREVIOUS</c>. The loaded key is registered as the <see cref="PlatformKey"/> singleton.
/// </summary>
/// <remarks>
/// An installation that held master-derived data before this table existed (<c>platform_key_origin.legacy</c>, recorded by
/// the migration) gets the master key's bytes and id as its platform key, so every derivation, stored key id and hash
/// keeps working; the old master key then still derives the platform key (anyone holding it and a copy of the database
/// can unwrap the data). Only a fresh installation's platform key is independent random bytes.
/// </remarks>
public sealed partial class PlatformKeyStore(MasterKeyRing masterKeys, TimeProvider time, ILogger<PlatformKeyStore> logger) : IDisposable
{
    private PlatformKey? _current;

    /// <summary>The loaded platform key; throws until <see cref="EnsureLoadedAsync"/> ran (the service's storage start-up).</summary>
    public PlatformKey Current => _current ?? throw new InvalidOperationException("The platform key is not loaded: the storage start-up has not run.");

    /// <summary>
    /// Creates the platform key if there is none yet, then loads it. Runs on the migration role's connection, under the
    /// migration advisory lock. Throws <see cref="StartupException"/> naming the variable (never a value) when neither
    /// configured master key unwraps it.
    /// </summary>
    public async Task<PlatformKey> EnsureLoadedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var stored = await ReadAsync(connection, cancellationToken);
        if (stored is null)
        {
            await using var origin = new NpgsqlCommand("SELECT legacy FROM mislata.platform_key_origin", connection);
            var legacy = await origin.ExecuteScalarAsync(cancellationToken) is true;
            if (legacy && masterKeys.Previous is not null)
            {
                // Before the hierarchy, data was derived from whichever master key was current when it was written: the
                // platform key can only be taken over from the one key the installation ran with.
                throw new StartupException(
                    $"this installation predates the key hierarchy and {MasterKeyRing.PreviousVariable} is set: start it once with only " +
                    $"{MasterKeyRing.CurrentVariable} (the master key it ran with), then rotate.");
            }

            using var created = legacy ? PlatformKey.FromLegacyMasterKey(masterKeys.Current) : PlatformKey.Generate(OsRandomSource.Instance);
            var now = time.GetUtcNow();
            await using var insert = new NpgsqlCommand(
                "INSERT INTO mislata.platform_keys (id, wrapped_key, master_key_id, created_at, updated_at) " +
                "SELECT @id, @wrapped, @master, @now, @now WHERE NOT EXISTS (SELECT 1 FROM mislata.platform_keys)",
                connection);
            insert.Parameters.AddWithValue("id", created.Id);
            insert.Parameters.AddWithValue("wrapped", created.WrapUnder(masterKeys.Current));
            insert.Parameters.AddWithValue("master", masterKeys.Current.Id);
            insert.Parameters.AddWithValue("now", now);
            if (await insert.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                LogCreated(logger, created.Id, legacy ? "the master key of an existing installation" : "random");
            }

            stored = await ReadAsync(connection, cancellationToken)
                ?? throw new InvalidOperationException("The platform key row disappeared after its creation.");
        }

        var key = Unwrap(stored.Value.Id, stored.Value.Wrapped, stored.Value.MasterKeyId);
        Interlocked.Exchange(ref _current, key)?.Dispose();
        LogLoaded(logger, key.Id, stored.Value.MasterKeyId);
        return key;
    }

    /// <summary>
    /// Moves the stored platform key from <paramref name="from"/> to the current master key. Idempotent: returns false when
    /// the row is not (any more) wrapped under <paramref name="from"/>; a concurrent change is never overwritten.
    /// </summary>
    public async Task<bool> RewrapAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, MasterKey from, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(from);
        var stored = await ReadAsync(connection, cancellationToken, transaction);
        if (stored is not { } row || row.MasterKeyId != from.Id)
        {
            return false;
        }

        using var key = Unwrap(row.Id, row.Wrapped, row.MasterKeyId);
        await using var update = new NpgsqlCommand(
            "UPDATE mislata.platform_keys SET wrapped_key = @wrapped, master_key_id = @to, updated_at = @now WHERE id = @id AND master_key_id = @from",
            connection, transaction);
        update.Parameters.AddWithValue("wrapped", key.WrapUnder(masterKeys.Current));
        update.Parameters.AddWithValue("to", masterKeys.Current.Id);
        update.Parameters.AddWithValue("now", time.GetUtcNow());
        update.Parameters.AddWithValue("id", row.Id);
        update.Parameters.AddWithValue("from", from.Id);
        return await update.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public void Dispose() => _current?.Dispose();

    private PlatformKey Unwrap(string id, byte[] wrapped, string masterKeyId)
    {
        var master = masterKeys.Find(masterKeyId)
            ?? throw new StartupException(
                $"the platform key {id} is wrapped under master key {masterKeyId}, which is neither {MasterKeyRing.CurrentVariable} ({masterKeys.Current.Id})" +
                $" nor {MasterKeyRing.PreviousVariable}{(masterKeys.Previous is { } p ? $" ({p.Id})" : " (not set)")}: set the master key this installation was started with.");
        try
        {
            return PlatformKey.Unwrap(id, wrapped, master);
        }
        catch (CryptographicException ex)
        {
            var variable = master == masterKeys.Current ? MasterKeyRing.CurrentVariable : MasterKeyRing.PreviousVariable;
            throw new StartupException($"the platform key {id} does not unwrap with {variable} ({master.Id}): the stored key was altered or belongs to another installation.", ex);
        }
    }

    private static async Task<(string Id, byte[] Wrapped, string MasterKeyId)?> ReadAsync(
        NpgsqlConnection connection, CancellationToken cancellationToken, NpgsqlTransaction? transaction = null)
    {
        await using var select = new NpgsqlCommand("SELECT id, wrapped_key, master_key_id FROM mislata.platform_keys ORDER BY created_at LIMIT 1", connection, transaction);
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? (reader.GetString(0), (byte[])reader[1], reader.GetString(2))
            : null;
    }

    [LoggerMessage(EventId = 160, Level = LogLevel.Information, Message = "Created the platform key {KeyId} ({Origin})")]
    private static partial void LogCreated(ILogger logger, string keyId, string origin);

    [LoggerMessage(EventId = 161, Level = LogLevel.Information, Message = "Loaded the platform key {KeyId}, wrapped under master key {MasterKeyId}")]
    private static partial void LogLoaded(ILogger logger, string keyId, string masterKeyId);
}
