using Mislata.Core.Keys;

namespace Mislata.Api.Tests.Keys;

/// <summary>The pure rules of payload references (Core/Keys/PayloadReferences.cs): references, registration, and the guard on the minimum decryption version.</summary>
public sealed class PayloadReferenceRulesTests
{
    private static readonly Guid KeyId = Guid.Parse("22222222-2222-2222-2222-222222222222");

    private static PayloadKey Key(int current = 3, int min = 2, KeyVersionState? versionState = KeyVersionState.Deprecated, KeyState state = KeyState.Enabled) =>
        new(KeyId, state, current, min, versionState);

    [Theory]
    [InlineData("a", true)]
    [InlineData("orders/2026/0001.json", true)]
    [InlineData("ünïcode reference", true)]
    [InlineData("", false)]
    [InlineData(" leading", false)]
    [InlineData("trailing ", false)]
    [InlineData("tab\there", false)]
    [InlineData("new\nline", false)]
    public void A_reference_is_1_to_200_characters_without_control_characters_or_surrounding_spaces(string reference, bool valid)
    {
        Assert.Equal(valid, PayloadReferenceRules.IsValidReference(reference));
    }

    [Fact]
    public void A_reference_longer_than_200_characters_or_null_is_refused()
    {
        Assert.True(PayloadReferenceRules.IsValidReference(new string('r', PayloadReferenceRules.MaxReferenceLength)));
        Assert.False(PayloadReferenceRules.IsValidReference(new string('r', PayloadReferenceRules.MaxReferenceLength + 1)));
        Assert.False(PayloadReferenceRules.IsValidReference(null));
    }

    [Fact]
    public void A_payload_of_this_key_under_a_readable_version_registers()
    {
        Assert.Equal(PayloadReferenceError.None, PayloadReferenceRules.CheckRegistration(Key(), "r", KeyId, 2, registered: 0));
        Assert.Equal(PayloadReferenceError.None, PayloadReferenceRules.CheckRegistration(Key(versionState: KeyVersionState.Active), "r", KeyId, 3, registered: 0));

        // A disabled key or one pending deletion still holds its payloads: registering decrypts nothing.
        Assert.Equal(PayloadReferenceError.None, PayloadReferenceRules.CheckRegistration(Key(state: KeyState.Disabled), "r", KeyId, 2, registered: 0));
    }

    [Fact]
    public void A_payload_of_another_key_is_refused()
    {
        Assert.Equal(PayloadReferenceError.OtherKey, PayloadReferenceRules.CheckRegistration(Key(), "r", Guid.NewGuid(), 2, registered: 0));
    }

    [Theory]
    [InlineData(1)] // below the minimum
    [InlineData(4)] // above the current version
    [InlineData(0)]
    public void A_payload_under_a_version_the_key_cannot_read_is_refused(int version)
    {
        Assert.Equal(PayloadReferenceError.VersionNotReadable, PayloadReferenceRules.CheckRegistration(Key(), "r", KeyId, version, registered: 0));
    }

    [Fact]
    public void A_destroyed_version_or_key_or_a_version_the_key_never_had_is_refused()
    {
        Assert.Equal(PayloadReferenceError.VersionNotReadable, PayloadReferenceRules.CheckRegistration(Key(versionState: KeyVersionState.Destroyed), "r", KeyId, 2, 0));
        Assert.Equal(PayloadReferenceError.VersionNotReadable, PayloadReferenceRules.CheckRegistration(Key(versionState: null), "r", KeyId, 2, 0));
        Assert.Equal(PayloadReferenceError.VersionNotReadable, PayloadReferenceRules.CheckRegistration(Key(state: KeyState.Destroyed), "r", KeyId, 2, 0));
    }

    [Fact]
    public void An_invalid_reference_is_refused_before_anything_else()
    {
        Assert.Equal(PayloadReferenceError.InvalidReference, PayloadReferenceRules.CheckRegistration(Key(), " r", Guid.NewGuid(), 9, registered: 0));
    }

    [Fact]
    public void A_key_holds_at_most_the_cap_of_references()
    {
        Assert.Equal(PayloadReferenceError.None, PayloadReferenceRules.CheckRegistration(Key(), "r", KeyId, 2, PayloadReferenceRules.MaxPerKey - 1));
        Assert.Equal(PayloadReferenceError.QuotaExceeded, PayloadReferenceRules.CheckRegistration(Key(), "r", KeyId, 2, PayloadReferenceRules.MaxPerKey));
    }

    [Theory]
    [InlineData(1, 2, 0, false, true)]   // nothing registered below: as before
    [InlineData(1, 2, 3, false, false)]  // three payloads would be stranded
    [InlineData(1, 2, 3, true, true)]    // forced
    [InlineData(2, 2, 3, false, true)]   // unchanged
    [InlineData(3, 2, 3, false, true)]   // lowered
    public void Raising_the_minimum_above_registered_payloads_needs_force(int current, int requested, long heldBelow, bool force, bool allowed)
    {
        Assert.Equal(allowed, PayloadReferenceRules.MayRaiseMinDecryptionVersion(current, requested, heldBelow, force));
    }
}
