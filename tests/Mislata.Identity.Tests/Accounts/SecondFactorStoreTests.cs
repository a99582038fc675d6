using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Mislata.Crypto.Envelope;
using Mislata.Identity.Features.Accounts;
using Mislata.Infrastructure.Identity;
using OtpNet;

namespace Mislata.Identity.Tests.Accounts;

/// <summary>
/// The identity store against real PostgreSQL: second-factor secrets never stored in clear, values from before
/// encryption re-encrypted without reviving used codes, and each TOTP time step accepted once.
/// </summary>
public sealed class SecondFactorStoreTests : IAsyncLifetime
{
    private readonly PlatformKey _platformKey = PlatformKey.Generate();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 10, TimeSpan.Zero));
    private PostgresInstance? _postgres;
    private ServiceProvider? _services;

    public async Task InitializeAsync()
    {
        _postgres = await PostgresInstance.SharedOrOwnAsync();
        var connectionString = await _postgres.CreateDatabaseAsync("idsecrets");
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<TimeProvider>(_time)
            .AddSingleton(_platformKey)
            .AddDbContext<IdentityStoreDbContext>(o =>
            {
                o.UseNpgsql(connectionString, n => n.MigrationsHistoryTable("__EFMigrationsHistory", IdentityStoreDbContext.Schema));
                o.UseOpenIddict<Guid>();
            });
        services.AddDataProtection();
        services.AddIdentityCore<MislataUser>()
            .AddRoles<MislataRole>()
            .AddEntityFrameworkStores<IdentityStoreDbContext>()
            .AddDefaultTokenProviders()
            .AddMislataAccountSecurity();
        _services = services.BuildServiceProvider();
        await using var scope = _services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>().Database.MigrateAsync();
    }

    public async Task DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        _platformKey.Dispose();
    }

    [Fact]
    public async Task The_seed_and_recovery_codes_are_stored_encrypted_and_still_work()
    {
        var id = await NewUserAsync();
        string seed;
        string[] codes;
        await using (var scope = _services!.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<MislataUser>>();
            var user = (await users.FindByIdAsync(id.ToString()))!;
            await users.ResetAuthenticatorKeyAsync(user);
            seed = (await users.GetAuthenticatorKeyAsync(user))!;
            codes = [.. (await users.GenerateNewTwoFactorRecoveryCodesAsync(user, 10))!];
        }

        var rows = await StoredAsync(id);
        Assert.All(rows.Values, v => Assert.StartsWith("mislata:v1:" + _platformKey.Id + ":", v, StringComparison.Ordinal));
        Assert.DoesNotContain(seed, rows[UserSecretProtector.AuthenticatorKeyName], StringComparison.OrdinalIgnoreCase);
        Assert.All(codes, c => Assert.DoesNotContain(c, rows[UserSecretProtector.RecoveryCodesName], StringComparison.OrdinalIgnoreCase));

        await using (var scope = _services!.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<MislataUser>>();
            var user = (await users.FindByIdAsync(id.ToString()))!;
            Assert.Equal(seed, await users.GetAuthenticatorKeyAsync(user));
            Assert.Equal(10, await users.CountRecoveryCodesAsync(user));
            Assert.True((await users.RedeemTwoFactorRecoveryCodeAsync(user, codes[0])).Succeeded);
            Assert.False((await users.RedeemTwoFactorRecoveryCodeAsync(user, codes[0])).Succeeded);
            Assert.Equal(9, await users.CountRecoveryCodesAsync(user));
        }
    }

    [Fact]
    public async Task Values_stored_in_clear_are_encrypted_at_start_and_on_first_read()
    {
        var atStart = await NewUserAsync();
        var onRead = await NewUserAsync();
        const string Seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        const string Codes = "AAAAA-11111;BBBBB-22222";
        await using (var scope = _services!.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>();
            foreach (var user in new[] { atStart, onRead })
            {
                db.UserTokens.Add(new IdentityUserToken<Guid> { UserId = user, LoginProvider = UserSecretProtector.InternalLoginProvider, Name = UserSecretProtector.AuthenticatorKeyName, Value = Seed });
                db.UserTokens.Add(new IdentityUserToken<Guid> { UserId = user, LoginProvider = UserSecretProtector.InternalLoginProvider, Name = UserSecretProtector.RecoveryCodesName, Value = Codes });
            }

            await db.SaveChangesAsync();
        }

        // On first read (before any restart): the value works, and is encrypted from then on.
        await using (var scope = _services!.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<MislataUser>>();
            var user = (await users.FindByIdAsync(onRead.ToString()))!;
            Assert.Equal(Seed, await users.GetAuthenticatorKeyAsync(user));
            Assert.Equal(2, await users.CountRecoveryCodesAsync(user));
        }

        Assert.All((await StoredAsync(onRead)).Values, v => Assert.StartsWith("mislata:v1:", v, StringComparison.Ordinal));
        Assert.Equal(Seed, (await StoredAsync(atStart))[UserSecretProtector.AuthenticatorKeyName]);

        // At start: everything left in clear is encrypted.
        await _services!.GetRequiredService<UserSecretsAtRest>().ProtectStoredAsync(CancellationToken.None);
        var swept = await StoredAsync(atStart);
        Assert.All(swept.Values, v => Assert.StartsWith("mislata:v1:", v, StringComparison.Ordinal));
        await using (var scope = _services!.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<MislataUser>>();
            var user = (await users.FindByIdAsync(atStart.ToString()))!;
            Assert.Equal(Seed, await users.GetAuthenticatorKeyAsync(user));
            Assert.True((await users.RedeemTwoFactorRecoveryCodeAsync(user, "BBBBB-22222")).Succeeded);
        }
    }

    [Fact]
    public async Task A_totp_code_counts_once_and_never_after_a_later_one()
    {
        var id = await NewUserAsync();
        string seed;
        await using (var scope = _services!.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<MislataUser>>();
            var user = (await users.FindByIdAsync(id.ToString()))!;
            await users.ResetAuthenticatorKeyAsync(user);
            seed = (await users.GetAuthenticatorKeyAsync(user))!;
        }

        var totp = new Totp(Base32Encoding.ToBytes(seed));
        var now = _time.GetUtcNow().UtcDateTime;
        var current = totp.ComputeTotp(now);
        var previous = totp.ComputeTotp(now.AddSeconds(-30));
        var next = totp.ComputeTotp(now.AddSeconds(30));
        var outside = totp.ComputeTotp(now.AddSeconds(-120));

        Assert.False(await VerifyAsync(id, "12345"));
        Assert.False(await VerifyAsync(id, outside == current ? "000000" : outside));
        Assert.True(await VerifyAsync(id, current));
        Assert.False(await VerifyAsync(id, current));
        Assert.False(await VerifyAsync(id, previous));
        Assert.True(await VerifyAsync(id, next));
        Assert.False(await VerifyAsync(id, current));
    }

    private async Task<bool> VerifyAsync(Guid id, string code)
    {
        await using var scope = _services!.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<MislataUser>>();
        var user = (await users.FindByIdAsync(id.ToString()))!;
        return await users.VerifyTwoFactorTokenAsync(user, TokenOptions.DefaultAuthenticatorProvider, code);
    }

    private async Task<Guid> NewUserAsync()
    {
        await using var scope = _services!.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<MislataUser>>();
        var email = $"u-{Guid.NewGuid():N}@unit.mislata.test";
        var user = new MislataUser { Id = Guid.CreateVersion7(), UserName = email, Email = email, CreatedAt = _time.GetUtcNow() };
        Assert.True((await users.CreateAsync(user)).Succeeded);
        return user.Id;
    }

    private async Task<Dictionary<string, string>> StoredAsync(Guid userId)
    {
        await using var scope = _services!.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>();
        return await db.UserTokens.AsNoTracking()
            .Where(t => t.UserId == userId && t.LoginProvider == UserSecretProtector.InternalLoginProvider)
            .ToDictionaryAsync(t => t.Name, t => t.Value!);
    }
}
