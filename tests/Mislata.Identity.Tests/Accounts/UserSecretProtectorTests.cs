using Mislata.Crypto.Envelope;
using Mislata.Identity.Features.Accounts;

namespace Mislata.Identity.Tests.Accounts;

/// <summary>TOTP seeds and recovery codes at rest: AES-256-GCM under a platform-key derived key, bound to user and token.</summary>
public sealed class UserSecretProtectorTests : IDisposable
{
    private const string Seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    private readonly PlatformKey _platformKey = PlatformKey.Generate();
    private readonly PlatformKey _otherInstallation = PlatformKey.Generate();
    private readonly Guid _user = Guid.NewGuid();

    [Fact]
    public void A_secret_round_trips_and_its_stored_form_does_not_contain_it()
    {
        var protector = new UserSecretProtector(_platformKey);
        var stored = protector.Protect(_user, UserSecretProtector.AuthenticatorKeyName, Seed);

        Assert.StartsWith("mislata:v1:" + _platformKey.Id + ":", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(Seed, stored, StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(stored, protector.Protect(_user, UserSecretProtector.AuthenticatorKeyName, Seed));
        Assert.True(protector.IsCurrent(stored));
        Assert.True(protector.TryUnprotect(_user, UserSecretProtector.AuthenticatorKeyName, stored, out var plaintext));
        Assert.Equal(Seed, plaintext);
    }

    [Fact]
    public void A_value_moved_to_another_user_or_token_does_not_decrypt()
    {
        var protector = new UserSecretProtector(_platformKey);
        var stored = protector.Protect(_user, UserSecretProtector.RecoveryCodesName, "AAAAA-BBBBB;CCCCC-DDDDD");

        Assert.False(protector.TryUnprotect(Guid.NewGuid(), UserSecretProtector.RecoveryCodesName, stored, out _));
        Assert.False(protector.TryUnprotect(_user, UserSecretProtector.AuthenticatorKeyName, stored, out _));
    }

    [Fact]
    public void A_tampered_or_malformed_value_does_not_decrypt()
    {
        var protector = new UserSecretProtector(_platformKey);
        var stored = protector.Protect(_user, UserSecretProtector.AuthenticatorKeyName, Seed);
        var last = stored[^1];
        var flipped = stored[..^1] + (last == 'A' ? 'B' : 'A');

        Assert.False(protector.TryUnprotect(_user, UserSecretProtector.AuthenticatorKeyName, flipped, out _));
        Assert.False(protector.TryUnprotect(_user, UserSecretProtector.AuthenticatorKeyName, "mislata:v1:" + _platformKey.Id + ":!!", out _));
        Assert.False(protector.TryUnprotect(_user, UserSecretProtector.AuthenticatorKeyName, "mislata:v1:" + _platformKey.Id + ":AAAA", out _));
        Assert.False(protector.TryUnprotect(_user, UserSecretProtector.AuthenticatorKeyName, "mislata:v1:mk-0000000000000000:" + stored.Split(':')[^1], out _));
    }

    [Fact]
    public void A_value_under_another_platform_key_does_not_decrypt_and_is_not_current()
    {
        var stored = new UserSecretProtector(_otherInstallation).Protect(_user, UserSecretProtector.AuthenticatorKeyName, Seed);
        var here = new UserSecretProtector(_platformKey);

        Assert.False(here.IsCurrent(stored));
        Assert.False(here.TryUnprotect(_user, UserSecretProtector.AuthenticatorKeyName, stored, out _));
        // The same bytes under the other key's id (a forged prefix) do not decrypt either.
        Assert.False(here.TryUnprotect(_user, UserSecretProtector.AuthenticatorKeyName, "mislata:v1:" + _platformKey.Id + ":" + stored.Split(':')[^1], out _));
    }

    [Fact]
    public void A_value_written_before_encryption_reads_as_it_is_and_is_not_current()
    {
        var protector = new UserSecretProtector(_platformKey);

        Assert.True(protector.TryUnprotect(_user, UserSecretProtector.AuthenticatorKeyName, Seed, out var plaintext));
        Assert.Equal(Seed, plaintext);
        Assert.False(protector.IsCurrent(Seed));
    }

    [Fact]
    public void Only_the_seed_and_the_recovery_codes_are_secrets()
    {
        Assert.True(UserSecretProtector.IsSecret("[AspNetUserStore]", "AuthenticatorKey"));
        Assert.True(UserSecretProtector.IsSecret("[AspNetUserStore]", "RecoveryCodes"));
        Assert.False(UserSecretProtector.IsSecret("[Mislata]", "AuthenticatorLastTimeStep"));
        Assert.False(UserSecretProtector.IsSecret("Google", "AuthenticatorKey"));
    }

    public void Dispose()
    {
        _platformKey.Dispose();
        _otherInstallation.Dispose();
    }
}
