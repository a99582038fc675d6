using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mislata.Infrastructure.Identity;
using Mislata.Infrastructure.Persistence;
using Mislata.Worker.Features.Identity;
using Npgsql;

namespace Mislata.Worker.Tests.Identity;

/// <summary>Pruning of OpenIddict tokens and authorizations, as the worker's own database role (its grants are exactly what it needs).</summary>
public sealed class TokenPruningJobTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new(DatabaseGrants.WorkerService);

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();

        // The identity schema too (MislataDatabase migrates mislata only), then the grants again.
        await using var owner = new NpgsqlConnection(_db.Logins.Migrations);
        await owner.OpenAsync();
        await using (var identity = new IdentityStoreDbContext(IdentityOptions(o => o.UseNpgsql(owner, History))))
        {
            await identity.Database.MigrateAsync();
        }

        await DatabaseGrants.ApplyAsync(owner, NullLogger.Instance, CancellationToken.None);
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private static void History(Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure.NpgsqlDbContextOptionsBuilder o) =>
        o.MigrationsHistoryTable("__EFMigrationsHistory", IdentityStoreDbContext.Schema);

    private static DbContextOptions<IdentityStoreDbContext> IdentityOptions(Action<DbContextOptionsBuilder<IdentityStoreDbContext>> configure)
    {
        var builder = new DbContextOptionsBuilder<IdentityStoreDbContext>();
        configure(builder);
        builder.UseOpenIddict<Guid>();
        return builder.Options;
    }

    [Fact]
    public async Task Old_unusable_tokens_and_authorizations_are_pruned_and_everything_else_stays()
    {
        var old = "now() - interval '30 days'";
        var ids = new Dictionary<string, Guid>();
        Guid Id(string name) => ids.TryGetValue(name, out var id) ? id : ids[name] = Guid.NewGuid();

        // Authorizations: a revoked old one (pruned, with its token), an old ad-hoc one without tokens (pruned), a
        // permanent valid one (kept).
        await _db.ExecuteAsync($"""
            INSERT INTO identity."OpenIddictAuthorizations" ("Id", "CreationDate", "Status", "Subject", "Type", "Scopes") VALUES
              ('{Id("revoked-auth")}', {old}, 'revoked', 's', 'permanent', '[]'),
              ('{Id("adhoc-auth")}', {old}, 'valid', 's', 'ad-hoc', '[]'),
              ('{Id("valid-auth")}', {old}, 'valid', 's', 'permanent', '[]');
            INSERT INTO identity."OpenIddictTokens" ("Id", "AuthorizationId", "CreationDate", "ExpirationDate", "Status", "Subject", "Type") VALUES
              ('{Id("expired")}', NULL, {old}, now() - interval '29 days', 'valid', 's', 'access_token'),
              ('{Id("redeemed")}', NULL, {old}, now() + interval '30 days', 'redeemed', 's', 'refresh_token'),
              ('{Id("of-revoked-auth")}', '{Id("revoked-auth")}', {old}, now() + interval '30 days', 'valid', 's', 'refresh_token'),
              ('{Id("old-but-valid")}', '{Id("valid-auth")}', {old}, now() + interval '30 days', 'valid', 's', 'refresh_token'),
              ('{Id("recent-expired")}', NULL, now() - interval '1 day', now() - interval '1 hour', 'valid', 's', 'access_token');
            """);

        var dataSource = NpgsqlDataSource.Create(_db.ConnectionString);
        await using var services = new ServiceCollection()
            .AddLogging()
            .AddDbContext<IdentityStoreDbContext>(o =>
            {
                o.UseNpgsql(dataSource, History);
                o.UseOpenIddict<Guid>();
            })
            .AddOpenIddict().AddCore(o => o.UseEntityFrameworkCore().UseDbContext<IdentityStoreDbContext>().ReplaceDefaultEntities<Guid>()).Services
            .BuildServiceProvider();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var job = new TokenPruningJob(services.GetRequiredService<IServiceScopeFactory>(), time, NullLogger<TokenPruningJob>.Instance);

        var report = await job.RunAsync(CancellationToken.None);
        Assert.Equal(new TokenPruningReport(3, 2), report);
        Assert.Equal(new TokenPruningReport(0, 0), await job.RunAsync(CancellationToken.None)); // idempotent

        var tokens = await Names("OpenIddictTokens");
        Assert.Equal(["old-but-valid", "recent-expired"], tokens);
        Assert.Equal(["valid-auth"], await Names("OpenIddictAuthorizations"));

        // Once the recent one is past the retention too, it goes.
        time.Advance(TokenPruningJob.Retention + TimeSpan.FromDays(1));
        Assert.Equal(1, (await job.RunAsync(CancellationToken.None)).Tokens);
        await dataSource.DisposeAsync();

        async Task<List<string>> Names(string table)
        {
            var names = new List<string>();
            foreach (var (name, id) in ids)
            {
                if (await _db.ScalarAsync<long>($"SELECT count(*) FROM identity.\"{table}\" WHERE \"Id\" = '{id}'") == 1)
                {
                    names.Add(name);
                }
            }

            return names.Order(StringComparer.Ordinal).ToList();
        }
    }
}
