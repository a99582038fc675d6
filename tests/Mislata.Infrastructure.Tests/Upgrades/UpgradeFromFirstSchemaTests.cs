using System.Security.Cryptography;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using Mislata.Core.ApiKeys;
using Mislata.Core.Keys;
using Mislata.Core.Tenants;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.Crypto.Keys;
using Mislata.Infrastructure.ApiKeys;
using Mislata.Infrastructure.Identity;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Infrastructure.Persistence.Tenants;
using Npgsql;

namespace Mislata.Infrastructure.Tests.Upgrades;

/// <summary>
/// Issue 13, upgrades: a database created by the first schema of this repository, with data written in the schema of
/// its time by plain SQL, is migrated to the current one by the services' start-up migrator, and the current code
/// reads every row as it was. The first migration of the mislata context creates no table (only its schema), so each
/// row goes in at the earliest migration whose schema holds its table: the user at identity's first migration, the
/// tenant, its data key and its API key at "Tenancy", the key and its version at "Keys".
/// </summary>
public sealed class UpgradeFromFirstSchemaTests : IAsyncLifetime
{
    private const string TenancyMigration = "20261123205828_Tenancy";
    private const string KeysMigration = "20261129030906_Keys";

    private readonly MasterKeyRing _masterKeys = MasterKeyRing.FromBase64(TestEnvironment.NewMasterKey(), null);
    private PostgresInstance? _postgres;
    private ServiceProvider _services = null!;
    private NpgsqlDataSource _dataSource = null!;

    public async Task InitializeAsync()
    {
        _postgres = await PostgresInstance.SharedOrOwnAsync();
        var connectionString = await _postgres.CreateDatabaseAsync("firstschema");
        _dataSource = NpgsqlDataSource.Create(connectionString);
        _services = StorageStartup.Services(connectionString, _masterKeys);
    }

    /// <summary>The hash the first schemas' code stored: HMAC under a key derived from the master key itself.</summary>
    private byte[] EarlyApiKeyHash(string apiKey)
    {
        using var early = PlatformKey.FromLegacyMasterKey(_masterKeys.Current);
        return new ApiKeySecret(early).Hash(apiKey);
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _dataSource.DisposeAsync();
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        _masterKeys.Dispose();
    }

    [Fact]
    public async Task Data_written_in_the_first_schema_reads_back_through_the_current_code_after_the_upgrade()
    {
        var now = new DateTimeOffset(2026, 11, 23, 21, 0, 0, TimeSpan.Zero);
        var (tenantId, userId, apiKeyId, keyId) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());

        // The first schema of each context, and nothing after it.
        var mislataMigrations = await MigrateMislataAsync(FirstMigrationOf<MislataDbContext>());
        await using (var scope = _services.CreateAsyncScope())
        {
            var identity = scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>();
            await identity.GetService<IMigrator>().MigrateAsync(FirstMigrationOf<IdentityStoreDbContext>());
            Assert.Single(await identity.Database.GetAppliedMigrationsAsync());
        }

        Assert.Single(mislataMigrations);

        // A user with a password, as identity's first schema stores it.
        const string Password = "Upgrade-pa55-word!";
        var hasher = new PasswordHasher<MislataUser>();
        var passwordHash = hasher.HashPassword(new MislataUser(), Password);
        await ExecuteAsync(
            """
            INSERT INTO identity."AspNetUsers" ("Id", "TenantId", "CreatedAt", "UserName", "NormalizedUserName", "Email", "NormalizedEmail",
                "EmailConfirmed", "PasswordHash", "SecurityStamp", "ConcurrencyStamp", "PhoneNumberConfirmed", "TwoFactorEnabled", "LockoutEnabled", "AccessFailedCount")
            VALUES (@user, @tenant, @now, 'old@example.com', 'OLD@EXAMPLE.COM', 'old@example.com', 'OLD@EXAMPLE.COM', true, @hash, 'STAMP', 'c1', false, false, true, 0)
            """,
            ("user", userId), ("tenant", tenantId), ("now", now), ("hash", passwordHash));

        // A tenant with its data key and an API key, in the schema that brought them.
        await MigrateMislataAsync(TenancyMigration);
        var wrapped = new AesGcmTenantKeyWrapper(_masterKeys).CreateDataKey(tenantId, 1);
        var apiKey = ApiKeySecret.Generate();
        await ExecuteAsync(
            """
            INSERT INTO mislata.tenants (id, name, plan_id, partner_id, admin_email, status, suspended_at, created_at, updated_at)
            VALUES (@tenant, 'early-tenant', @plan, NULL, 'admin@early.example', 'Active', NULL, @now, @now);
            INSERT INTO mislata.tenant_data_keys (tenant_id, dek_version, wrapped_key, master_key_id, created_at)
            VALUES (@tenant, 1, @wrapped, @masterKeyId, @now);
            INSERT INTO mislata.api_keys (id, tenant_id, partner_id, name, prefix, hash, scopes, expires_at, ip_allowlist, rate_limit_per_minute, created_by, created_at, revoked_at)
            VALUES (@apiKey, @tenant, NULL, 'early key', @prefix, @apiKeyHash, ARRAY['keys:read','encryption:write'], NULL, ARRAY['10.0.0.0/8'], 120, 'operator', @now, NULL);
            """,
            ("tenant", tenantId), ("plan", Plan.BusinessId), ("now", now), ("wrapped", wrapped.WrappedKey), ("masterKeyId", wrapped.MasterKeyId),
            ("apiKey", apiKeyId), ("prefix", ApiKeySecret.PrefixOf(apiKey)), ("apiKeyHash", EarlyApiKeyHash(apiKey)));

        // A key and its version, sealed under the tenant's data key, in the schema that brought keys.
        await MigrateMislataAsync(KeysMigration);
        var secret = RandomNumberGenerator.GetBytes(32);
        using var material = KeyImporter.Import("AES-256-GCM", KeyType.Symmetric, ImportFormat.Raw, Convert.ToBase64String(secret));
        var expectedStorage = material.ExportForStorage();
        SealedVersionMaterial sealedMaterial;
        await using (var db = await _services.GetRequiredService<IDbContextFactory<MislataDbContext>>().CreateDbContextAsync())
        {
            sealedMaterial = await new KeyMaterialSealer(db, new AesGcmTenantKeyWrapper(_masterKeys), OsRandomSource.Instance)
                .SealAsync(tenantId, keyId, 1, material, CancellationToken.None);
        }

        await ExecuteAsync(
            """
            INSERT INTO mislata.keys (id, tenant_id, name, algorithm, type, origin, state, current_version, min_decryption_version, is_default, tags,
                description, rotation_period_days, next_rotation_at, deletion_date, created_by, created_at, updated_at)
            VALUES (@key, @tenant, 'early-aes', 'AES-256-GCM', 'Symmetric', 'Imported', 'Enabled', 1, 1, true, ARRAY['legacy'],
                'made by the first key schema', 90, @next, NULL, 'apikey:early', @now, @now);
            INSERT INTO mislata.key_versions (key_id, version, tenant_id, state, sealed_material, dek_version, public_key, created_at, last_used_at, invocation_count, destroyed_at)
            VALUES (@key, 1, @tenant, 'Active', @sealed, @dekVersion, NULL, @now, NULL, 7, NULL);
            """,
            ("key", keyId), ("tenant", tenantId), ("next", now.AddDays(90)), ("now", now), ("sealed", sealedMaterial.Sealed), ("dekVersion", sealedMaterial.DataKeyVersion));

        // The upgrade, as a service's start-up does it.
        await _services.GetRequiredService<DatabaseMigrator>().MigrateAsync(CancellationToken.None);
        await using (var db = await _services.GetRequiredService<IDbContextFactory<MislataDbContext>>().CreateDbContextAsync())
        {
            Assert.Empty(await db.Database.GetPendingMigrationsAsync());

            var tenant = await db.Set<Tenant>().AsNoTracking().SingleAsync(t => t.Id == tenantId);
            Assert.Equal(("early-tenant", Plan.BusinessId, TenantStatus.Active, "admin@early.example"), (tenant.Name, tenant.PlanId, tenant.Status, tenant.AdminEmail));
            Assert.Null(tenant.SecretVersionsKept);

            // After the upgrade the platform key of this (legacy) installation is its master key: hashes made before still match.
            var platformKey = _services.GetRequiredService<PlatformKey>();
            Assert.Equal(_masterKeys.Current.Id, platformKey.Id);
            var hash = new ApiKeySecret(platformKey).Hash(apiKey);
            Assert.Equal(EarlyApiKeyHash(apiKey), hash);
            var record = ApiKeyRecord.From(await db.Set<ApiKey>().AsNoTracking().SingleAsync(k => k.Hash == hash));
            Assert.Equal(apiKeyId, record.Id);
            Assert.Equal(tenantId, record.TenantId);
            Assert.Equal(["encryption:write", "keys:read"], record.Scopes.Order(StringComparer.Ordinal));
            Assert.Equal(120, record.RateLimitPerMinute);
            Assert.False(record.Revoked);
            Assert.True(record.AllowsAddress(System.Net.IPAddress.Parse("10.1.2.3")));
            Assert.False(record.AllowsAddress(System.Net.IPAddress.Parse("192.168.1.1")));

            var key = await db.Set<Key>().AsNoTracking().Include(k => k.Versions).SingleAsync(k => k.Id == keyId);
            Assert.Equal(("early-aes", KeyType.Symmetric, KeyOrigin.Imported, KeyState.Enabled, 1, true, 90),
                (key.Name, key.Type, key.Origin, key.State, key.CurrentVersion, key.IsDefault, key.RotationPeriodDays));
            Assert.Equal(["legacy"], key.Tags);
            var version = Assert.Single(key.Versions);
            Assert.Equal(KeyVersionState.Active, version.State);
            using var opened = await new KeyMaterialSealer(db, new AesGcmTenantKeyWrapper(_masterKeys), OsRandomSource.Instance).OpenAsync(key, version, CancellationToken.None);
            Assert.Equal(expectedStorage, opened.ExportForStorage());
        }

        await using (var scope = _services.CreateAsyncScope())
        {
            var identity = scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>();
            Assert.Empty(await identity.Database.GetPendingMigrationsAsync());
            var user = await identity.Users.AsNoTracking().SingleAsync(u => u.NormalizedEmail == "OLD@EXAMPLE.COM");
            Assert.Equal((userId, (Guid?)tenantId, (Guid?)null), (user.Id, user.TenantId, user.PartnerId));
            Assert.NotEqual(PasswordVerificationResult.Failed, hasher.VerifyHashedPassword(user, user.PasswordHash!, Password));
            Assert.Equal(PasswordVerificationResult.Failed, hasher.VerifyHashedPassword(user, user.PasswordHash!, Password + "x"));
        }
    }

    private string FirstMigrationOf<TContext>()
        where TContext : DbContext
    {
        using var scope = _services.CreateScope();
        var context = typeof(TContext) == typeof(MislataDbContext)
            ? (DbContext)scope.ServiceProvider.GetRequiredService<IDbContextFactory<MislataDbContext>>().CreateDbContext()
            : scope.ServiceProvider.GetRequiredService<TContext>();
        try
        {
            return context.GetService<IMigrationsAssembly>().Migrations.Keys.Order(StringComparer.Ordinal).First();
        }
        finally
        {
            if (typeof(TContext) == typeof(MislataDbContext))
            {
                context.Dispose();
            }
        }
    }

    private async Task<IReadOnlyList<string>> MigrateMislataAsync(string target)
    {
        await using var db = await _services.GetRequiredService<IDbContextFactory<MislataDbContext>>().CreateDbContextAsync();
        await db.GetService<IMigrator>().MigrateAsync(target);
        return [.. await db.Database.GetAppliedMigrationsAsync()];
    }

    private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = _dataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }
}
