using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Payloads;

namespace Mislata.Crypto.Tests.Payloads;

/// <summary>
/// Properties of the <c>encryptedPayload</c> codec over generated inputs (CsCheck; a failure prints the shrunk input
/// and the seed to replay it): what Encrypt writes, Parse and Decrypt give back; any changed byte or field of a valid
/// payload is refused (CRYPTO.md: "any changed byte → decryption_failed").
/// </summary>
public sealed class EncryptedPayloadPropertyTests
{
    private static readonly string[] Schemes = [.. PayloadSchemes.All];

    private static readonly Lazy<KeyMaterial[]> SchemeKeys = new(() =>
    [
        .. Schemes.Select(scheme =>
        {
            var algorithm = scheme switch
            {
                PayloadSchemes.MlKem512 => AlgorithmNames.MlKem512,
                PayloadSchemes.MlKem768 => AlgorithmNames.MlKem768,
                PayloadSchemes.MlKem1024 => AlgorithmNames.MlKem1024,
                PayloadSchemes.RsaOaep256 => AlgorithmNames.Rsa2048,
                _ => AlgorithmNames.Aes256Gcm,
            };
            return AlgorithmRegistry.Default.Generate(algorithm, AlgorithmRegistry.Default.Get(algorithm).Info.DefaultKeyType, new DeterministicRandom("property/" + scheme));
        }),
    ]);

    /// <summary>One payload's inputs: which scheme's key, plaintext, key id and version, encoding, context (null: none).</summary>
    private sealed record Input(int Scheme, byte[] Plaintext, Guid KeyId, int KeyVersion, string Encoding, string? Context)
    {
        public KeyMaterial Key => SchemeKeys.Value[Scheme];

        public string Encrypt(string randomLabel) =>
            EncryptedPayloadCodec.Encrypt(Key, KeyId, KeyVersion, Plaintext, Encoding, Context, new DeterministicRandom(randomLabel));

        public override string ToString() =>
            $"{Schemes[Scheme]}, {Plaintext.Length} B plaintext, kv {KeyVersion}, {Encoding}, context {(Context is null ? "none" : Context.Length + " chars")}";
    }

    private static readonly Gen<Input> Inputs =
        Gen.Select(
            Gen.Int[0, Schemes.Length - 1],
            Gen.Byte.Array[0, 300],
            Gen.Guid,
            Gen.OneOf(Gen.Int[1, 5], Gen.Int[1, int.MaxValue]),
            Gen.OneOf(PlaintextEncodings.Utf8, PlaintextEncodings.Base64),
            Gen.String[0, 40].Null(0.3))
        .Select(t => new Input(t.Item1, t.Item2, t.Item3, t.Item4, t.Item5, t.Item6));

    [Fact]
    public void Parse_and_decrypt_give_back_what_encrypt_was_given()
    {
        Inputs.Sample(input =>
        {
            var payload = input.Encrypt("roundtrip/" + input.KeyId);
            var parsed = EncryptedPayloadCodec.Parse(payload);
            Assert.Equal(
                (EncryptedPayloadCodec.FormatVersion, Schemes[input.Scheme], input.KeyId, input.KeyVersion, input.Encoding),
                (parsed.Version, parsed.Scheme, parsed.KeyId, parsed.KeyVersion, parsed.Encoding));
            Assert.Equal(input.Plaintext.Length, parsed.Ciphertext.Length);
            var decrypted = EncryptedPayloadCodec.Decrypt(input.Key, parsed, input.Context);
            Assert.Equal(input.Plaintext, decrypted.Plaintext);
            Assert.Equal((input.KeyId, input.KeyVersion, input.Encoding), (decrypted.KeyId, decrypted.KeyVersion, decrypted.Encoding));
        }, iter: 200);
    }

    [Fact]
    public void Any_single_byte_change_of_the_payload_json_is_refused()
    {
        Gen.Select(Inputs, Gen.Int[0, int.MaxValue], Gen.Byte[1, 255]).Sample((input, position, flip) =>
        {
            var json = Convert.FromBase64String(input.Encrypt("json-byte/" + input.KeyId));
            json[position % json.Length] ^= flip;
            AssertRefused(input, Convert.ToBase64String(json));
        }, iter: 1000);
    }

    /// <summary>
    /// CRYPTO.md defines the payload as base64 of a JSON object, and JSON allows whitespace around its tokens (an
    /// independent encoder may write <c>{"v": 1, …}</c> or end with a newline), so a change that only adds or
    /// changes whitespace outside the values — e.g. a padding '=' of the last group turned into a character, which
    /// appends a CR, tab or space after the closing brace — is the same payload. Every other change is refused.
    /// </summary>
    [Fact]
    public void Any_single_character_change_of_the_base64_text_is_refused_unless_it_only_changes_json_whitespace()
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= -_.\n";
        Gen.Select(Inputs, Gen.Int[0, int.MaxValue], Gen.Int[0, alphabet.Length - 1]).Sample((input, position, replacement) =>
        {
            var text = input.Encrypt("text-char/" + input.KeyId).ToCharArray();
            var at = position % text.Length;
            var c = alphabet[replacement];
            var original = text[at];
            var payload = new string(text);
            text[at] = c == text[at] ? alphabet[(replacement + 1) % alphabet.Length] : c;
            var tampered = new string(text);
            if (SameJsonDocument(payload, tampered))
            {
                Assert.Equal(input.Plaintext, EncryptedPayloadCodec.Decrypt(input.Key, tampered, input.Context).Plaintext);
                return;
            }

            AssertRefused(input, tampered, $"character {at} of {text.Length} '{original}' → '{text[at]}'");
        }, iter: 1000);
    }

    /// <summary>
    /// Exhaustive where the generated samples are sparse: every byte of one payload per scheme, with the bit flips
    /// that keep ASCII printable or change a letter's case (the cheapest way to keep a JSON document well-formed).
    /// </summary>
    [Fact]
    public void Every_byte_of_a_payload_json_flipped_in_case_or_low_bit_is_refused()
    {
        for (var scheme = 0; scheme < Schemes.Length; scheme++)
        {
            var input = new Input(scheme, "attack at dawn"u8.ToArray(), Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"), 3, PlaintextEncodings.Utf8, "ctx");
            var json = Convert.FromBase64String(input.Encrypt("every-byte/" + scheme));
            for (var i = 0; i < json.Length; i++)
            {
                foreach (var flip in new byte[] { 0x01, 0x20 })
                {
                    var tampered = (byte[])json.Clone();
                    tampered[i] ^= flip;
                    AssertRefused(input, Convert.ToBase64String(tampered), $"byte {i} ('{(char)json[i]}') ^ 0x{flip:x2}");
                }
            }
        }
    }

    [Fact]
    public void Any_changed_field_is_refused()
    {
        var fields = new[] { "v", "a", "k", "kv", "ek", "n", "c", "t", "e" };
        Gen.Select(Inputs, Gen.Int[0, fields.Length - 1], Gen.Byte.Array[1, 64], Gen.Int[0, int.MaxValue]).Sample((input, f, bytes, number) =>
        {
            var payload = input.Encrypt("field/" + input.KeyId);
            var json = JsonNode.Parse(Convert.FromBase64String(payload))!.AsObject();
            var field = fields[f];
            if (!json.ContainsKey(field))
            {
                // A256GCM has no ek: adding one is the change.
                json[field] = Convert.ToBase64String(bytes);
            }
            else
            {
                json[field] = field switch
                {
                    "v" => number == EncryptedPayloadCodec.FormatVersion ? 0 : number,
                    "kv" => number == input.KeyVersion ? number - 1 : number,
                    "a" => Schemes[(input.Scheme + 1 + (number % (Schemes.Length - 1))) % Schemes.Length],
                    "k" => new Guid(System.Security.Cryptography.SHA256.HashData(bytes)[..16]).ToString("D"),
                    "e" => input.Encoding == PlaintextEncodings.Utf8 ? PlaintextEncodings.Base64 : PlaintextEncodings.Utf8,
                    _ => Convert.ToBase64String(Changed(Convert.FromBase64String(json[field]!.GetValue<string>()), bytes, number)),
                };
            }

            AssertRefused(input, Convert.ToBase64String(Encoding.UTF8.GetBytes(json.ToJsonString())), "field " + field);
        }, iter: 500);
    }

    /// <summary>The same length with at least one byte changed (changes from <paramref name="bytes"/>); empty → not empty.</summary>
    private static byte[] Changed(byte[] original, byte[] bytes, int number)
    {
        if (original.Length == 0)
        {
            return bytes;
        }

        var changed = (byte[])original.Clone();
        for (var i = 0; i < bytes.Length; i++)
        {
            changed[(number + (i * 7)) % changed.Length] ^= bytes[i];
        }

        if (changed.AsSpan().SequenceEqual(original))
        {
            changed[number % changed.Length] ^= 0x80;
        }

        return changed;
    }

    /// <summary>Decrypt must fail with the codec's own error (any other exception escapes and fails the test too).</summary>
    /// <summary>The tampered text is canonical base64 of a JSON document equal, member for member, to the original's.</summary>
    private static bool SameJsonDocument(string payload, string tampered)
    {
        if (EncryptedPayloadCodec.StrictBase64(tampered) is not { } bytes)
        {
            return false;
        }

        try
        {
            return JsonNode.DeepEquals(JsonNode.Parse(Convert.FromBase64String(payload)), JsonNode.Parse(bytes));
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or ArgumentException)
        {
            return false; // not JSON, not UTF-8, or a repeated member
        }
    }

    private static void AssertRefused(Input input, string tampered, string? what = null)
    {
        CryptoError? error = null;
        try
        {
            EncryptedPayloadCodec.Decrypt(input.Key, tampered, input.Context);
        }
        catch (CryptoException e)
        {
            error = e.Error;
        }

        if (error is null)
        {
            var json = EncryptedPayloadCodec.StrictBase64(tampered) is { } bytes ? Encoding.UTF8.GetString(bytes) : tampered;
            Assert.Fail($"a changed payload was accepted ({what}): {json[..Math.Min(160, json.Length)]}");
        }

        Assert.True(error is CryptoError.InvalidPayload or CryptoError.DecryptionFailed or CryptoError.AlgorithmMismatch, $"{what}: {error}");
    }
}
