using Mislata.Core.Secrets;
using Mislata.Core.Tenants;

namespace Mislata.Api.Tests.Secrets;

/// <summary>The pure rules of a secret (Core/Secrets): names, labels, versions with check-and-set, deletion window, expiry.</summary>
public sealed class SecretRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private static readonly Guid TenantId = Guid.Parse("11111111-1111-1111-1111-111111111111");

    private static SealedSecretValue Value(byte marker = 1) => new([1, marker, 3], 1);

    private static Secret NewSecret(string name = "db/password") => Secret.Create(Guid.NewGuid(), TenantId, name, Value(), "actor", T0).Secret;

    [Theory]
    [InlineData("a")]
    [InlineData("prod/db/password")]
    [InlineData("svc-1_A.b@example.com+tag")]
    [InlineData(".env")]
    [InlineData("a..b")]
    public void Names_of_letters_digits_and_the_listed_signs_are_valid(string name)
    {
        Assert.True(SecretLimits.IsValidName(name, out var reason), reason);
        Assert.Null(reason);
    }

    [Theory]
    [InlineData("", "1 to 200")]
    [InlineData("with space", "only ASCII")]
    [InlineData("tab\there", "only ASCII")]
    [InlineData("nul\0", "only ASCII")]
    [InlineData("ünïcode", "only ASCII")]
    [InlineData("semi;colon", "only ASCII")]
    [InlineData("back\\slash", "only ASCII")]
    [InlineData("percent%2F", "only ASCII")]
    [InlineData("/leading", "'/'")]
    [InlineData("trailing/", "'/'")]
    [InlineData("a//b", "'//'")]
    [InlineData("a/../b", "'..'")]
    [InlineData("./a", "'.'")]
    [InlineData("..", "'..'")]
    public void Odd_names_are_refused_with_a_reason(string name, string expected)
    {
        Assert.False(SecretLimits.IsValidName(name, out var reason));
        Assert.Contains(expected, reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_name_may_be_200_characters_not_201_and_null_is_refused()
    {
        Assert.True(SecretLimits.IsValidName(new string('n', 200), out _));
        Assert.False(SecretLimits.IsValidName(new string('n', 201), out _));
        Assert.False(SecretLimits.IsValidName(null, out var reason));
        Assert.NotNull(reason);
        Assert.Throws<ArgumentException>(() => Secret.Create(Guid.NewGuid(), TenantId, "bad name", Value(), "actor", T0));
    }

    [Fact]
    public void Labels_are_trimmed_deduplicated_and_bounded()
    {
        Assert.Equal(["env:prod", "team"], SecretLimits.NormaliseLabels([" env:prod ", "team", "env:prod"], out var reason));
        Assert.Null(reason);
        Assert.Null(SecretLimits.NormaliseLabels([.. Enumerable.Range(0, 21).Select(i => "l" + i)], out reason));
        Assert.Contains("at most 20", reason, StringComparison.Ordinal);
        Assert.NotNull(SecretLimits.NormaliseLabels([.. Enumerable.Range(0, 20).Select(i => "l" + i)], out _));
        Assert.Null(SecretLimits.NormaliseLabels([new string('l', 65)], out _));
        Assert.NotNull(SecretLimits.NormaliseLabels([new string('l', 64)], out _));
        Assert.Null(SecretLimits.NormaliseLabels([" "], out _));
        Assert.Null(SecretLimits.NormaliseLabels([null], out _));
        Assert.Null(SecretLimits.NormaliseLabels(["a\u0001"], out _));
    }

    [Fact]
    public void A_new_secret_is_live_at_version_one_and_each_write_adds_the_next_version()
    {
        var id = Guid.NewGuid();
        var (secret, first) = Secret.Create(id, TenantId, "api-token", Value(1), "creator", T0);
        Assert.Equal(SecretState.Live, secret.State);
        Assert.Equal(1, secret.CurrentVersion);
        Assert.Equal((id, TenantId, 1, "creator"), (first.SecretId, first.TenantId, first.Version, first.CreatedBy));
        Assert.Equal(2, secret.NextVersion);

        Assert.Equal(SecretError.None, secret.Write(Value(2), expectedVersion: null, "writer", T0.AddMinutes(1), out var second));
        Assert.Equal(2, second!.Version);
        Assert.Equal(2, secret.CurrentVersion);
        Assert.Equal(T0.AddMinutes(1), secret.UpdatedAt);
        Assert.Equal(new byte[] { 1, 2, 3 }, second.SealedValue);
        Assert.Equal("writer", second.CreatedBy);

        Assert.Equal(SecretError.None, secret.Write(Value(3), expectedVersion: 2, "writer", T0.AddMinutes(2), out var third));
        Assert.Equal(3, third!.Version);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(0)]
    public void A_stale_or_future_expected_version_is_a_mismatch_and_changes_nothing(int expected)
    {
        var secret = NewSecret();
        Assert.Equal(SecretError.None, secret.Write(Value(), null, "w", T0, out _));
        Assert.Equal(SecretError.VersionMismatch, secret.Write(Value(), expected, "w", T0.AddMinutes(1), out var version));
        Assert.Null(version);
        Assert.Equal(2, secret.CurrentVersion);
        Assert.Equal(T0, secret.UpdatedAt);
    }

    [Fact]
    public void A_deleted_secret_refuses_writes_and_patches_and_can_be_restored_within_thirty_days()
    {
        var secret = NewSecret();
        Assert.Equal(SecretError.None, secret.Delete(T0));
        Assert.Equal(SecretState.Deleted, secret.State);
        Assert.Equal(T0, secret.DeletedAt);
        Assert.Equal(T0.AddDays(30), secret.PurgeAt);
        Assert.Equal(SecretError.StateInvalid, secret.Delete(T0));
        Assert.Equal(SecretError.StateInvalid, secret.Write(Value(), null, "w", T0, out _));
        Assert.Equal(SecretError.StateInvalid, secret.Describe("x", null, null, null, false, T0));
        Assert.False(secret.IsDueForPurge(T0.AddDays(30).AddTicks(-1)));
        Assert.True(secret.IsDueForPurge(T0.AddDays(30)));

        Assert.Equal(SecretError.None, secret.Restore(T0.AddDays(29)));
        Assert.Equal(SecretState.Live, secret.State);
        Assert.Null(secret.DeletedAt);
        Assert.Null(secret.PurgeAt);
        Assert.Equal(SecretError.StateInvalid, secret.Restore(T0.AddDays(29)));
        Assert.False(secret.IsDueForPurge(T0.AddDays(100)));
    }

    [Fact]
    public void A_secret_past_its_purge_date_cannot_be_restored()
    {
        var secret = NewSecret();
        secret.Delete(T0);
        Assert.Equal(SecretError.StateInvalid, secret.Restore(T0.AddDays(30)));
        Assert.Equal(SecretState.Deleted, secret.State);
    }

    [Fact]
    public void Describe_changes_only_the_given_fields_and_clears_with_empty_strings_or_the_expiry_flag()
    {
        var secret = NewSecret();
        Assert.Equal(SecretError.None, secret.Describe("db", ["env:prod"], "text/plain", T0.AddDays(1), false, T0));
        Assert.Equal(("db", "text/plain", (DateTimeOffset?)T0.AddDays(1)), (secret.Description, secret.ContentType, secret.ExpiresAt));
        Assert.Equal(["env:prod"], secret.Labels);

        secret.Describe(null, null, null, null, false, T0);
        Assert.Equal(("db", "text/plain", (DateTimeOffset?)T0.AddDays(1)), (secret.Description, secret.ContentType, secret.ExpiresAt));

        secret.Describe("", [], "", null, clearExpiry: true, T0);
        Assert.Equal((null, null, null), (secret.Description, secret.ContentType, secret.ExpiresAt));
        Assert.Empty(secret.Labels);
    }

    [Fact]
    public void A_secret_expires_at_its_instant_not_before()
    {
        var secret = NewSecret();
        Assert.False(secret.IsExpired(T0));
        secret.Describe(null, null, null, T0.AddHours(1), false, T0);
        Assert.False(secret.IsExpired(T0.AddHours(1).AddTicks(-1)));
        Assert.True(secret.IsExpired(T0.AddHours(1)));
    }

    [Fact]
    public void A_tenant_keeps_every_secret_version_until_told_otherwise_and_never_fewer_than_one()
    {
        var tenant = new Tenant(TenantId, "acme", Plan.CommunityId, null, null, T0);
        Assert.Null(tenant.SecretVersionsKept);
        tenant.KeepSecretVersions(3, T0.AddMinutes(1));
        Assert.Equal((3, T0.AddMinutes(1)), (tenant.SecretVersionsKept, tenant.UpdatedAt));
        Assert.Throws<ArgumentOutOfRangeException>(() => tenant.KeepSecretVersions(0, T0));
        Assert.Equal(3, tenant.SecretVersionsKept);
        tenant.KeepSecretVersions(null, T0);
        Assert.Null(tenant.SecretVersionsKept);
    }
}
