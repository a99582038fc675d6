using Mislata.Core.Encryption;
using Mislata.Core.Keys;
using Mislata.Crypto.Algorithms;

namespace Mislata.Api.Tests.Encryption;

/// <summary>The pure rules of the operations (Core/Encryption): state before capability, readable versions, context bounds, the slow-signature gate.</summary>
public sealed class OperationRulesTests
{
    private static KeySnapshot Snapshot(string algorithm, KeyState state = KeyState.Enabled, int current = 1, int min = 1, KeyType? type = null, params (int Version, KeyVersionState State)[] versions)
    {
        Assert.True(KeyCatalogue.TryResolve(algorithm, type, out var info, out var keyType, out var reason), reason);
        var states = Enumerable.Range(1, current).ToDictionary(v => v, v => v == current ? KeyVersionState.Active : KeyVersionState.Deprecated);
        foreach (var (v, s) in versions)
        {
            states[v] = s;
        }

        return new KeySnapshot(Guid.NewGuid(), Guid.NewGuid(), info, keyType, state, current, min, states);
    }

    public static TheoryData<string, string?> AllAlgorithms()
    {
        var data = new TheoryData<string, string?>();
        foreach (var algorithm in KeyCatalogue.Algorithms)
        {
            data.Add(algorithm, null);
        }

        data.Add(AlgorithmNames.Rsa2048, "signing");
        return data;
    }

    [Theory]
    [MemberData(nameof(AllAlgorithms))]
    public void Each_algorithm_allows_exactly_the_operations_of_its_catalogue_entry(string algorithm, string? type)
    {
        KeyType? keyType = type is null ? null : KeyCatalogue.TryParseType(type, out var t) ? t : throw new ArgumentException(type);
        var key = Snapshot(algorithm, type: keyType);
        var allowed = KeyCatalogue.Operations(key.Algorithm, key.Type);
        foreach (var (operation, name) in new[]
        {
            (Operation.Encrypt, "encrypt"), (Operation.Decrypt, "decrypt"), (Operation.Rewrap, "rewrap"), (Operation.DataKey, "datakey"),
            (Operation.Sign, "sign"), (Operation.Verify, "verify"), (Operation.Hmac, "hmac"), (Operation.HmacVerify, "hmac/verify"),
        })
        {
            Assert.Equal(allowed.Contains(name) ? OperationError.None : OperationError.AlgorithmMismatch, OperationRules.CheckUse(key, operation));
        }
    }

    [Theory]
    [InlineData(KeyState.Disabled)]
    [InlineData(KeyState.PendingDeletion)]
    public void A_key_that_is_not_enabled_refuses_every_operation_even_those_its_algorithm_cannot_do(KeyState state)
    {
        var key = Snapshot(AlgorithmNames.Aes256Gcm, state);
        Assert.All(Enum.GetValues<Operation>(), op => Assert.Equal(OperationError.StateInvalid, OperationRules.CheckUse(key, op)));
    }

    [Fact]
    public void A_destroyed_key_fails_reads_as_decryption_failed_and_writes_as_state_invalid()
    {
        var key = Snapshot(AlgorithmNames.MlKem768, KeyState.Destroyed, versions: (1, KeyVersionState.Destroyed));
        Assert.Equal(OperationError.DecryptionFailed, OperationRules.CheckUse(key, Operation.Decrypt));
        Assert.Equal(OperationError.DecryptionFailed, OperationRules.CheckUse(key, Operation.Rewrap));
        Assert.Equal(OperationError.DecryptionFailed, OperationRules.CheckUse(key, Operation.Verify));
        Assert.Equal(OperationError.StateInvalid, OperationRules.CheckUse(key, Operation.Encrypt));
        Assert.Equal(OperationError.StateInvalid, OperationRules.CheckUse(key, Operation.DataKey));
        Assert.Equal(OperationError.StateInvalid, OperationRules.CheckUse(key, Operation.Sign));
    }

    [Fact]
    public void Readable_versions_run_from_the_minimum_to_the_current_one_without_destroyed_ones_newest_first()
    {
        var key = Snapshot(AlgorithmNames.MlDsa65, current: 5, min: 2, versions: (3, KeyVersionState.Destroyed));
        Assert.Equal([5, 4, 2], OperationRules.ReadableVersions(key));
        Assert.False(OperationRules.CanRead(key, 1));
        Assert.False(OperationRules.CanRead(key, 3));
        Assert.False(OperationRules.CanRead(key, 6));
        Assert.False(OperationRules.CanRead(key, 0));
        Assert.True(OperationRules.CanRead(key, 2));
    }

    [Theory]
    [InlineData(AlgorithmNames.MlDsa44, 255, true)]
    [InlineData(AlgorithmNames.MlDsa87, 256, false)]
    [InlineData(AlgorithmNames.SlhDsaSha2_128s, 255, true)]
    [InlineData(AlgorithmNames.SlhDsaSha2_128f, 256, false)]
    [InlineData(AlgorithmNames.Ed25519, 0, true)]
    [InlineData(AlgorithmNames.Ed25519, 1, false)]
    [InlineData(AlgorithmNames.EcdsaP384, 1, false)]
    public void Signature_contexts_are_bounded_by_the_algorithm(string algorithm, int bytes, bool allowed)
    {
        var key = Snapshot(algorithm);
        Assert.Equal(allowed ? OperationError.None : OperationError.InvalidContext, OperationRules.CheckContext(key, Operation.Sign, bytes, out var reason));
        Assert.Equal(allowed, reason is null);
        Assert.Equal(allowed ? OperationError.None : OperationError.InvalidContext, OperationRules.CheckContext(key, Operation.Verify, bytes, out _));
    }

    [Fact]
    public void Encryption_contexts_are_bounded_and_only_slh_dsa_is_a_slow_signature()
    {
        var key = Snapshot(AlgorithmNames.Aes256Gcm);
        Assert.Equal(OperationError.None, OperationRules.CheckContext(key, Operation.Encrypt, OperationRules.MaxEncryptionContextBytes, out _));
        Assert.Equal(OperationError.InvalidContext, OperationRules.CheckContext(key, Operation.Encrypt, OperationRules.MaxEncryptionContextBytes + 1, out _));
        Assert.Equal(
            [AlgorithmNames.SlhDsaSha2_128s, AlgorithmNames.SlhDsaSha2_128f],
            KeyCatalogue.Algorithms.Where(a => OperationRules.IsSlowSignature(AlgorithmRegistry.Default.Get(a).Info)));
    }

    [Fact]
    public void The_default_key_type_follows_the_operation()
    {
        Assert.Equal(KeyType.Encryption, OperationRules.DefaultTypeFor(Operation.Encrypt));
        Assert.Equal(KeyType.Encryption, OperationRules.DefaultTypeFor(Operation.DataKey));
        Assert.Equal(KeyType.Signing, OperationRules.DefaultTypeFor(Operation.Verify));
        Assert.Equal(KeyType.Hmac, OperationRules.DefaultTypeFor(Operation.Hmac));
    }

    [Fact]
    public void The_slow_signature_gate_refuses_when_full_and_a_released_slot_is_free_again_once()
    {
        using var gate = new SlowSignatureGate(2);
        var a = gate.TryEnter();
        var b = gate.TryEnter();
        Assert.NotNull(a);
        Assert.NotNull(b);
        Assert.Null(gate.TryEnter());
        a!.Dispose();
        a.Dispose();
        Assert.Equal(1, gate.Free);
        using var c = gate.TryEnter();
        Assert.NotNull(c);
        Assert.Null(gate.TryEnter());
        b!.Dispose();
        Assert.Throws<ArgumentOutOfRangeException>(() => new SlowSignatureGate(0));
    }
}
