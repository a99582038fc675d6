using System.Security.Cryptography;
using System.Xml.Linq;
using Microsoft.Extensions.DependencyInjection;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.DataProtection;

namespace Mislata.Infrastructure.Tests.DataProtection;

public sealed class MasterKeyXmlEncryptorTests
{
    private static readonly XElement Secret = XElement.Parse("<masterKey><value>c2VjcmV0LWtleS1tYXRlcmlhbA==</value></masterKey>");

    private static MasterKeyRing Ring(string current, string? previous = null) => MasterKeyRing.FromBase64(current, previous);

    private static MasterKeyXmlDecryptor Decryptor(MasterKeyRing ring) =>
        new(new ServiceCollection().AddSingleton(ring).BuildServiceProvider());

    [Fact]
    public void Round_trips_and_the_stored_element_contains_no_key_material()
    {
        using var ring = Ring(TestEnvironment.NewMasterKey());
        var encrypted = new MasterKeyXmlEncryptor(ring).Encrypt(Secret);

        var text = encrypted.EncryptedElement.ToString();
        Assert.DoesNotContain("masterKey>", text, StringComparison.Ordinal);
        Assert.DoesNotContain("c2VjcmV0LWtleS1tYXRlcmlhbA", text, StringComparison.Ordinal);
        Assert.Equal(typeof(MasterKeyXmlDecryptor), encrypted.DecryptorType);
        Assert.Equal(ring.Current.Id, (string?)encrypted.EncryptedElement.Attribute("masterKeyId"));
        Assert.Equal(Secret.ToString(), Decryptor(ring).Decrypt(encrypted.EncryptedElement).ToString());
    }

    [Fact]
    public void Entries_written_before_a_master_key_rotation_decrypt_with_the_previous_key()
    {
        var (oldKey, newKey) = (TestEnvironment.NewMasterKey(), TestEnvironment.NewMasterKey());
        using var before = Ring(oldKey);
        var encrypted = new MasterKeyXmlEncryptor(before).Encrypt(Secret);

        using var during = Ring(newKey, oldKey);
        Assert.Equal(Secret.ToString(), Decryptor(during).Decrypt(encrypted.EncryptedElement).ToString());

        using var after = Ring(newKey);
        var ex = Assert.Throws<CryptographicException>(() => Decryptor(after).Decrypt(encrypted.EncryptedElement));
        Assert.Contains(before.Current.Id, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_changed_byte_or_a_moved_master_key_id_is_refused()
    {
        using var ring = Ring(TestEnvironment.NewMasterKey());
        var element = new MasterKeyXmlEncryptor(ring).Encrypt(Secret).EncryptedElement;
        var value = element.Elements().Single(e => e.Name.LocalName == "value");
        var blob = Convert.FromBase64String(value.Value);

        for (var i = 0; i < blob.Length; i += 7)
        {
            var tampered = (byte[])blob.Clone();
            tampered[i] ^= 0x01;
            var copy = new XElement(element);
            copy.Elements().Single(e => e.Name.LocalName == "value").Value = Convert.ToBase64String(tampered);
            Assert.ThrowsAny<CryptographicException>(() => Decryptor(ring).Decrypt(copy));
        }

        var truncated = new XElement(element);
        truncated.Elements().Single(e => e.Name.LocalName == "value").Value = Convert.ToBase64String(blob[..20]);
        Assert.ThrowsAny<CryptographicException>(() => Decryptor(ring).Decrypt(truncated));
    }
}
