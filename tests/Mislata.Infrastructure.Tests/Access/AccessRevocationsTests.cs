using System.Security.Claims;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mislata.Infrastructure.Access;

namespace Mislata.Infrastructure.Tests.Access;

/// <summary>The in-memory rules of the not-before map (the database and Redis paths are covered end to end).</summary>
public sealed class AccessRevocationsTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, 400, TimeSpan.Zero));
    private readonly ServiceProvider _services = new ServiceCollection().BuildServiceProvider();
    private readonly AccessInvalidation _invalidation = new(null!, NullLogger<AccessInvalidation>.Instance);
    private readonly AccessRevocations _revocations;

    public AccessRevocationsTests() =>
        _revocations = new AccessRevocations(_services.GetRequiredService<IServiceScopeFactory>(), null!, _invalidation, _time, NullLogger<AccessRevocations>.Instance);

    public void Dispose()
    {
        _revocations.Dispose();
        _services.Dispose();
    }

    [Fact]
    public void A_token_issued_before_its_subjects_or_clients_not_before_is_refused_and_a_later_one_is_accepted()
    {
        var notBefore = _time.GetUtcNow();
        _revocations.Apply(AccessRevocation.Subject, "user-1", notBefore, notBefore + AccessRevocations.Retention);
        _revocations.Apply(AccessRevocation.Client, "app-1", notBefore, notBefore + AccessRevocations.Retention);
        var earlier = notBefore.AddMinutes(-3);
        var later = notBefore.AddSeconds(2);

        Assert.True(_revocations.Refuses("user-1", "other-app", earlier));
        Assert.True(_revocations.Refuses("other-user", "app-1", earlier));
        Assert.False(_revocations.Refuses("other-user", "other-app", earlier));
        Assert.False(_revocations.Refuses("user-1", "app-1", later));
        // A subject and a client are different name spaces (a client's sub is its client id).
        Assert.False(_revocations.Refuses("app-1", null, earlier));
    }

    [Fact]
    public void A_token_issued_in_the_same_second_as_the_revocation_is_refused_because_iat_has_one_second_resolution()
    {
        // The revocation happened at 12:00:00.400; a token minted at 12:00:00.100 carries iat 12:00:00.
        var notBefore = _time.GetUtcNow();
        _revocations.Apply(AccessRevocation.Subject, "user-1", notBefore, notBefore + AccessRevocations.Retention);
        var sameSecond = DateTimeOffset.FromUnixTimeSeconds(notBefore.ToUnixTimeSeconds());

        Assert.True(_revocations.Refuses("user-1", null, sameSecond));
        Assert.False(_revocations.Refuses("user-1", null, sameSecond.AddSeconds(1)));
    }

    [Fact]
    public void A_revocation_announced_by_another_replica_applies_at_once_and_the_later_not_before_wins()
    {
        var first = _time.GetUtcNow();
        var second = first.AddMinutes(1);
        _invalidation.Raise(AccessRevocations.Message(AccessRevocation.Client, "tenant:app:with:colons", second));
        _invalidation.Raise(AccessRevocations.Message(AccessRevocation.Client, "tenant:app:with:colons", first));

        Assert.True(_revocations.Refuses(null, "tenant:app:with:colons", second.AddSeconds(-1)));
        Assert.False(_revocations.Refuses(null, "tenant:app:with:colons", second.AddSeconds(1)));

        // Malformed messages are ignored, not half-applied.
        _invalidation.Raise("revoked:role:123:admin");
        _invalidation.Raise("revoked:sub:notanumber:user-2");
        _invalidation.Raise("revoked:sub:123:");
        Assert.Equal(1, _revocations.Count);
    }

    [Fact]
    public void Unblocking_has_no_way_to_lift_a_not_before_and_a_token_without_iat_is_refused()
    {
        var notBefore = _time.GetUtcNow();
        _revocations.Apply(AccessRevocation.Subject, "user-1", notBefore, notBefore + AccessRevocations.Retention);
        _invalidation.Raise("subject-unblocked:user-1");
        Assert.True(_revocations.Refuses("user-1", null, notBefore.AddSeconds(-30)));

        var withoutIat = new ClaimsIdentity([new Claim("sub", "someone"), new Claim("client_id", "app")]);
        Assert.True(_revocations.Refuses(withoutIat));
        var withIat = new ClaimsIdentity([new Claim("sub", "user-1"), new Claim("iat", (notBefore.ToUnixTimeSeconds() - 60).ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        Assert.True(_revocations.Refuses(withIat));
        var fresh = new ClaimsIdentity([new Claim("sub", "user-1"), new Claim("iat", (notBefore.ToUnixTimeSeconds() + 5).ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        Assert.False(_revocations.Refuses(fresh));
    }
}
