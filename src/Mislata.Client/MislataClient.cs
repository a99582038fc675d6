using System.Runtime.CompilerServices;
using Mislata.Client.Contracts;
using Mislata.Client.Http;

namespace Mislata.Client;

/// <summary>
/// The Mislata HTTP API (<c>/api/v1</c>) by endpoint group. Obtain it from dependency injection after
/// <see cref="MislataClientServiceCollectionExtensions.AddMislataClient"/>. Every failure is a
/// <see cref="MislataApiException"/>; every method takes a <see cref="CancellationToken"/>.
/// </summary>
public sealed class MislataClient
{
    private readonly MislataTransport _transport;

    /// <summary>Used by the HTTP client factory: <paramref name="http"/> carries the base address, credential and retries.</summary>
    public MislataClient(HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(http);
        _transport = new MislataTransport(http);
        Keys = new KeysClient(_transport);
        Crypto = new CryptoClient(_transport);
        Secrets = new SecretsClient(_transport);
        Ssh = new SshClient(_transport);
        Certificates = new CertificatesClient(_transport);
        ApiKeys = new ApiKeysClient(_transport);
        Audit = new AuditClient(_transport);
        Billing = new BillingClient(_transport);
        Admin = new AdminClient(_transport);
        Partner = new PartnerClient(_transport);
        Users = new UsersClient(_transport);
        Applications = new ApplicationsClient(_transport);
        Roles = new RolesClient(_transport);
    }

    /// <summary><c>/keys</c>.</summary>
    public KeysClient Keys { get; }

    /// <summary><c>/encrypt</c>, <c>/decrypt</c>, <c>/datakey</c>, <c>/sign</c> … (scope <c>encryption:write</c>).</summary>
    public CryptoClient Crypto { get; }

    /// <summary><c>/secrets</c>.</summary>
    public SecretsClient Secrets { get; }

    /// <summary><c>/ssh/ca</c>, <c>/ssh/certificates</c> (scopes <c>ssh:*</c>).</summary>
    public SshClient Ssh { get; }
    /// <summary><c>/cas</c> and <c>/certificates</c> (scopes <c>certificates:*</c>).</summary>
    public CertificatesClient Certificates { get; }

    /// <summary><c>/api-keys</c>.</summary>
    public ApiKeysClient ApiKeys { get; }

    /// <summary><c>/audit</c>.</summary>
    public AuditClient Audit { get; }

    /// <summary><c>/billing</c>.</summary>
    public BillingClient Billing { get; }

    /// <summary><c>/admin/…</c> (scope <c>platform:admin</c>).</summary>
    public AdminClient Admin { get; }

    /// <summary><c>/partner/…</c> (scope <c>partner:admin</c>).</summary>
    public PartnerClient Partner { get; }

    /// <summary><c>/users</c> (identity service, scopes <c>users:*</c>).</summary>
    public UsersClient Users { get; }

    /// <summary><c>/applications</c> (identity service, scopes <c>applications:*</c>).</summary>
    public ApplicationsClient Applications { get; }

    /// <summary><c>/roles</c> (identity service, scopes <c>roles:*</c>).</summary>
    public RolesClient Roles { get; }

    /// <summary><c>GET /ping</c>: the API is reachable (no credential needed, touches no database).</summary>
    public Task PingAsync(CancellationToken cancellationToken = default) => _transport.SendNoContentAsync(HttpMethod.Get, "ping", cancellationToken);

    /// <summary>Every item of a paged list, page after page.</summary>
    public static async IAsyncEnumerable<T> AllAsync<T>(Func<string?, CancellationToken, Task<Page<T>>> page, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(page);
        string? cursor = null;
        do
        {
            var current = await page(cursor, cancellationToken).ConfigureAwait(false);
            foreach (var item in current.Data)
            {
                yield return item;
            }

            cursor = current.NextCursor;
        }
        while (cursor is not null);
    }

    internal static string Id(Guid id) => id.ToString("D");
}

/// <summary>Keys: create, list, rotate, disable/enable, schedule deletion and restore, export public parts, import (BYOK), payload references and rewrap-all.</summary>
public sealed class KeysClient
{
    private readonly MislataTransport _t;

    internal KeysClient(MislataTransport transport) => _t = transport;

    /// <summary><c>POST /keys</c> (with an <c>Idempotency-Key</c>, generated unless given).</summary>
    public Task<Key> CreateAsync(CreateKeyRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<Key>("keys", request, idempotencyKey, cancellationToken);

    /// <summary><c>POST /keys/import</c>.</summary>
    public Task<Key> ImportAsync(ImportKeyRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<Key>("keys/import", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /keys</c>: one page.</summary>
    public Task<Page<Key>> ListAsync(KeyListQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new KeyListQuery();
        return _t.GetAsync<Page<Key>>(MislataTransport.Query("keys", ("algorithm", query.Algorithm), ("state", query.State), ("tag", query.Tag),
            ("name", query.Name), ("limit", query.Limit), ("cursor", query.Cursor)), cancellationToken);
    }

    /// <summary><c>GET /keys/{id}</c>.</summary>
    public Task<Key> GetAsync(Guid id, CancellationToken cancellationToken = default) => _t.GetAsync<Key>("keys/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>PATCH /keys/{id}</c>.</summary>
    public Task<Key> UpdateAsync(Guid id, UpdateKeyRequest request, CancellationToken cancellationToken = default) =>
        _t.PatchAsync<Key>("keys/" + MislataClient.Id(id), request, cancellationToken);

    /// <summary><c>POST /keys/{id}/rotate</c>: a new current version.</summary>
    public Task<Key> RotateAsync(Guid id, CancellationToken cancellationToken = default) => _t.PostAsync<Key>($"keys/{MislataClient.Id(id)}/rotate", null, cancellationToken);

    /// <summary><c>POST /keys/{id}/disable</c>.</summary>
    public Task<Key> DisableAsync(Guid id, CancellationToken cancellationToken = default) => _t.PostAsync<Key>($"keys/{MislataClient.Id(id)}/disable", null, cancellationToken);

    /// <summary><c>POST /keys/{id}/enable</c>.</summary>
    public Task<Key> EnableAsync(Guid id, CancellationToken cancellationToken = default) => _t.PostAsync<Key>($"keys/{MislataClient.Id(id)}/enable", null, cancellationToken);

    /// <summary><c>DELETE /keys/{id}?pendingDays=</c> (7..30, default 30): the key becomes pendingDeletion.</summary>
    public Task<Key> DeleteAsync(Guid id, int? pendingDays = null, CancellationToken cancellationToken = default) =>
        _t.DeleteAsync<Key>(MislataTransport.Query("keys/" + MislataClient.Id(id), ("pendingDays", pendingDays)), cancellationToken);

    /// <summary><c>POST /keys/{id}/restore</c>: cancels a pending deletion (the key comes back disabled).</summary>
    public Task<Key> RestoreAsync(Guid id, CancellationToken cancellationToken = default) => _t.PostAsync<Key>($"keys/{MislataClient.Id(id)}/restore", null, cancellationToken);

    /// <summary><c>GET /keys/{id}/public?format=jwk|pem|raw&amp;version=</c>.</summary>
    public Task<PublicKey> GetPublicKeyAsync(Guid id, string format = "raw", int? version = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<PublicKey>(MislataTransport.Query($"keys/{MislataClient.Id(id)}/public", ("format", format), ("version", version)), cancellationToken);

    /// <summary><c>GET /keys/jwks</c>.</summary>
    public Task<JsonWebKeySet> GetJwksAsync(CancellationToken cancellationToken = default) => _t.GetAsync<JsonWebKeySet>("keys/jwks", cancellationToken);

    /// <summary><c>POST /keys/{id}/payloads</c>: registers a payload for rewrap-all (a reference the key has already is a 409).</summary>
    public Task<PayloadReference> RegisterPayloadAsync(Guid id, RegisterPayloadRequest request, CancellationToken cancellationToken = default) =>
        _t.PostAsync<PayloadReference>($"keys/{MislataClient.Id(id)}/payloads", request, cancellationToken);

    /// <summary><c>GET /keys/{id}/payloads</c>: one page, in reference order.</summary>
    public Task<Page<PayloadReference>> ListPayloadsAsync(
        Guid id, int? minVersion = null, int? maxVersion = null, int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<PayloadReference>>(MislataTransport.Query($"keys/{MislataClient.Id(id)}/payloads",
            ("minVersion", minVersion), ("maxVersion", maxVersion), ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>GET /keys/{id}/payloads/{reference}</c>.</summary>
    public Task<PayloadReference> GetPayloadAsync(Guid id, string reference, CancellationToken cancellationToken = default) =>
        _t.GetAsync<PayloadReference>($"keys/{MislataClient.Id(id)}/payloads/{Uri.EscapeDataString(reference)}", cancellationToken);

    /// <summary><c>DELETE /keys/{id}/payloads/{reference}</c>.</summary>
    public Task DeletePayloadAsync(Guid id, string reference, CancellationToken cancellationToken = default) =>
        _t.DeleteAsync($"keys/{MislataClient.Id(id)}/payloads/{Uri.EscapeDataString(reference)}", cancellationToken);

    /// <summary><c>POST /keys/{id}/rewrap-all</c>: queues the job; follow it with <see cref="GetJobAsync"/>.</summary>
    public Task<KeyJob> RewrapAllAsync(Guid id, CancellationToken cancellationToken = default) =>
        _t.PostAsync<KeyJob>($"keys/{MislataClient.Id(id)}/rewrap-all", null, cancellationToken);

    /// <summary><c>GET /keys/{id}/jobs/{jobId}</c>.</summary>
    public Task<KeyJob> GetJobAsync(Guid id, Guid jobId, CancellationToken cancellationToken = default) =>
        _t.GetAsync<KeyJob>($"keys/{MislataClient.Id(id)}/jobs/{MislataClient.Id(jobId)}", cancellationToken);

    /// <summary><c>GET /keys/{id}/coverage</c>.</summary>
    public Task<KeyCoverage> GetCoverageAsync(Guid id, CancellationToken cancellationToken = default) =>
        _t.GetAsync<KeyCoverage>($"keys/{MislataClient.Id(id)}/coverage", cancellationToken);
}

/// <summary>Cryptographic operations (scope <c>encryption:write</c>). None is retried: they carry no idempotency key.</summary>
public sealed class CryptoClient
{
    private readonly MislataTransport _t;

    internal CryptoClient(MislataTransport transport) => _t = transport;

    /// <summary><c>POST /encrypt</c>.</summary>
    public Task<EncryptResult> EncryptAsync(EncryptRequest request, CancellationToken cancellationToken = default) =>
        _t.PostAsync<EncryptResult>("encrypt", request, cancellationToken);

    /// <summary><c>POST /encrypt</c> of bytes (sent as base64).</summary>
    public Task<EncryptResult> EncryptAsync(ReadOnlyMemory<byte> plaintext, Guid? keyId = null, string? context = null, CancellationToken cancellationToken = default) =>
        EncryptAsync(new EncryptRequest(Convert.ToBase64String(plaintext.Span), ValueEncoding.Base64, keyId, context), cancellationToken);

    /// <summary><c>POST /decrypt</c>.</summary>
    public Task<DecryptResult> DecryptAsync(DecryptRequest request, CancellationToken cancellationToken = default) =>
        _t.PostAsync<DecryptResult>("decrypt", request, cancellationToken);

    /// <summary><c>POST /encrypt/batch</c>: per-item results in request order.</summary>
    public Task<BatchResult<EncryptItemResult>> EncryptBatchAsync(EncryptBatchRequest request, CancellationToken cancellationToken = default) =>
        _t.PostAsync<BatchResult<EncryptItemResult>>("encrypt/batch", request, cancellationToken);

    /// <summary><c>POST /decrypt/batch</c>.</summary>
    public Task<BatchResult<DecryptItemResult>> DecryptBatchAsync(DecryptBatchRequest request, CancellationToken cancellationToken = default) =>
        _t.PostAsync<BatchResult<DecryptItemResult>>("decrypt/batch", request, cancellationToken);

    /// <summary><c>POST /rewrap</c>: the payload under the key's current version, plaintext never returned.</summary>
    public Task<RewrapResult> RewrapAsync(RewrapRequest request, CancellationToken cancellationToken = default) =>
        _t.PostAsync<RewrapResult>("rewrap", request, cancellationToken);

    /// <summary><c>POST /datakey</c>. Prefer <see cref="Envelope.DataKeyEnvelope"/>, which keeps the plaintext key in memory only while needed.</summary>
    public Task<DataKeyResult> DataKeyAsync(DataKeyRequest request, CancellationToken cancellationToken = default) =>
        _t.PostAsync<DataKeyResult>("datakey", request, cancellationToken);

    /// <summary><c>POST /sign</c>.</summary>
    public Task<SignResult> SignAsync(SignRequest request, CancellationToken cancellationToken = default) => _t.PostAsync<SignResult>("sign", request, cancellationToken);

    /// <summary><c>POST /verify</c>: a bad signature is <c>valid: false</c>, not an exception.</summary>
    public Task<VerifyResult> VerifyAsync(VerifyRequest request, CancellationToken cancellationToken = default) => _t.PostAsync<VerifyResult>("verify", request, cancellationToken);

    /// <summary><c>POST /hmac</c>.</summary>
    public Task<HmacResult> HmacAsync(HmacRequest request, CancellationToken cancellationToken = default) => _t.PostAsync<HmacResult>("hmac", request, cancellationToken);

    /// <summary><c>POST /hmac/verify</c>.</summary>
    public Task<VerifyResult> HmacVerifyAsync(HmacVerifyRequest request, CancellationToken cancellationToken = default) =>
        _t.PostAsync<VerifyResult>("hmac/verify", request, cancellationToken);

    /// <summary><c>POST /random</c>.</summary>
    public Task<RandomResult> RandomAsync(RandomRequest request, CancellationToken cancellationToken = default) => _t.PostAsync<RandomResult>("random", request, cancellationToken);
}

/// <summary>SSH certificate authorities: create and read CAs, issue OpenSSH certificates, read their records.</summary>
public sealed class SshClient
{
    private readonly MislataTransport _t;

    internal SshClient(MislataTransport transport) => _t = transport;

    /// <summary><c>POST /ssh/ca</c>: a CA whose key is a new Mislata signing key.</summary>
    public Task<SshCa> CreateCaAsync(CreateSshCaRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<SshCa>("ssh/ca", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /ssh/ca</c>.</summary>
    public Task<Page<SshCa>> ListCasAsync(int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<SshCa>>(MislataTransport.Query("ssh/ca", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>GET /ssh/ca/{id}</c>.</summary>
    public Task<SshCa> GetCaAsync(Guid id, CancellationToken cancellationToken = default) => _t.GetAsync<SshCa>("ssh/ca/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>POST /ssh/certificates</c>: the certificate in <see cref="SshCertificate.Certificate"/>.</summary>
    public Task<SshCertificate> IssueAsync(IssueSshCertificateRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<SshCertificate>("ssh/certificates", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /ssh/certificates?caId=</c>: records of issued certificates.</summary>
    public Task<Page<SshCertificate>> ListCertificatesAsync(Guid? caId = null, int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<SshCertificate>>(MislataTransport.Query("ssh/certificates", ("caId", caId is { } ca ? MislataClient.Id(ca) : null), ("limit", limit), ("cursor", cursor)),
            cancellationToken);

    /// <summary><c>GET /ssh/certificates/{id}</c>.</summary>
    public Task<SshCertificate> GetCertificateAsync(Guid id, CancellationToken cancellationToken = default) =>
        _t.GetAsync<SshCertificate>("ssh/certificates/" + MislataClient.Id(id), cancellationToken);
}

/// <summary>X.509 CAs: create root and intermediate CAs, issue and revoke certificates, fetch CRLs.</summary>
public sealed class CertificatesClient
{
    private readonly MislataTransport _t;

    internal CertificatesClient(MislataTransport transport) => _t = transport;

    /// <summary><c>POST /cas</c> (with an <c>Idempotency-Key</c>, generated unless given).</summary>
    public Task<CertificateAuthority> CreateCaAsync(CreateCaRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<CertificateAuthority>("cas", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /cas</c>.</summary>
    public Task<Page<CertificateAuthority>> ListCasAsync(int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<CertificateAuthority>>(MislataTransport.Query("cas", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>GET /cas/{id}</c>.</summary>
    public Task<CertificateAuthority> GetCaAsync(Guid id, CancellationToken cancellationToken = default) =>
        _t.GetAsync<CertificateAuthority>("cas/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>GET /cas/{id}/crl?format=der</c>: the CA's current CRL in DER.</summary>
    public async Task<byte[]> GetCrlAsync(Guid caId, CancellationToken cancellationToken = default)
    {
        using var response = await _t.SendRawAsync(HttpMethod.Get, $"cas/{MislataClient.Id(caId)}/crl?format=der", null, null, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>POST /certificates</c> (with an <c>Idempotency-Key</c>, generated unless given).</summary>
    public Task<IssuedCertificate> IssueAsync(IssueCertificateRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<IssuedCertificate>("certificates", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /certificates</c>, optionally of one CA.</summary>
    public Task<Page<IssuedCertificate>> ListAsync(Guid? caId = null, int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<IssuedCertificate>>(MislataTransport.Query("certificates", ("caId", caId is null ? null : MislataClient.Id(caId.Value)), ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>GET /certificates/{id}</c>.</summary>
    public Task<IssuedCertificate> GetAsync(Guid id, CancellationToken cancellationToken = default) =>
        _t.GetAsync<IssuedCertificate>("certificates/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>POST /certificates/{id}/revoke</c>.</summary>
    public Task<IssuedCertificate> RevokeAsync(Guid id, string reason = "unspecified", CancellationToken cancellationToken = default) =>
        _t.PostAsync<IssuedCertificate>($"certificates/{MislataClient.Id(id)}/revoke", new RevokeCertificateRequest(reason), cancellationToken);
}

/// <summary>Secrets: versioned values with check-and-set, soft deletion and restore.</summary>
public sealed class SecretsClient
{
    private readonly MislataTransport _t;

    internal SecretsClient(MislataTransport transport) => _t = transport;

    /// <summary><c>POST /secrets</c>: version 1.</summary>
    public Task<SecretVersionCreated> CreateAsync(CreateSecretRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<SecretVersionCreated>("secrets", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /secrets</c>: metadata only.</summary>
    public Task<Page<Secret>> ListAsync(SecretListQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new SecretListQuery();
        return _t.GetAsync<Page<Secret>>(MislataTransport.Query("secrets", ("name", query.Name), ("label", query.Label), ("state", query.State),
            ("includeExpired", query.IncludeExpired), ("limit", query.Limit), ("cursor", query.Cursor)), cancellationToken);
    }

    /// <summary><c>GET /secrets/{id}?version=&amp;encoding=&amp;includeExpired=</c>: metadata and the value.</summary>
    public Task<SecretValue> GetAsync(Guid id, int? version = null, string? encoding = null, bool? includeExpired = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<SecretValue>(MislataTransport.Query("secrets/" + MislataClient.Id(id), ("version", version), ("encoding", encoding), ("includeExpired", includeExpired)),
            cancellationToken);

    /// <summary><c>PUT /secrets/{id}</c>: a new version (409 conflict when <c>expectedVersion</c> is stale).</summary>
    public Task<SecretVersionCreated> WriteAsync(Guid id, WriteSecretRequest request, CancellationToken cancellationToken = default) =>
        _t.PutAsync<SecretVersionCreated>("secrets/" + MislataClient.Id(id), request, cancellationToken);

    /// <summary><c>PATCH /secrets/{id}</c>.</summary>
    public Task<Secret> UpdateAsync(Guid id, UpdateSecretRequest request, CancellationToken cancellationToken = default) =>
        _t.PatchAsync<Secret>("secrets/" + MislataClient.Id(id), request, cancellationToken);

    /// <summary><c>GET /secrets/{id}/versions</c>: the history without values.</summary>
    public Task<Page<SecretVersion>> VersionsAsync(Guid id, int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<SecretVersion>>(MislataTransport.Query($"secrets/{MislataClient.Id(id)}/versions", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>DELETE /secrets/{id}</c>: a soft delete, restorable for 30 days.</summary>
    public Task<Secret> DeleteAsync(Guid id, CancellationToken cancellationToken = default) => _t.DeleteAsync<Secret>("secrets/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>DELETE /secrets/{id}?permanent=true</c>: the secret and every version, now.</summary>
    public Task PurgeAsync(Guid id, CancellationToken cancellationToken = default) =>
        _t.DeleteAsync(MislataTransport.Query("secrets/" + MislataClient.Id(id), ("permanent", true)), cancellationToken);

    /// <summary><c>POST /secrets/{id}/restore</c>.</summary>
    public Task<Secret> RestoreAsync(Guid id, CancellationToken cancellationToken = default) => _t.PostAsync<Secret>($"secrets/{MislataClient.Id(id)}/restore", null, cancellationToken);
}

/// <summary>The tenant's API keys.</summary>
public sealed class ApiKeysClient
{
    private readonly MislataTransport _t;

    internal ApiKeysClient(MislataTransport transport) => _t = transport;

    /// <summary><c>POST /api-keys</c>: the answer's <c>key</c> is shown this once.</summary>
    public Task<CreatedApiKey> CreateAsync(CreateApiKeyRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<CreatedApiKey>("api-keys", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /api-keys</c>.</summary>
    public Task<Page<ApiKey>> ListAsync(int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<ApiKey>>(MislataTransport.Query("api-keys", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>GET /api-keys/{id}</c>.</summary>
    public Task<ApiKey> GetAsync(Guid id, CancellationToken cancellationToken = default) => _t.GetAsync<ApiKey>("api-keys/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>DELETE /api-keys/{id}</c>: revoked at once on every replica.</summary>
    public Task RevokeAsync(Guid id, CancellationToken cancellationToken = default) => _t.DeleteAsync("api-keys/" + MislataClient.Id(id), cancellationToken);
}

/// <summary>The tamper-evident audit trail.</summary>
public sealed class AuditClient
{
    private readonly MislataTransport _t;

    internal AuditClient(MislataTransport transport) => _t = transport;

    /// <summary><c>GET /audit</c>: newest first.</summary>
    public Task<Page<AuditEvent>> ListAsync(AuditQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new AuditQuery();
        return _t.GetAsync<Page<AuditEvent>>(MislataTransport.Query("audit", ("from", query.From), ("to", query.To), ("action", query.Action),
            ("actorId", query.ActorId), ("resourceId", query.ResourceId), ("outcome", query.Outcome), ("tenantId", query.TenantId), ("limit", query.Limit),
            ("cursor", query.Cursor)), cancellationToken);
    }

    /// <summary><c>GET /audit/verify</c>.</summary>
    public Task<AuditVerification> VerifyAsync(Guid? tenantId = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<AuditVerification>(MislataTransport.Query("audit/verify", ("tenantId", tenantId)), cancellationToken);
}

/// <summary>The tenant's plan and usage.</summary>
public sealed class BillingClient
{
    private readonly MislataTransport _t;

    internal BillingClient(MislataTransport transport) => _t = transport;

    /// <summary><c>GET /billing/subscription</c>.</summary>
    public Task<Subscription> SubscriptionAsync(CancellationToken cancellationToken = default) => _t.GetAsync<Subscription>("billing/subscription", cancellationToken);

    /// <summary><c>GET /billing/usage</c>.</summary>
    public Task<Usage> UsageAsync(CancellationToken cancellationToken = default) => _t.GetAsync<Usage>("billing/usage", cancellationToken);
}

/// <summary>Platform administration: tenants, plans, partners, the licence.</summary>
public sealed class AdminClient
{
    private readonly MislataTransport _t;

    internal AdminClient(MislataTransport transport) => _t = transport;

    /// <summary><c>POST /admin/tenants</c>.</summary>
    public Task<Tenant> CreateTenantAsync(CreateTenantRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<Tenant>("admin/tenants", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /admin/tenants</c>.</summary>
    public Task<Page<Tenant>> ListTenantsAsync(int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<Tenant>>(MislataTransport.Query("admin/tenants", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>GET /admin/tenants/{id}</c>.</summary>
    public Task<Tenant> GetTenantAsync(Guid id, CancellationToken cancellationToken = default) => _t.GetAsync<Tenant>("admin/tenants/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>PATCH /admin/tenants/{id}</c>.</summary>
    public Task<Tenant> UpdateTenantAsync(Guid id, UpdateTenantRequest request, CancellationToken cancellationToken = default) =>
        _t.PatchAsync<Tenant>("admin/tenants/" + MislataClient.Id(id), request, cancellationToken);

    /// <summary><c>DELETE /admin/tenants/{id}</c>.</summary>
    public Task DeleteTenantAsync(Guid id, CancellationToken cancellationToken = default) => _t.DeleteAsync("admin/tenants/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>POST /admin/tenants/{id}/suspend</c>: every credential of the tenant is refused.</summary>
    public Task<Tenant> SuspendTenantAsync(Guid id, CancellationToken cancellationToken = default) =>
        _t.PostAsync<Tenant>($"admin/tenants/{MislataClient.Id(id)}/suspend", null, cancellationToken);

    /// <summary><c>POST /admin/tenants/{id}/reactivate</c>.</summary>
    public Task<Tenant> ReactivateTenantAsync(Guid id, CancellationToken cancellationToken = default) =>
        _t.PostAsync<Tenant>($"admin/tenants/{MislataClient.Id(id)}/reactivate", null, cancellationToken);

    /// <summary><c>POST /admin/tenants/{id}/api-keys</c>: a first key for a new tenant.</summary>
    public Task<CreatedApiKey> CreateTenantApiKeyAsync(Guid tenantId, CreateApiKeyRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<CreatedApiKey>($"admin/tenants/{MislataClient.Id(tenantId)}/api-keys", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /admin/license</c>: the licence's state, limits and the installation's usage.</summary>
    public Task<LicenseStatus> GetLicenseAsync(CancellationToken cancellationToken = default) => _t.GetAsync<LicenseStatus>("admin/license", cancellationToken);

    /// <summary><c>PUT /admin/license</c>: installs a licence (<c>400 license_invalid</c> keeps the installed one).</summary>
    public Task<LicenseStatus> InstallLicenseAsync(string license, CancellationToken cancellationToken = default) =>
        _t.PutAsync<LicenseStatus>("admin/license", new InstallLicenseRequest(license), cancellationToken);

    /// <summary><c>GET /admin/plans</c>.</summary>
    public Task<Page<Plan>> ListPlansAsync(int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<Plan>>(MislataTransport.Query("admin/plans", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>GET /admin/plans/{id}</c>.</summary>
    public Task<Plan> GetPlanAsync(Guid id, CancellationToken cancellationToken = default) => _t.GetAsync<Plan>("admin/plans/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>POST /admin/plans</c>.</summary>
    public Task<Plan> CreatePlanAsync(PlanRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<Plan>("admin/plans", request, idempotencyKey, cancellationToken);

    /// <summary><c>PATCH /admin/plans/{id}</c>.</summary>
    public Task<Plan> UpdatePlanAsync(Guid id, PlanRequest request, CancellationToken cancellationToken = default) =>
        _t.PatchAsync<Plan>("admin/plans/" + MislataClient.Id(id), request, cancellationToken);

    /// <summary><c>GET /admin/partners</c>.</summary>
    public Task<Page<Partner>> ListPartnersAsync(int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<Partner>>(MislataTransport.Query("admin/partners", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>GET /admin/partners/{id}</c>.</summary>
    public Task<Partner> GetPartnerAsync(Guid id, CancellationToken cancellationToken = default) => _t.GetAsync<Partner>("admin/partners/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>POST /admin/partners</c>.</summary>
    public Task<Partner> CreatePartnerAsync(PartnerRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<Partner>("admin/partners", request, idempotencyKey, cancellationToken);

    /// <summary><c>PATCH /admin/partners/{id}</c>.</summary>
    public Task<Partner> UpdatePartnerAsync(Guid id, PartnerRequest request, CancellationToken cancellationToken = default) =>
        _t.PatchAsync<Partner>("admin/partners/" + MislataClient.Id(id), request, cancellationToken);

    /// <summary><c>DELETE /admin/partners/{id}</c>.</summary>
    public Task DeletePartnerAsync(Guid id, CancellationToken cancellationToken = default) => _t.DeleteAsync("admin/partners/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>POST /admin/partners/{id}/api-keys</c>: a partner:admin key.</summary>
    public Task<CreatedApiKey> CreatePartnerApiKeyAsync(Guid partnerId, CreateApiKeyRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<CreatedApiKey>($"admin/partners/{MislataClient.Id(partnerId)}/api-keys", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /admin/partners/{id}/api-keys</c>.</summary>
    public Task<Page<ApiKey>> ListPartnerApiKeysAsync(Guid partnerId, int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<ApiKey>>(MislataTransport.Query($"admin/partners/{MislataClient.Id(partnerId)}/api-keys", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>GET /admin/partners/{id}/api-keys/{keyId}</c>.</summary>
    public Task<ApiKey> GetPartnerApiKeyAsync(Guid partnerId, Guid keyId, CancellationToken cancellationToken = default) =>
        _t.GetAsync<ApiKey>($"admin/partners/{MislataClient.Id(partnerId)}/api-keys/{MislataClient.Id(keyId)}", cancellationToken);

    /// <summary><c>DELETE /admin/partners/{id}/api-keys/{keyId}</c>.</summary>
    public Task RevokePartnerApiKeyAsync(Guid partnerId, Guid keyId, CancellationToken cancellationToken = default) =>
        _t.DeleteAsync($"admin/partners/{MislataClient.Id(partnerId)}/api-keys/{MislataClient.Id(keyId)}", cancellationToken);
}

/// <summary>The partner portal: a partner's own tenants and their usage.</summary>
public sealed class PartnerClient
{
    private readonly MislataTransport _t;

    internal PartnerClient(MislataTransport transport) => _t = transport;

    /// <summary><c>GET /partner/tenants</c>.</summary>
    public Task<Page<Tenant>> ListTenantsAsync(int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<Tenant>>(MislataTransport.Query("partner/tenants", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>POST /partner/tenants</c>.</summary>
    public Task<Tenant> CreateTenantAsync(CreatePartnerTenantRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<Tenant>("partner/tenants", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /partner/tenants/{id}</c>.</summary>
    public Task<Tenant> GetTenantAsync(Guid id, CancellationToken cancellationToken = default) => _t.GetAsync<Tenant>("partner/tenants/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>GET /partner/usage</c>.</summary>
    public Task<PartnerUsage> UsageAsync(CancellationToken cancellationToken = default) => _t.GetAsync<PartnerUsage>("partner/usage", cancellationToken);
}

/// <summary>The tenant's users (identity service).</summary>
public sealed class UsersClient
{
    private readonly MislataTransport _t;

    internal UsersClient(MislataTransport transport) => _t = transport;

    /// <summary><c>POST /users</c>.</summary>
    public Task<CreatedUser> CreateAsync(CreateUserRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<CreatedUser>("users", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /users</c>.</summary>
    public Task<Page<User>> ListAsync(int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<User>>(MislataTransport.Query("users", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>GET /users/{id}</c>.</summary>
    public Task<User> GetAsync(Guid id, CancellationToken cancellationToken = default) => _t.GetAsync<User>("users/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>PATCH /users/{id}</c>: the roles.</summary>
    public Task<User> UpdateAsync(Guid id, UpdateUserRequest request, CancellationToken cancellationToken = default) =>
        _t.PatchAsync<User>("users/" + MislataClient.Id(id), request, cancellationToken);

    /// <summary><c>POST /users/{id}/block</c>: signs the user out everywhere and refuses new sign-ins.</summary>
    public Task<User> BlockAsync(Guid id, CancellationToken cancellationToken = default) => _t.PostAsync<User>($"users/{MislataClient.Id(id)}/block", null, cancellationToken);

    /// <summary><c>POST /users/{id}/unblock</c>.</summary>
    public Task<User> UnblockAsync(Guid id, CancellationToken cancellationToken = default) => _t.PostAsync<User>($"users/{MislataClient.Id(id)}/unblock", null, cancellationToken);

    /// <summary><c>POST /users/{id}/reset-mfa</c>.</summary>
    public Task<User> ResetMfaAsync(Guid id, CancellationToken cancellationToken = default) => _t.PostAsync<User>($"users/{MislataClient.Id(id)}/reset-mfa", null, cancellationToken);

    /// <summary><c>DELETE /users/{id}</c>.</summary>
    public Task DeleteAsync(Guid id, CancellationToken cancellationToken = default) => _t.DeleteAsync("users/" + MislataClient.Id(id), cancellationToken);
}

/// <summary>The tenant's OIDC applications (identity service).</summary>
public sealed class ApplicationsClient
{
    private readonly MislataTransport _t;

    internal ApplicationsClient(MislataTransport transport) => _t = transport;

    /// <summary><c>POST /applications</c>: the client secret of a confidential client is in the answer, this once.</summary>
    public Task<ApplicationSecret> CreateAsync(CreateApplicationRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        _t.CreateAsync<ApplicationSecret>("applications", request, idempotencyKey, cancellationToken);

    /// <summary><c>GET /applications</c>.</summary>
    public Task<Page<Application>> ListAsync(int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<Application>>(MislataTransport.Query("applications", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>GET /applications/{id}</c>.</summary>
    public Task<Application> GetAsync(Guid id, CancellationToken cancellationToken = default) => _t.GetAsync<Application>("applications/" + MislataClient.Id(id), cancellationToken);

    /// <summary><c>PATCH /applications/{id}</c>.</summary>
    public Task<Application> UpdateAsync(Guid id, UpdateApplicationRequest request, CancellationToken cancellationToken = default) =>
        _t.PatchAsync<Application>("applications/" + MislataClient.Id(id), request, cancellationToken);

    /// <summary><c>POST /applications/{id}/secret</c>: a new client secret (the old one stops working).</summary>
    public Task<ApplicationSecret> RotateSecretAsync(Guid id, CancellationToken cancellationToken = default) =>
        _t.PostAsync<ApplicationSecret>($"applications/{MislataClient.Id(id)}/secret", null, cancellationToken);

    /// <summary><c>DELETE /applications/{id}</c>.</summary>
    public Task DeleteAsync(Guid id, CancellationToken cancellationToken = default) => _t.DeleteAsync("applications/" + MislataClient.Id(id), cancellationToken);
}

/// <summary>Roles and role assignments (identity service).</summary>
public sealed class RolesClient
{
    private readonly MislataTransport _t;

    internal RolesClient(MislataTransport transport) => _t = transport;

    /// <summary><c>GET /roles</c>.</summary>
    public Task<Page<Role>> ListAsync(CancellationToken cancellationToken = default) => _t.GetAsync<Page<Role>>("roles", cancellationToken);

    /// <summary><c>GET /roles/{name}</c>.</summary>
    public Task<Role> GetAsync(string name, CancellationToken cancellationToken = default) => _t.GetAsync<Role>("roles/" + Uri.EscapeDataString(name), cancellationToken);

    /// <summary><c>GET /roles/{name}/members</c>.</summary>
    public Task<Page<User>> MembersAsync(string name, int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        _t.GetAsync<Page<User>>(MislataTransport.Query($"roles/{Uri.EscapeDataString(name)}/members", ("limit", limit), ("cursor", cursor)), cancellationToken);

    /// <summary><c>PUT /roles/{name}/members/{userId}</c>.</summary>
    public Task AssignAsync(string name, Guid userId, CancellationToken cancellationToken = default) =>
        _t.SendNoContentAsync(HttpMethod.Put, $"roles/{Uri.EscapeDataString(name)}/members/{MislataClient.Id(userId)}", cancellationToken);

    /// <summary><c>DELETE /roles/{name}/members/{userId}</c>.</summary>
    public Task UnassignAsync(string name, Guid userId, CancellationToken cancellationToken = default) =>
        _t.DeleteAsync($"roles/{Uri.EscapeDataString(name)}/members/{MislataClient.Id(userId)}", cancellationToken);
}
