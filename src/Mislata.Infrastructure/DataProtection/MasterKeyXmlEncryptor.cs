using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;

namespace Mislata.Infrastructure.DataProtection;

/// <summary>
/// Encrypts each ASP.NET Core Data Protection key-ring entry before it is written to Redis, with AES-256-GCM under a
/// key derived from the master key (HKDF, purpose "dataprotection-keyring"). The entry records which master key was
/// used, so entries written before a master-key rotation still decrypt with <c>QAPI_MASTER_KEY_PREVIOUS</c>.
/// </summary>
public sealed class MasterKeyXmlEncryptor(MasterKeyRing masterKeys, IRandomSource? random = null) : IXmlEncryptor
{
    internal static readonly XNamespace Ns = "https://mislata.dev/dataprotection/v1";
    internal const string Purpose = "dataprotection-keyring";
    private const int NonceSize = 12;
    private const int TagSize = 16;

    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        ArgumentNullException.ThrowIfNull(plaintextElement);
        var key = masterKeys.Current;
        var plaintext = Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var output = new byte[NonceSize + plaintext.Length + TagSize];
        Span<byte> derived = stackalloc byte[32];
        try
        {
            key.DeriveKey(Purpose, derived);
            var nonce = output.AsSpan(0, NonceSize);
            (random ?? OsRandomSource.Instance).Fill(nonce);
            using var aes = new AesGcm(derived, TagSize);
            aes.Encrypt(nonce, plaintext, output.AsSpan(NonceSize, plaintext.Length), output.AsSpan(NonceSize + plaintext.Length), AssociatedData(key.Id));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(derived);
            CryptographicOperations.ZeroMemory(plaintext);
        }

        var element = new XElement(
            Ns + "encryptedKey",
            new XAttribute("masterKeyId", key.Id),
            new XAttribute("alg", "A256GCM"),
            new XComment(" This key is encrypted with a key derived from QAPI_MASTER_KEY. "),
            new XElement(Ns + "value", Convert.ToBase64String(output)));
        return new EncryptedXmlInfo(element, typeof(MasterKeyXmlDecryptor));
    }

    internal static byte[] AssociatedData(string masterKeyId) => Encoding.ASCII.GetBytes("mislata/v1/dataprotection|" + masterKeyId);
}

/// <summary>Reverses <see cref="MasterKeyXmlEncryptor"/>. Created by the Data Protection activator with the service provider.</summary>
public sealed class MasterKeyXmlDecryptor(IServiceProvider services) : IXmlDecryptor
{
    private const int NonceSize = 12;
    private const int TagSize = 16;

    public XElement Decrypt(XElement encryptedElement)
    {
        ArgumentNullException.ThrowIfNull(encryptedElement);
        var masterKeys = services.GetRequiredService<MasterKeyRing>();
        var keyId = (string?)encryptedElement.Attribute("masterKeyId")
            ?? throw new CryptographicException("The key-ring entry does not name its master key.");
        var key = masterKeys.Find(keyId)
            ?? throw new CryptographicException($"The key-ring entry was encrypted under master key {keyId}, which is not configured.");
        var value = (string?)encryptedElement.Element(MasterKeyXmlEncryptor.Ns + "value")
            ?? throw new CryptographicException("The key-ring entry has no value.");
        var blob = Convert.FromBase64String(value);
        if (blob.Length < NonceSize + TagSize)
        {
            throw new CryptographicException("The key-ring entry is truncated.");
        }

        var plaintext = new byte[blob.Length - NonceSize - TagSize];
        Span<byte> derived = stackalloc byte[32];
        try
        {
            key.DeriveKey(MasterKeyXmlEncryptor.Purpose, derived);
            using var aes = new AesGcm(derived, TagSize);
            aes.Decrypt(blob.AsSpan(0, NonceSize), blob.AsSpan(NonceSize, plaintext.Length), blob.AsSpan(NonceSize + plaintext.Length), plaintext, MasterKeyXmlEncryptor.AssociatedData(keyId));
            return XElement.Parse(Encoding.UTF8.GetString(plaintext));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(derived);
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }
}
