using System.Security.Cryptography;
using System.Text;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Payloads;
using Mislata.Crypto.Primitives;

namespace Mislata.Crypto.Tests.Primitives;

/// <summary>
/// The AES-GCM contexts an AES key keeps for reuse (<see cref="AesGcmPool"/>): shared safely by concurrent callers, the
/// same payloads as a key without a pool, and freed with the key.
/// </summary>
public sealed class AesGcmPoolTests
{
    private static readonly Guid KeyId = Guid.Parse("0d6f3c2a-8f0e-4a57-9d7c-1b2e3f405161");

    private static KeyMaterial Key() =>
        AlgorithmRegistry.Default.Generate(AlgorithmNames.Aes256Gcm, KeyType.Symmetric, new DeterministicRandom("aes-gcm-pool"));

    [Fact]
    public async Task Concurrent_callers_of_one_key_each_get_their_own_context_and_every_payload_decrypts_with_a_fresh_copy_of_the_key()
    {
        using var key = Key();
        var stored = key.ExportForStorage();
        using var copy = KeyMaterial.FromStorage(stored);
        CryptographicOperations.ZeroMemory(stored);

        var tasks = Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            var random = new DeterministicRandom("pool-thread-" + t);
            for (var i = 0; i < 200; i++)
            {
                var text = $"thread {t} item {i}";
                var payload = EncryptedPayloadCodec.Encrypt(key, KeyId, 1, Encoding.UTF8.GetBytes(text), "utf8", "ctx-" + t, random);
                Assert.Equal(text, Encoding.UTF8.GetString(EncryptedPayloadCodec.Decrypt(key, payload, "ctx-" + t).Plaintext));
                Assert.Equal(text, Encoding.UTF8.GetString(EncryptedPayloadCodec.Decrypt(copy, payload, "ctx-" + t).Plaintext));
                var wrongContext = Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Decrypt(key, payload, "other"));
                Assert.Equal(CryptoError.DecryptionFailed, wrongContext.Error);
            }
        }));
        await Task.WhenAll(tasks);
    }

    [Fact]
    public void A_disposed_key_encrypts_and_decrypts_nothing_more()
    {
        var key = Key();
        var payload = EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "secret"u8, "utf8", null, new DeterministicRandom("disposed"));
        key.Dispose();

        Assert.Throws<ObjectDisposedException>(() => EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, "utf8", null, new DeterministicRandom("d2")));
        Assert.Throws<ObjectDisposedException>(() => EncryptedPayloadCodec.Decrypt(key, payload, null));
    }

    [Fact]
    public void Disposing_the_pool_frees_its_idle_contexts_and_a_context_given_back_later()
    {
        using var key = Key();
        var pool = new AesGcmPool(key);
        var contexts = Enumerable.Range(0, AesGcmPool.Capacity + 2).Select(_ => pool.Rent()).ToList();
        Assert.Equal(contexts.Count, contexts.Distinct().Count());

        // Capacity contexts stay idle; the two beyond it are freed as they come back.
        foreach (var gcm in contexts.Take(AesGcmPool.Capacity + 1))
        {
            pool.Return(gcm);
        }

        Assert.Throws<ObjectDisposedException>(() => Use(contexts[AesGcmPool.Capacity]));
        using var rented = pool.Rent();
        Assert.Contains(rented, contexts.Take(AesGcmPool.Capacity));

        pool.Dispose();
        Assert.All(contexts.Take(AesGcmPool.Capacity - 1).Skip(1), gcm => Assert.Throws<ObjectDisposedException>(() => Use(gcm)));

        var late = contexts[AesGcmPool.Capacity + 1];
        Use(late);
        pool.Return(late);
        Assert.Throws<ObjectDisposedException>(() => Use(late));
    }

    private static void Use(AesGcm gcm) =>
        gcm.Encrypt(new byte[AesGcmPrimitive.NonceLength], "x"u8, new byte[1], new byte[AesGcmPrimitive.TagLength]);
}
