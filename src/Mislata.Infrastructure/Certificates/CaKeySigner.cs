using Mislata.Core.Encryption;
using Mislata.Crypto;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;

namespace Mislata.Infrastructure.Certificates;

/// <summary>Why a CA key could not sign.</summary>
public enum CaSignError
{
    None = 0,

    /// <summary>The key is gone (deleted with its tenant) or is not the tenant's.</summary>
    KeyNotFound,

    /// <summary>The key is disabled, pending deletion or destroyed, or the version the CA certifies is destroyed.</summary>
    KeyStateInvalid,

    /// <summary>The entropy service could not hedge the signature.</summary>
    EntropyUnavailable,
}

/// <summary>
/// Signs a TBSCertificate or TBSCertList with a CA's key inside the key store: the key is leased from
/// <see cref="IOperationKeys"/> (the same sealed material and cache the <c>/sign</c> operation uses), the version the CA
/// certificate names is used (a rotation of the key does not change the CA), and the private key never leaves the lease.
/// </summary>
public sealed class CaKeySigner(IOperationKeys keys, IKeyUsage usage, IRandomSource random)
{
    /// <summary>Whether the key could sign now (state and version), without signing.</summary>
    public async Task<CaSignError> CheckAsync(Guid tenantId, Guid keyId, int version, CancellationToken cancellationToken)
    {
        using var lease = await keys.AcquireAsync(tenantId, keyId, cancellationToken);
        return Check(lease, version);
    }

    /// <summary>Mislata's signature (P1363 for ECDSA) over <paramref name="tbs"/>; the caller encodes it for X.509.</summary>
    public async Task<(byte[]? Signature, CaSignError Error)> SignAsync(Guid tenantId, Guid keyId, int version, byte[] tbs, CancellationToken cancellationToken)
    {
        using var lease = await keys.AcquireAsync(tenantId, keyId, cancellationToken);
        var error = Check(lease, version);
        if (error != CaSignError.None)
        {
            return (null, error);
        }

        try
        {
            var signature = AlgorithmRegistry.Default.GetSigner(lease!.Key.Algorithm.Name).Sign(lease.Material(version), tbs, [], random);
            usage.RecordUse(keyId, version);
            return (signature, CaSignError.None);
        }
        catch (CryptoException e) when (e.Error == CryptoError.EntropyUnavailable)
        {
            return (null, CaSignError.EntropyUnavailable);
        }
    }

    private static CaSignError Check(IOperationKey? lease, int version)
    {
        if (lease is null)
        {
            return CaSignError.KeyNotFound;
        }

        return OperationRules.CheckUse(lease.Key, Operation.Sign) == OperationError.None &&
               lease.Key.Versions.TryGetValue(version, out var state) && state != Mislata.Core.Keys.KeyVersionState.Destroyed
            ? CaSignError.None
            : CaSignError.KeyStateInvalid;
    }
}
