using Mislata.Core.Keys;
using Mislata.Crypto.Algorithms;

namespace Mislata.Api.Tests.Keys;

/// <summary>The pure rules of a key (Core/Keys): algorithm catalogue, versions, states, deletion window, bounds.</summary>
public sealed class KeyRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);
    private static readonly Guid Tenant = Guid.Parse("11111111-1111-1111-1111-111111111111");

    private static SealedVersionMaterial Material(byte marker = 1) => new([marker, 2, 3], 1, [9, 9]);

    private static Key NewKey(string algorithm = AlgorithmNames.MlKem768, KeyType? type = null)
    {
        Assert.True(KeyCatalogue.TryResolve(algorithm, type, out var info, out var keyType, out var reason), reason);
        return Key.Create(Guid.NewGuid(), Tenant, "k", info, keyType, KeyOrigin.Generated, Material(), "actor", T0);
    }

    [Fact]
    public void The_catalogue_names_exactly_the_algorithms_of_API_md_and_each_resolves()
    {
        Assert.Equal(
            ["ML-KEM-512", "ML-KEM-768", "ML-KEM-1024", "AES-256-GCM", "RSA-2048", "RSA-3072", "RSA-4096", "ML-DSA-44", "ML-DSA-65", "ML-DSA-87",
             "SLH-DSA-SHA2-128s", "SLH-DSA-SHA2-128f", "ECDSA-P256", "ECDSA-P384", "Ed25519", "HMAC-SHA256", "HMAC-SHA512"],
            KeyCatalogue.Algorithms);
        Assert.All(KeyCatalogue.Algorithms, a => Assert.True(KeyCatalogue.TryResolve(a, null, out _, out _, out _), a));
        Assert.False(KeyCatalogue.TryResolve("ml-kem-768", null, out _, out _, out var reason));
        Assert.Contains("not an algorithm", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, null, "ML-KEM-768", KeyType.Encryption)]
    [InlineData(null, KeyType.Encryption, "ML-KEM-768", KeyType.Encryption)]
    [InlineData(null, KeyType.Signing, "ML-DSA-65", KeyType.Signing)]
    [InlineData(null, KeyType.Hmac, "HMAC-SHA256", KeyType.Hmac)]
    [InlineData(null, KeyType.Symmetric, "AES-256-GCM", KeyType.Symmetric)]
    [InlineData("RSA-3072", null, "RSA-3072", KeyType.Encryption)]
    [InlineData("RSA-3072", KeyType.Signing, "RSA-3072", KeyType.Signing)]
    [InlineData("Ed25519", null, "Ed25519", KeyType.Signing)]
    [InlineData("HMAC-SHA512", null, "HMAC-SHA512", KeyType.Hmac)]
    public void Defaults_are_ML_KEM_768_for_encryption_and_ML_DSA_65_for_signing_and_RSA_is_OAEP_unless_created_as_signing(
        string? algorithm, KeyType? type, string expectedAlgorithm, KeyType expectedType)
    {
        Assert.True(KeyCatalogue.TryResolve(algorithm, type, out var info, out var keyType, out var reason), reason);
        Assert.Equal(expectedAlgorithm, info.Name);
        Assert.Equal(expectedType, keyType);
    }

    [Theory]
    [InlineData("ML-KEM-768", KeyType.Signing)]
    [InlineData("ML-DSA-65", KeyType.Encryption)]
    [InlineData("AES-256-GCM", KeyType.Encryption)]
    [InlineData("HMAC-SHA256", KeyType.Symmetric)]
    [InlineData("Ed25519", KeyType.Hmac)]
    public void A_type_the_algorithm_cannot_be_is_refused(string algorithm, KeyType type) =>
        Assert.False(KeyCatalogue.TryResolve(algorithm, type, out _, out _, out _));

    [Fact]
    public void Each_key_type_allows_only_its_operations()
    {
        var registry = AlgorithmRegistry.Default;
        Assert.True(registry.TryGet("RSA-2048", out var rsa));
        Assert.Equal(["encrypt", "decrypt", "rewrap", "datakey"], KeyCatalogue.Operations(rsa, KeyType.Encryption));
        Assert.Equal(["sign", "verify"], KeyCatalogue.Operations(rsa, KeyType.Signing));
        Assert.True(registry.TryGet("HMAC-SHA256", out var hmac));
        Assert.Equal(["hmac", "hmac/verify"], KeyCatalogue.Operations(hmac, KeyType.Hmac));
        Assert.Empty(KeyCatalogue.Operations(hmac, KeyType.Signing));
    }

    [Fact]
    public void Rotation_makes_a_new_current_version_and_deprecates_the_older_ones()
    {
        var key = NewKey();
        Assert.Equal(KeyError.None, key.Rotate(Material(2), T0.AddDays(1)));
        Assert.Equal(KeyError.None, key.Rotate(Material(3), T0.AddDays(2)));

        Assert.Equal(3, key.CurrentVersion);
        Assert.Equal([KeyVersionState.Deprecated, KeyVersionState.Deprecated, KeyVersionState.Active], key.Versions.Select(v => v.State));
        Assert.Equal([1, 2, 3], key.Versions.Select(v => v.Version));
        Assert.Equal(3, key.Version(3)!.SealedMaterial[0]);
    }

    [Fact]
    public void Only_an_enabled_key_rotates()
    {
        var key = NewKey();
        key.Disable(T0);
        Assert.Equal(KeyError.StateInvalid, key.Rotate(Material(2), T0));
        Assert.Equal(1, key.CurrentVersion);
    }

    [Fact]
    public void The_minimum_decryption_version_lies_between_1_and_the_current_version()
    {
        var key = NewKey();
        key.Rotate(Material(2), T0);
        Assert.Equal(KeyError.VersionOutOfRange, key.SetMinDecryptionVersion(0, T0));
        Assert.Equal(KeyError.VersionOutOfRange, key.SetMinDecryptionVersion(3, T0));
        Assert.Equal(KeyError.None, key.SetMinDecryptionVersion(2, T0));
        Assert.Equal(2, key.MinDecryptionVersion);
    }

    [Fact]
    public void Disable_and_enable_move_between_the_two_states_and_disabling_drops_the_default_flag()
    {
        var key = NewKey();
        Assert.Equal(KeyError.None, key.SetDefault(true, T0));
        Assert.Equal(KeyError.None, key.Disable(T0));
        Assert.Equal(KeyState.Disabled, key.State);
        Assert.False(key.IsDefault);
        Assert.Equal(KeyError.StateInvalid, key.SetDefault(true, T0));
        Assert.Equal(KeyError.None, key.Enable(T0));
        Assert.Equal(KeyState.Enabled, key.State);
    }

    [Fact]
    public void Deletion_sets_the_date_at_the_end_of_the_window_and_refuses_changes_until_restored_as_disabled()
    {
        var key = NewKey();
        Assert.Equal(KeyError.None, key.ScheduleDeletion(7, T0));
        Assert.Equal(KeyState.PendingDeletion, key.State);
        Assert.Equal(T0.AddDays(7), key.DeletionDate);
        Assert.Equal(KeyError.StateInvalid, key.Enable(T0));
        Assert.Equal(KeyError.StateInvalid, key.Disable(T0));
        Assert.Equal(KeyError.StateInvalid, key.Rotate(Material(2), T0));
        Assert.Equal(KeyError.StateInvalid, key.SetMinDecryptionVersion(1, T0));
        Assert.Equal(KeyError.StateInvalid, key.ScheduleDeletion(30, T0));

        Assert.Equal(KeyError.None, key.Restore(T0.AddDays(6)));
        Assert.Equal(KeyState.Disabled, key.State);
        Assert.Null(key.DeletionDate);
    }

    [Theory]
    [InlineData(6)]
    [InlineData(31)]
    public void The_deletion_window_is_7_to_30_days(int days) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => NewKey().ScheduleDeletion(days, T0));

    [Fact]
    public void Restore_works_only_on_a_key_pending_deletion_and_before_its_date()
    {
        var key = NewKey();
        Assert.Equal(KeyError.StateInvalid, key.Restore(T0));
        key.ScheduleDeletion(7, T0);
        Assert.Equal(KeyError.StateInvalid, key.Restore(T0.AddDays(7)));
    }

    [Fact]
    public void Destruction_comes_only_after_the_window_is_final_and_erases_every_versions_material()
    {
        var key = NewKey();
        key.Rotate(Material(2), T0);
        key.ScheduleDeletion(7, T0);
        Assert.Equal(KeyError.StateInvalid, key.Destroy(T0.AddDays(7).AddTicks(-1)));
        Assert.Equal(KeyError.None, key.Destroy(T0.AddDays(7)));

        Assert.Equal(KeyState.Destroyed, key.State);
        Assert.All(key.Versions, v => Assert.Equal(KeyVersionState.Destroyed, v.State));
        Assert.All(key.Versions, v => Assert.Empty(v.SealedMaterial));
        Assert.Equal(KeyError.StateInvalid, key.Restore(T0.AddDays(8)));
        Assert.Equal(KeyError.StateInvalid, key.Enable(T0.AddDays(8)));
        Assert.Equal(KeyError.StateInvalid, key.Describe("d", null, null, false, T0.AddDays(8)));
    }

    [Fact]
    public void The_rotation_period_sets_the_next_rotation_from_the_current_versions_creation_and_zero_clears_it()
    {
        var key = NewKey();
        key.Describe(null, null, 90, false, T0.AddDays(1));
        Assert.Equal(T0.AddDays(90), key.NextRotationAt);
        key.Rotate(Material(2), T0.AddDays(10));
        Assert.Equal(T0.AddDays(100), key.NextRotationAt);
        key.Describe(null, null, null, true, T0.AddDays(11));
        Assert.Null(key.RotationPeriodDays);
        Assert.Null(key.NextRotationAt);
    }

    [Fact]
    public void Tags_are_trimmed_deduplicated_and_bounded_in_count_and_length()
    {
        Assert.Equal(["a", "b"], KeyLimits.NormaliseTags([" a ", "b", "a"], out _));
        Assert.Null(KeyLimits.NormaliseTags([.. Enumerable.Range(0, KeyLimits.MaxTags + 1).Select(i => "t" + i)], out _));
        Assert.Null(KeyLimits.NormaliseTags([new string('x', KeyLimits.MaxTagLength + 1)], out _));
        Assert.Null(KeyLimits.NormaliseTags(["", "a"], out _));
        Assert.Null(KeyLimits.NormaliseTags(["a\u0000"], out _));
        Assert.Null(KeyLimits.NormaliseTags([null], out _));
    }
}
