using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;

namespace Mislata.Infrastructure.DataProtection;

/// <summary>
/// Encrypts each ASP.NET Core Data Protection key-ring entry before it is written to Redis, with AES-256-GCM under a
/// key derived from the platform key (HKDF, purpose "dataprotection-keyring"). The entry records the key's id in its
/// <c>masterKeyId</c> attribute (the name entries written before the key hierarchy carry); the platform key outlives
/// master-key rotations, so the ring — and every session cookie it protects — survives one.
/// </summary>
public sealed class MasterKeyXmlEncryptor(PlatformKey platformKey, IRandomSource? random = null) : IXmlEncryptor
{
    internal static readonly XNamespace Ns = "https://mislata.dev/dataprotection/v1";
    internal const string Purpose = "dataprotection-keyring";
    private const int NonceSize = 12;
    private const int TagSize = 16;

    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        ArgumentNullException.ThrowIfNull(plaintextElement);
        var key = platformKey;
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
            new XComment(" This key is encrypted with a key derived from the platform key (wrapped by QAPI_MASTER_KEY). "),
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
        var key = services.GetRequiredService<PlatformKey>();
        var keyId = (string?)encryptedElement.Attribute("masterKeyId")
            ?? throw new CryptographicException("The key-ring entry does not name its key.");
        if (!string.Equals(keyId, key.Id, StringComparison.Ordinal))
        {
            throw new CryptographicException($"The key-ring entry was encrypted under key {keyId}, which is not this installation's platform key.");
        }

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
