using Mislata.Core.Encryption;
using Mislata.Infrastructure.Access;

namespace Mislata.Infrastructure.Encryption;

/// <summary>
/// A crypto key changed: <c>ckey:{tenantId}:{keyId}</c> on the access invalidation channel, so every replica drops the
/// key's cached material and the tenant's default keys (<see cref="KeyMaterialCache"/>). Not <c>key:</c>, which names API keys.
/// </summary>
public sealed class CryptoKeyInvalidation(AccessInvalidation invalidation) : IKeyChangeNotifier
{
    private const string Prefix = "ckey:";

    public Task KeyChangedAsync(Guid tenantId, Guid keyId) => invalidation.PublishAsync(Message(tenantId, keyId));

    public static string Message(Guid tenantId, Guid keyId) => Prefix + tenantId.ToString("N") + ":" + keyId.ToString("N");

    public static bool TryParse(string message, out Guid tenantId, out Guid keyId)
    {
        tenantId = keyId = Guid.Empty;
        return message is { Length: 70 } && message.StartsWith(Prefix, StringComparison.Ordinal) && message[37] == ':' &&
            Guid.TryParseExact(message.AsSpan(5, 32), "N", out tenantId) && Guid.TryParseExact(message.AsSpan(38, 32), "N", out keyId);
    }
}
