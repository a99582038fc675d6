using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Crypto;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Payloads;

namespace Mislata.Core.Encryption;

/// <summary>
/// The cryptographic operations of API.md (encrypt, decrypt, batches, rewrap, datakey, sign, verify, hmac, random) for
/// one tenant: resolve the key (by id, or the tenant's default), apply <see cref="OperationRules"/>, run the crypto of
/// <c>Mislata.Crypto</c> with the material the lease holds, count the use in memory and audit (key id, version and
/// operation, never data or context) before answering. The audit log is fail-closed: when it cannot record, the call
/// throws <see cref="AuditUnavailableException"/> and no result leaves.
/// </summary>
public sealed class CryptoOperations(
    IOperationKeys keys, IKeyUsage usage, IRandomSource random, SlowSignatureGate slowSignatures, IAuditLog audit)
{
    public async Task<Outcome<EncryptResult>> EncryptAsync(Guid tenantId, EncryptRequest request, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (lease, error) = await AcquireAsync(tenantId, request.KeyId, Operation.Encrypt, cancellationToken);
        if (lease is null)
        {
            return Outcome<EncryptResult>.Fail(error, DetailOf(error));
        }

        using (lease)
        {
            var outcome = Encrypt(lease, request);
            await AuditAsync(tenantId, actor, "crypto.encrypt", lease.Key, lease.Key.CurrentVersion, outcome.Error, cancellationToken);
            return outcome;
        }
    }

    /// <summary>Each item on its own (errors per item, order kept); one audit event per key and version used.</summary>
    public async Task<IReadOnlyList<Outcome<EncryptResult>>> EncryptBatchAsync(
        Guid tenantId, IReadOnlyList<EncryptRequest> items, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        var leases = new LeaseSet(this, tenantId);
        try
        {
            var results = new Outcome<EncryptResult>[items.Count];
            for (var i = 0; i < items.Count; i++)
            {
                var (lease, error) = await leases.GetAsync(items[i].KeyId, Operation.Encrypt, cancellationToken);
                results[i] = lease is null ? Outcome<EncryptResult>.Fail(error, DetailOf(error)) : Encrypt(lease, items[i]);
                if (lease is not null)
                {
                    leases.Count(lease.Key, lease.Key.CurrentVersion, results[i].Error);
                }
            }

            await leases.AuditAsync(actor, "crypto.encrypt.batch", cancellationToken);
            return results;
        }
        finally
        {
            leases.Dispose();
        }
    }

    public async Task<Outcome<DecryptResult>> DecryptAsync(Guid tenantId, DecryptRequest request, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!TryParse(request.EncryptedPayload, out var payload, out var detail))
        {
            return Outcome<DecryptResult>.Fail(OperationError.InvalidPayload, detail);
        }

        var (lease, error) = await AcquireAsync(tenantId, payload.KeyId, Operation.Decrypt, cancellationToken);
        if (lease is null)
        {
            return Outcome<DecryptResult>.Fail(error, DetailOf(error));
        }

        using (lease)
        {
            var outcome = Decrypt(lease, payload, request.Context);
            await AuditAsync(tenantId, actor, "crypto.decrypt", lease.Key, payload.KeyVersion, outcome.Error, cancellationToken);
            return outcome;
        }
    }

    public Task<IReadOnlyList<Outcome<DecryptResult>>> DecryptBatchAsync(
        Guid tenantId, IReadOnlyList<DecryptRequest> items, RequestActor actor, CancellationToken cancellationToken) =>
        PayloadBatchAsync(tenantId, items, Operation.Decrypt, Decrypt, actor, "crypto.decrypt.batch", cancellationToken);

    /// <summary>Decrypts under the payload's version and encrypts again under the current one (same encoding and context). The plaintext never leaves.</summary>
    public async Task<Outcome<EncryptResult>> RewrapAsync(Guid tenantId, DecryptRequest request, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!TryParse(request.EncryptedPayload, out var payload, out var detail))
        {
            return Outcome<EncryptResult>.Fail(OperationError.InvalidPayload, detail);
        }

        var (lease, error) = await AcquireAsync(tenantId, payload.KeyId, Operation.Rewrap, cancellationToken);
        if (lease is null)
        {
            return Outcome<EncryptResult>.Fail(error, DetailOf(error));
        }

        using (lease)
        {
            var outcome = Rewrap(lease, payload, request.Context);
            await AuditAsync(tenantId, actor, "crypto.rewrap", lease.Key, lease.Key.CurrentVersion, outcome.Error, cancellationToken,
                ("fromVersion", payload.KeyVersion.ToString(CultureInfo.InvariantCulture)));
            return outcome;
        }
    }

    /// <summary>
    /// Many rewraps (the rewrap-all job): each item on its own (errors per item, order kept); one audit event per key and
    /// version read, with its item and failure counts — never the payloads or their contexts.
    /// </summary>
    public Task<IReadOnlyList<Outcome<EncryptResult>>> RewrapBatchAsync(
        Guid tenantId, IReadOnlyList<DecryptRequest> items, RequestActor actor, CancellationToken cancellationToken) =>
        PayloadBatchAsync(tenantId, items, Operation.Rewrap, Rewrap, actor, "crypto.rewrap.batch", cancellationToken);

    /// <summary>
    /// A batch of payloads, each parsed and run on its own by <paramref name="run"/> under its key's lease (acquired once
    /// per key); one audit event per key and version read.
    /// </summary>
    private async Task<IReadOnlyList<Outcome<T>>> PayloadBatchAsync<T>(
        Guid tenantId, IReadOnlyList<DecryptRequest> items, Operation operation, Func<IOperationKey, EncryptedPayload, string?, Outcome<T>> run,
        RequestActor actor, string action, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(items);
        var leases = new LeaseSet(this, tenantId);
        try
        {
            var results = new Outcome<T>[items.Count];
            for (var i = 0; i < items.Count; i++)
            {
                if (!TryParse(items[i].EncryptedPayload, out var payload, out var detail))
                {
                    results[i] = Outcome<T>.Fail(OperationError.InvalidPayload, detail);
                    continue;
                }

                var (lease, error) = await leases.GetAsync(payload.KeyId, operation, cancellationToken);
                if (lease is null)
                {
                    results[i] = Outcome<T>.Fail(error, DetailOf(error));
                    continue;
                }

                results[i] = run(lease, payload, items[i].Context);
                leases.Count(lease.Key, payload.KeyVersion, results[i].Error);
            }

            await leases.AuditAsync(actor, action, cancellationToken);
            return results;
        }
        finally
        {
            leases.Dispose();
        }
    }

    /// <summary>Decrypts under the payload's version and encrypts under the current one; the plaintext is zeroed before it returns.</summary>
    private Outcome<EncryptResult> Rewrap(IOperationKey lease, EncryptedPayload payload, string? context)
    {
        var decrypted = Decrypt(lease, payload, context);
        if (!decrypted.Succeeded)
        {
            return Outcome<EncryptResult>.Fail(decrypted.Error, decrypted.Detail);
        }

        try
        {
            return Encrypt(lease, new EncryptRequest(decrypted.Value!.Plaintext, decrypted.Value.Encoding, lease.Key.Id, context));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(decrypted.Value!.Plaintext);
        }
    }

    /// <summary>A fresh data key from the entropy source, returned encrypted under the key (and in clear unless not wanted).</summary>
    public async Task<Outcome<DataKeyResult>> DataKeyAsync(Guid tenantId, DataKeyRequest request, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Bytes is < OperationRules.MinDataKeyBytes or > OperationRules.MaxDataKeyBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(request), "The api validates bytes (16..64).");
        }

        var (lease, error) = await AcquireAsync(tenantId, request.KeyId, Operation.DataKey, cancellationToken);
        if (lease is null)
        {
            return Outcome<DataKeyResult>.Fail(error, DetailOf(error));
        }

        using (lease)
        {
            Outcome<DataKeyResult> outcome;
            var dataKey = new byte[request.Bytes];
            try
            {
                random.Fill(dataKey);
                var encrypted = Encrypt(lease, new EncryptRequest(dataKey, PlaintextEncodings.Base64, lease.Key.Id, request.Context));
                outcome = encrypted.Succeeded
                    ? Outcome<DataKeyResult>.Ok(new DataKeyResult(request.IncludePlaintext ? (byte[])dataKey.Clone() : null, encrypted.Value!.EncryptedPayload,
                        encrypted.Value.KeyId, encrypted.Value.KeyVersion, encrypted.Value.Algorithm))
                    : Outcome<DataKeyResult>.Fail(encrypted.Error, encrypted.Detail);
            }
            catch (CryptoException e) when (e.Error == CryptoError.EntropyUnavailable)
            {
                outcome = Outcome<DataKeyResult>.Fail(OperationError.EntropyUnavailable, DetailOf(OperationError.EntropyUnavailable));
            }
            finally
            {
                CryptographicOperations.ZeroMemory(dataKey);
            }

            await AuditAsync(tenantId, actor, "crypto.datakey", lease.Key, lease.Key.CurrentVersion, outcome.Error, cancellationToken,
                ("bytes", request.Bytes.ToString(CultureInfo.InvariantCulture)));
            return outcome;
        }
    }

    public async Task<Outcome<SignResult>> SignAsync(Guid tenantId, SignRequest request, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (lease, error) = await AcquireAsync(tenantId, request.KeyId, Operation.Sign, cancellationToken);
        if (lease is null)
        {
            return Outcome<SignResult>.Fail(error, DetailOf(error));
        }

        using (lease)
        {
            var outcome = Sign(lease, request);
            if (outcome.Error != OperationError.Busy)
            {
                // A refusal for lack of a slot did nothing with the key: not an event of its trail.
                await AuditAsync(tenantId, actor, "crypto.sign", lease.Key, lease.Key.CurrentVersion, outcome.Error, cancellationToken);
            }

            return outcome;
        }
    }

    /// <summary>
    /// Signs a message that names the signing key itself — an SSH certificate carries its CA's public key inside the signed
    /// bytes —: <paramref name="build"/> gets the public key of the version that then signs, under one lease, so a rotation
    /// in between cannot make the two differ. Same rules, slots, usage and <c>crypto.sign</c> audit as <see cref="SignAsync"/>.
    /// </summary>
    public async Task<Outcome<EmbeddedKeySignResult>> SignEmbeddingKeyAsync(
        Guid tenantId, Guid keyId, Func<PublicKey, byte[]> build, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(build);
        var (lease, error) = await AcquireAsync(tenantId, keyId, Operation.Sign, cancellationToken);
        if (lease is null)
        {
            return Outcome<EmbeddedKeySignResult>.Fail(error, DetailOf(error));
        }

        using (lease)
        {
            var publicKey = lease.Material(lease.Key.CurrentVersion).PublicKey!;
            var message = build(publicKey);
            var outcome = Sign(lease, new SignRequest(message, keyId, null));
            if (outcome.Error != OperationError.Busy)
            {
                await AuditAsync(tenantId, actor, "crypto.sign", lease.Key, lease.Key.CurrentVersion, outcome.Error, cancellationToken);
            }

            return outcome.Succeeded
                ? Outcome<EmbeddedKeySignResult>.Ok(new EmbeddedKeySignResult(message, outcome.Value!.Signature, publicKey, outcome.Value.KeyVersion))
                : Outcome<EmbeddedKeySignResult>.Fail(outcome.Error, outcome.Detail);
        }
    }

    public async Task<Outcome<VerifyResult>> VerifyAsync(Guid tenantId, VerifyRequest request, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (lease, error) = await AcquireAsync(tenantId, request.KeyId, Operation.Verify, cancellationToken);
        if (lease is null)
        {
            return Outcome<VerifyResult>.Fail(error, DetailOf(error));
        }

        using (lease)
        {
            var key = lease.Key;
            var context = Utf8(request.Context);
            var outcome = Versions(key, request.KeyVersion, out var versions);
            if (outcome == OperationError.None)
            {
                outcome = OperationRules.CheckContext(key, Operation.Verify, context.Length, out var reason);
                if (outcome != OperationError.None)
                {
                    return Outcome<VerifyResult>.Fail(outcome, reason);
                }
            }

            int? verified = null;
            if (outcome == OperationError.None)
            {
                var signer = AlgorithmRegistry.Default.GetSigner(key.Algorithm.Name);
                foreach (var version in versions)
                {
                    var publicKey = lease.Material(version).PublicKey!;
                    if (signer.Verify(publicKey, request.Message.Span, context, request.Signature.Span))
                    {
                        verified = version;
                        usage.RecordUse(key.Id, version);
                        break;
                    }
                }
            }

            await AuditAsync(tenantId, actor, "crypto.verify", key, verified ?? request.KeyVersion ?? key.CurrentVersion, outcome, cancellationToken,
                ("valid", verified is null ? "false" : "true"));
            return outcome == OperationError.None
                ? Outcome<VerifyResult>.Ok(new VerifyResult(verified is not null, key.Id, verified))
                : Outcome<VerifyResult>.Fail(outcome, DetailOf(outcome));
        }
    }

    public async Task<Outcome<MacResult>> HmacAsync(Guid tenantId, MacRequest request, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (lease, error) = await AcquireAsync(tenantId, request.KeyId, Operation.Hmac, cancellationToken);
        if (lease is null)
        {
            return Outcome<MacResult>.Fail(error, DetailOf(error));
        }

        using (lease)
        {
            var key = lease.Key;
            var mac = AlgorithmRegistry.Default.GetMac(key.Algorithm.Name).Compute(lease.Material(key.CurrentVersion), request.Message.Span);
            usage.RecordUse(key.Id, key.CurrentVersion);
            await AuditAsync(tenantId, actor, "crypto.hmac", key, key.CurrentVersion, OperationError.None, cancellationToken);
            return Outcome<MacResult>.Ok(new MacResult(mac, key.Id, key.CurrentVersion, key.Algorithm.Name));
        }
    }

    public async Task<Outcome<VerifyResult>> HmacVerifyAsync(Guid tenantId, MacVerifyRequest request, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (lease, error) = await AcquireAsync(tenantId, request.KeyId, Operation.HmacVerify, cancellationToken);
        if (lease is null)
        {
            return Outcome<VerifyResult>.Fail(error, DetailOf(error));
        }

        using (lease)
        {
            var key = lease.Key;
            var outcome = Versions(key, request.KeyVersion, out var versions);
            int? verified = null;
            if (outcome == OperationError.None)
            {
                var mac = AlgorithmRegistry.Default.GetMac(key.Algorithm.Name);
                foreach (var version in versions)
                {
                    if (mac.Verify(lease.Material(version), request.Message.Span, request.Mac.Span))
                    {
                        verified = version;
                        usage.RecordUse(key.Id, version);
                        break;
                    }
                }
            }

            await AuditAsync(tenantId, actor, "crypto.hmac.verify", key, verified ?? request.KeyVersion ?? key.CurrentVersion, outcome, cancellationToken,
                ("valid", verified is null ? "false" : "true"));
            return outcome == OperationError.None
                ? Outcome<VerifyResult>.Ok(new VerifyResult(verified is not null, key.Id, verified))
                : Outcome<VerifyResult>.Fail(outcome, DetailOf(outcome));
        }
    }

    /// <summary><paramref name="bytes"/> (1..4096) from the platform's entropy source, and which source that is.</summary>
    public async Task<Outcome<RandomResult>> RandomAsync(Guid tenantId, int bytes, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actor);
        if (bytes is < OperationRules.MinRandomBytes or > OperationRules.MaxRandomBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), "The api validates bytes (1..4096).");
        }

        var result = new byte[bytes];
        string source;
        try
        {
            source = random.FillReportingSource(result);
        }
        catch (CryptoException e) when (e.Error == CryptoError.EntropyUnavailable)
        {
            return Outcome<RandomResult>.Fail(OperationError.EntropyUnavailable, DetailOf(OperationError.EntropyUnavailable));
        }

        await audit.RecordAsync(actor.Event(tenantId, "crypto.random", null, null, details: new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["bytes"] = bytes.ToString(CultureInfo.InvariantCulture),
            ["source"] = source,
        }), cancellationToken);
        return Outcome<RandomResult>.Ok(new RandomResult(result, source));
    }

    /// <summary>The one text per failure (a failed decryption says nothing more than that).</summary>
    public static string DetailOf(OperationError error) => error switch
    {
        OperationError.NotFound => "The key does not exist.",
        OperationError.NoDefaultKey => "No keyId was given and the tenant has no default key of the type this operation needs.",
        OperationError.StateInvalid => "The key is disabled, pending deletion or destroyed.",
        OperationError.AlgorithmMismatch => "The key's algorithm cannot do this operation.",
        OperationError.InvalidPayload => "The encrypted payload is malformed.",
        OperationError.DecryptionFailed => "Decryption failed.",
        OperationError.InvalidContext => "The context cannot be used with this key.",
        OperationError.InvalidVersion => "The key has no such version.",
        OperationError.UsageLimitReached => "The key version reached its encryption limit; rotate the key.",
        OperationError.Busy => "Too many slow signatures are running; retry shortly.",
        OperationError.EntropyUnavailable => "The entropy source is unavailable; retry later.",
        _ => string.Empty,
    };

    private async Task<(IOperationKey? Lease, OperationError Error)> AcquireAsync(Guid tenantId, Guid? keyId, Operation operation, CancellationToken cancellationToken)
    {
        var id = keyId;
        if (id is null)
        {
            var type = OperationRules.DefaultTypeFor(operation);
            id = await keys.FindDefaultAsync(tenantId, type, cancellationToken);
            if (id is null && type == KeyType.Encryption)
            {
                // A tenant whose only default is an AES key encrypts with it.
                id = await keys.FindDefaultAsync(tenantId, KeyType.Symmetric, cancellationToken);
            }

            if (id is null)
            {
                return (null, OperationError.NoDefaultKey);
            }
        }

        var lease = await keys.AcquireAsync(tenantId, id.Value, cancellationToken);
        if (lease is null)
        {
            return (null, OperationError.NotFound);
        }

        var error = OperationRules.CheckUse(lease.Key, operation);
        if (error != OperationError.None)
        {
            lease.Dispose();
            return (null, error);
        }

        return (lease, OperationError.None);
    }

    private Outcome<EncryptResult> Encrypt(IOperationKey lease, EncryptRequest request)
    {
        var key = lease.Key;
        var context = Utf8(request.Context);
        var error = OperationRules.CheckContext(key, Operation.Encrypt, context.Length, out var reason);
        if (error != OperationError.None)
        {
            return Outcome<EncryptResult>.Fail(error, reason);
        }

        var version = key.CurrentVersion;
        var symmetric = key.Algorithm.Family == AlgorithmFamily.Aes;
        if (symmetric && !usage.TryReserveEncryptions(key.Id, version, 1))
        {
            return Outcome<EncryptResult>.Fail(OperationError.UsageLimitReached, DetailOf(OperationError.UsageLimitReached));
        }

        try
        {
            var payload = EncryptedPayloadCodec.Encrypt(lease.Material(version), key.Id, version, request.Plaintext.Span, request.Encoding, request.Context, random);
            if (!symmetric)
            {
                // A symmetric version counted its encryption when it reserved it.
                usage.RecordEncryption(key.Id, version);
            }

            return Outcome<EncryptResult>.Ok(new EncryptResult(payload, key.Id, version, key.Algorithm.Name));
        }
        catch (CryptoException e) when (e.Error == CryptoError.EntropyUnavailable)
        {
            return Outcome<EncryptResult>.Fail(OperationError.EntropyUnavailable, DetailOf(OperationError.EntropyUnavailable));
        }
    }

    private Outcome<DecryptResult> Decrypt(IOperationKey lease, EncryptedPayload payload, string? context)
    {
        var key = lease.Key;
        if (!OperationRules.CanRead(key, payload.KeyVersion) || Utf8(context).Length > OperationRules.MaxEncryptionContextBytes ||
            EncryptedPayloadCodec.SchemeFor(key.Algorithm.Name, key.Type) != payload.Scheme)
        {
            // Below the minimum, destroyed, never existed, a context no encryption could have had, or a payload of
            // another scheme naming this key: all the same answer.
            return Outcome<DecryptResult>.Fail(OperationError.DecryptionFailed, DetailOf(OperationError.DecryptionFailed));
        }

        try
        {
            var decrypted = EncryptedPayloadCodec.Decrypt(lease.Material(payload.KeyVersion), payload, context);
            usage.RecordUse(key.Id, payload.KeyVersion);
            return Outcome<DecryptResult>.Ok(new DecryptResult(decrypted.Plaintext, decrypted.Encoding, key.Id, payload.KeyVersion));
        }
        catch (CryptoException)
        {
            return Outcome<DecryptResult>.Fail(OperationError.DecryptionFailed, DetailOf(OperationError.DecryptionFailed));
        }
    }

    private Outcome<SignResult> Sign(IOperationKey lease, SignRequest request)
    {
        var key = lease.Key;
        var context = Utf8(request.Context);
        var error = OperationRules.CheckContext(key, Operation.Sign, context.Length, out var reason);
        if (error != OperationError.None)
        {
            return Outcome<SignResult>.Fail(error, reason);
        }

        IDisposable? slot = null;
        if (OperationRules.IsSlowSignature(key.Algorithm))
        {
            slot = slowSignatures.TryEnter();
            if (slot is null)
            {
                return Outcome<SignResult>.Fail(OperationError.Busy, DetailOf(OperationError.Busy));
            }
        }

        try
        {
            var version = key.CurrentVersion;
            var signature = AlgorithmRegistry.Default.GetSigner(key.Algorithm.Name).Sign(lease.Material(version), request.Message.Span, context, random);
            usage.RecordUse(key.Id, version);
            return Outcome<SignResult>.Ok(new SignResult(signature, key.Id, version, key.Algorithm.Name));
        }
        catch (CryptoException e) when (e.Error == CryptoError.EntropyUnavailable)
        {
            return Outcome<SignResult>.Fail(OperationError.EntropyUnavailable, DetailOf(OperationError.EntropyUnavailable));
        }
        finally
        {
            slot?.Dispose();
        }
    }

    /// <summary>The versions a verification tries: the one named (readable, else decryption_failed; unknown, else invalid), or every readable one.</summary>
    private static OperationError Versions(KeySnapshot key, int? wanted, out IReadOnlyList<int> versions)
    {
        if (wanted is { } v)
        {
            versions = [v];
            if (!key.Versions.ContainsKey(v))
            {
                return OperationError.InvalidVersion;
            }

            return OperationRules.CanRead(key, v) ? OperationError.None : OperationError.DecryptionFailed;
        }

        versions = [.. OperationRules.ReadableVersions(key)];
        return OperationError.None;
    }

    private static bool TryParse(string encryptedPayload, out EncryptedPayload payload, out string? detail)
    {
        try
        {
            payload = EncryptedPayloadCodec.Parse(encryptedPayload);
            detail = null;
            return true;
        }
        catch (CryptoException e)
        {
            payload = null!;

            // The codec's texts are fixed and name only the defect (never a value).
            detail = e.Message;
            return false;
        }
    }

    private static byte[] Utf8(string? text) => string.IsNullOrEmpty(text) ? [] : Encoding.UTF8.GetBytes(text);

    private Task AuditAsync(
        Guid tenantId, RequestActor actor, string action, KeySnapshot key, int version, OperationError error, CancellationToken cancellationToken,
        params (string Name, string Value)[] more)
    {
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["algorithm"] = key.Algorithm.Name,
            ["keyVersion"] = version.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (name, value) in more)
        {
            details[name] = value;
        }

        return audit.RecordAsync(actor.Event(tenantId, action, "key", key.Id.ToString(), error == OperationError.None ? AuditOutcome.Success : AuditOutcome.Failure,
            error == OperationError.None ? null : CodeOf(error), details), cancellationToken);
    }

    /// <summary>The API.md code of a failure, for audit events (the api maps the same values to problems).</summary>
    public static string CodeOf(OperationError error) => error switch
    {
        OperationError.NotFound or OperationError.NoDefaultKey => "not_found",
        OperationError.StateInvalid or OperationError.UsageLimitReached => "key_state_invalid",
        OperationError.AlgorithmMismatch => "algorithm_mismatch",
        OperationError.InvalidPayload => "invalid_payload",
        OperationError.DecryptionFailed => "decryption_failed",
        OperationError.InvalidContext or OperationError.InvalidVersion => "validation_failed",
        OperationError.Busy => "rate_limited",
        OperationError.EntropyUnavailable => "unavailable",
        _ => string.Empty,
    };

    /// <summary>The keys of one batch, each acquired once, and the per key-version counts its audit events carry.</summary>
    private sealed class LeaseSet(CryptoOperations operations, Guid tenantId) : IDisposable
    {
        private readonly Dictionary<(Guid? Id, Operation Operation), (IOperationKey? Lease, OperationError Error)> _leases = [];
        private readonly Dictionary<(Guid Key, int Version), (KeySnapshot Key, int Items, int Failed, OperationError FirstError)> _counts = [];

        public async Task<(IOperationKey? Lease, OperationError Error)> GetAsync(Guid? keyId, Operation operation, CancellationToken cancellationToken)
        {
            if (!_leases.TryGetValue((keyId, operation), out var found))
            {
                found = await operations.AcquireAsync(tenantId, keyId, operation, cancellationToken);
                _leases[(keyId, operation)] = found;
            }

            return found;
        }

        public void Count(KeySnapshot key, int version, OperationError error)
        {
            _counts.TryGetValue((key.Id, version), out var c);
            _counts[(key.Id, version)] = (key, c.Items + 1, c.Failed + (error == OperationError.None ? 0 : 1),
                c.FirstError != OperationError.None ? c.FirstError : error);
        }

        public async Task AuditAsync(RequestActor actor, string action, CancellationToken cancellationToken)
        {
            foreach (var ((_, version), (key, items, failed, firstError)) in _counts)
            {
                await operations.AuditAsync(tenantId, actor, action, key, version, firstError, cancellationToken,
                    ("items", items.ToString(CultureInfo.InvariantCulture)), ("failed", failed.ToString(CultureInfo.InvariantCulture)));
            }
        }

        public void Dispose()
        {
            foreach (var (lease, _) in _leases.Values)
            {
                lease?.Dispose();
            }
        }
    }
}
