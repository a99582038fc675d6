using Mislata.Crypto.Entropy;
using Xunit;

namespace Mislata.Crypto.Tests.Entropy;

/// <summary>
/// NIST CAVP known answers for HMAC_DRBG (SP 800-90A), file HMAC_DRBG.rsp, [SHA-256], PredictionResistance = False,
/// EntropyInputLen = 256, NonceLen = 128, PersonalizationStringLen = 0, AdditionalInputLen = 0,
/// ReturnedBitsLen = 1024: instantiate, generate 1024 bits and discard them, generate 1024 bits = ReturnedBits.
/// </summary>
public sealed class HmacDrbgKnownAnswerTests
{
    [Theory]
    [InlineData(
        "ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488",
        "659ba96c601dc69fc902940805ec0ca8",
        "e528e9abf2dece54d47c7e75e5fe302149f817ea9fb4bee6f4199697d04d5b89d54fbb978a15b5c443c9ec21036d2460b6f73ebad0dc2aba6e624abf07745bc107694bb7547bb0995f70de25d6b29e2d3011bb19d27676c07162c8b5ccde0668961df86803482cb37ed6d5c0bb8d50cf1f50d476aa0458bdaba806f48be9dcb8")]
    [InlineData(
        "79737479ba4e7642a221fcfd1b820b134e9e3540a35bb48ffae29c20f5418ea3",
        "3593259c092bef4129bc2c6c9e19f343",
        "cf5ad5984f9e43917aa9087380dac46e410ddc8a7731859c84e9d0f31bd43655b924159413e2293b17610f211e09f770f172b8fb693a35b85d3b9e5e63b1dc252ac0e115002e9bedfb4b5b6fd43f33b8e0eafb2d072e1a6fee1f159df9b51e6c8da737e60d5032dd30544ec51558c6f080bdbdab1de8a939e961e06b5f1aca37")]
    public void Cavp_sha256_no_prediction_resistance(string entropy, string nonce, string returnedBits)
    {
        using var drbg = new HmacDrbg();
        drbg.Instantiate(Convert.FromHexString(entropy), Convert.FromHexString(nonce), []);
        var output = new byte[128];
        drbg.Generate(output, []);
        drbg.Generate(output, []);

        Assert.Equal(returnedBits, Convert.ToHexStringLower(output));
    }
}
