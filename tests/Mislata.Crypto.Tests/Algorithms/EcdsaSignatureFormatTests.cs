using System.Formats.Asn1;
using System.Security.Cryptography;
using Mislata.Crypto.Algorithms;

namespace Mislata.Crypto.Tests.Algorithms;

/// <summary>
/// ECDSA signatures: the API format is IEEE P1363 r‖s at the curve's fixed field length; DER (RFC 3279) is accepted only by
/// <see cref="EcdsaAlgorithm.VerifyDer"/> and only in strict DER with positive r and s. Cross-checked with .NET's ECDsa.
/// </summary>
public sealed class EcdsaSignatureFormatTests
{
    private static readonly EcdsaAlgorithm P256 = (EcdsaAlgorithm)AlgorithmRegistry.Default.Get("ECDSA-P256");
    private static readonly byte[] Message = "ecdsa formats"u8.ToArray();

    private static (KeyMaterial Key, ECDsa Net) Pair(string label)
    {
        var key = P256.Generate(KeyType.Signing, new DeterministicRandom(label));
        var net = ECDsa.Create();
        net.ImportPkcs8PrivateKey(key.Secret, out _);
        return (key, net);
    }

    private static (byte[] R, byte[] S) Integers(byte[] der)
    {
        var seq = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        return (seq.ReadIntegerBytes().ToArray(), seq.ReadIntegerBytes().ToArray());
    }

    /// <summary>SEQUENCE { INTEGER r, INTEGER s } from the given two's-complement contents (written as they are).</summary>
    private static byte[] Der(byte[] r, byte[] s, byte[]? extra = null)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteInteger(r);
            w.WriteInteger(s);
            if (extra is not null)
            {
                w.WriteInteger(extra);
            }
        }

        return w.Encode();
    }

    [Fact]
    public void A_P1363_signature_verifies_both_ways_with_dotnet_and_the_same_signature_in_DER_verifies_through_VerifyDer()
    {
        var (key, net) = Pair("formats/both");
        using (key)
        using (net)
        {
            var ours = P256.Sign(key, Message, [], new DeterministicRandom("unused"));
            Assert.Equal(64, ours.Length);
            Assert.True(net.VerifyData(Message, ours, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
            Assert.True(P256.Verify(key.PublicKey!, Message, [], net.SignData(Message, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)));

            var der = net.SignData(Message, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
            Assert.True(P256.VerifyDer(key.PublicKey!, Message, der));
            Assert.False(P256.VerifyDer(key.PublicKey!, "other"u8, der));
            // The API format is P1363 only: a DER signature is refused by Verify, a P1363 one by VerifyDer.
            Assert.False(P256.Verify(key.PublicKey!, Message, [], der));
            Assert.False(P256.VerifyDer(key.PublicKey!, Message, ours));
        }
    }

    [Fact]
    public void A_DER_signature_with_a_negative_r_or_s_trailing_bytes_a_third_integer_or_a_non_minimal_integer_is_refused()
    {
        var (key, net) = Pair("formats/strict");
        using (key)
        using (net)
        {
            // Find a signature whose r and s both have the high bit set (DER pads them with 0x00).
            byte[] der;
            do
            {
                der = net.SignData(Message, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
            }
            while (Integers(der) is not ({ Length: 33 } r0, { Length: 33 } s0) || r0[0] != 0 || s0[0] != 0);

            var (r, s) = Integers(der);
            Assert.True(P256.VerifyDer(key.PublicKey!, Message, Der(r, s)));
            // The same magnitudes without their 0x00 pad read as negative integers in DER.
            Assert.False(P256.VerifyDer(key.PublicKey!, Message, Der(r[1..], s)));
            Assert.False(P256.VerifyDer(key.PublicKey!, Message, Der(r, s[1..])));
            Assert.False(P256.VerifyDer(key.PublicKey!, Message, [.. der, 0x00]));
            Assert.False(P256.VerifyDer(key.PublicKey!, Message, Der(r, s, [0x01])));
            // Not DER: a length in long form for a short SEQUENCE; truncated.
            Assert.False(P256.VerifyDer(key.PublicKey!, Message, [0x30, 0x81, (byte)(der.Length - 2), .. der[2..]]));
            Assert.False(P256.VerifyDer(key.PublicKey!, Message, der[..^1]));
            Assert.False(P256.VerifyDer(key.PublicKey!, Message, []));
        }
    }

    [Fact]
    public void A_P1363_signature_of_the_wrong_length_or_with_a_context_is_refused_and_signing_refuses_a_context()
    {
        var (key, net) = Pair("formats/length");
        using (key)
        using (net)
        {
            var ours = P256.Sign(key, Message, [], new DeterministicRandom("unused"));
            Assert.True(P256.Verify(key.PublicKey!, Message, [], ours));
            Assert.False(P256.Verify(key.PublicKey!, Message, "c"u8, ours));
            Assert.False(P256.Verify(key.PublicKey!, Message, [], [.. ours, 0]));
            Assert.False(P256.Verify(key.PublicKey!, Message, [], [0, .. ours]));
            Assert.Equal(CryptoError.InvalidArgument, Assert.Throws<CryptoException>(() => P256.Sign(key, Message, "c"u8, new DeterministicRandom("unused"))).Error);
        }
    }

    [Fact]
    public void Verifying_against_a_public_key_that_is_not_on_the_curve_answers_false_instead_of_throwing()
    {
        var point = new byte[65];
        point[0] = 4;
        point[32] = 1;
        point[64] = 1;
        var offCurve = new PublicKey("ECDSA-P256", KeyType.Signing, point);
        Assert.False(P256.Verify(offCurve, Message, [], new byte[64]));
    }
}
