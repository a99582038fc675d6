using System.Security.Cryptography;
using System.Xml.Linq;
using Microsoft.Extensions.DependencyInjection;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.DataProtection;

namespace Mislata.Infrastructure.Tests.DataProtection;

public sealed class MasterKeyXmlEncryptorTests
{
    private static readonly XElement Secret = XElement.Parse("<masterKey><value>c2VjcmV0LWtleS1tYXRlcmlhbA==</value></masterKey>");

    private static PlatformKey Ring() => PlatformKey.Generate();

    private static MasterKeyXmlDecryptor Decryptor(PlatformKey ring) =>
        new(new ServiceCollection().AddSingleton(ring).BuildServiceProvider());

    [Fact]
    public void Round_trips_and_the_stored_element_contains_no_key_material()
    {
        using var ring = Ring();
        var encrypted = new MasterKeyXmlEncryptor(ring).Encrypt(Secret);

        var text = encrypted.EncryptedElement.ToString();
        Assert.DoesNotContain("masterKey>", text, StringComparison.Ordinal);
        Assert.DoesNotContain("c2VjcmV0LWtleS1tYXRlcmlhbA", text, StringComparison.Ordinal);
        Assert.Equal(typeof(MasterKeyXmlDecryptor), encrypted.DecryptorType);
        Assert.Equal(ring.Id, (string?)encrypted.EncryptedElement.Attribute("masterKeyId"));
        Assert.Equal(Secret.ToString(), Decryptor(ring).Decrypt(encrypted.EncryptedElement).ToString());
    }

    [Fact]
    public void Entries_of_a_legacy_installation_decrypt_with_its_platform_key_and_another_key_refuses_them_by_id()
    {
        // Before the key hierarchy, entries were encrypted under a key derived from the master key and named by its id;
        // a legacy installation's platform key is that master key, so they still decrypt.
        using var master = MasterKeyRing.FromBase64(TestEnvironment.NewMasterKey(), null);
        using var legacy = PlatformKey.FromLegacyMasterKey(master.Current);
        var encrypted = new MasterKeyXmlEncryptor(legacy).Encrypt(Secret);
        Assert.Equal(master.Current.Id, (string?)encrypted.EncryptedElement.Attribute("masterKeyId"));
        using var reloaded = PlatformKey.FromLegacyMasterKey(master.Current);
        Assert.Equal(Secret.ToString(), Decryptor(reloaded).Decrypt(encrypted.EncryptedElement).ToString());

        using var other = Ring();
        var ex = Assert.Throws<CryptographicException>(() => Decryptor(other).Decrypt(encrypted.EncryptedElement));
        Assert.Contains(master.Current.Id, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_changed_byte_or_a_moved_master_key_id_is_refused()
    {
        using var ring = Ring();
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
