using System.Net;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Mislata.Client;
using Mislata.Client.Contracts;

namespace Mislata.EndToEnd.Tests.Client;

/// <summary>
/// The client's routes and fields against the API's own <c>/api/v1/openapi.json</c>: every call the library makes is
/// a documented path and method, every member of its request records is a property of the documented request body,
/// and every member of its response records is a property of the documented response (the client may ignore
/// fields, never invent or misspell one). The identity service's management endpoints (users, applications, roles)
/// are not in the api's document (identity serves none): ClientApiTests drives each of them against the stack.
/// </summary>
[Collection(Tenancy.TenancyCollection.Name)]
public sealed class OpenApiContractTests(Tenancy.TenancyFixture fixture)
{
    private sealed class Recorder : HttpMessageHandler
    {
        public List<(string Method, string Path)> Seen { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Seen.Add((request.Method.Method, request.RequestUri!.AbsolutePath));
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.Conflict) { RequestMessage = request });
        }
    }

    private static readonly Guid A = Guid.NewGuid();
    private static readonly Guid B = Guid.NewGuid();

    /// <summary>Every method of the client with the record it sends and the one it reads (null: no body).</summary>
    private static IEnumerable<(Func<MislataClient, Task> Call, Type? Request, Type? Response)> Calls()
    {
        yield return (c => c.PingAsync(), null, null);
        yield return (c => c.Keys.CreateAsync(new CreateKeyRequest("n")), typeof(CreateKeyRequest), typeof(Key));
        yield return (c => c.Keys.ImportAsync(new ImportKeyRequest("n", "AES-256-GCM", JsonSerializer.SerializeToElement("AA=="), "raw")), typeof(ImportKeyRequest), typeof(Key));
        yield return (c => c.Keys.ListAsync(), null, typeof(Page<Key>));
        yield return (c => c.Keys.GetAsync(A), null, typeof(Key));
        yield return (c => c.Keys.UpdateAsync(A, new UpdateKeyRequest()), typeof(UpdateKeyRequest), typeof(Key));
        yield return (c => c.Keys.RotateAsync(A), null, typeof(Key));
        yield return (c => c.Keys.DisableAsync(A), null, typeof(Key));
        yield return (c => c.Keys.EnableAsync(A), null, typeof(Key));
        yield return (c => c.Keys.DeleteAsync(A, 7), null, typeof(Key));
        yield return (c => c.Keys.RestoreAsync(A), null, typeof(Key));
        yield return (c => c.Keys.GetPublicKeyAsync(A), null, typeof(PublicKey));
        yield return (c => c.Keys.GetJwksAsync(), null, typeof(JsonWebKeySet));
        yield return (c => c.Keys.RegisterPayloadAsync(A, new RegisterPayloadRequest("r", "p", "c")), typeof(RegisterPayloadRequest), typeof(PayloadReference));
        yield return (c => c.Keys.ListPayloadsAsync(A, 1, 2), null, typeof(Page<PayloadReference>));
        yield return (c => c.Keys.GetPayloadAsync(A, B.ToString("D")), null, typeof(PayloadReference));
        yield return (c => c.Keys.DeletePayloadAsync(A, B.ToString("D")), null, null);
        yield return (c => c.Keys.RewrapAllAsync(A), null, typeof(KeyJob));
        yield return (c => c.Keys.GetJobAsync(A, B), null, typeof(KeyJob));
        yield return (c => c.Ssh.CreateCaAsync(new CreateSshCaRequest("n")), typeof(CreateSshCaRequest), typeof(SshCa));
        yield return (c => c.Ssh.ListCasAsync(1), null, typeof(Page<SshCa>));
        yield return (c => c.Ssh.GetCaAsync(A), null, typeof(SshCa));
        yield return (c => c.Ssh.IssueAsync(new IssueSshCertificateRequest(A, "ssh-ed25519 AAAA", "user", "k", ["p"], 60)), typeof(IssueSshCertificateRequest), typeof(SshCertificate));
        yield return (c => c.Ssh.ListCertificatesAsync(A), null, typeof(Page<SshCertificate>));
        yield return (c => c.Ssh.GetCertificateAsync(A), null, typeof(SshCertificate));
        yield return (c => c.Keys.GetCoverageAsync(A), null, typeof(KeyCoverage));
        yield return (c => c.Certificates.CreateCaAsync(new CreateCaRequest("n", "CN=n", 1)), typeof(CreateCaRequest), typeof(CertificateAuthority));
        yield return (c => c.Certificates.ListCasAsync(1, "c"), null, typeof(Page<CertificateAuthority>));
        yield return (c => c.Certificates.GetCaAsync(A), null, typeof(CertificateAuthority));
        yield return (c => c.Certificates.GetCrlAsync(A), null, null);
        yield return (c => c.Certificates.IssueAsync(new IssueCertificateRequest(A, "client", 1)), typeof(IssueCertificateRequest), typeof(IssuedCertificate));
        yield return (c => c.Certificates.ListAsync(A, 1), null, typeof(Page<IssuedCertificate>));
        yield return (c => c.Certificates.GetAsync(A), null, typeof(IssuedCertificate));
        yield return (c => c.Certificates.RevokeAsync(A, "superseded"), typeof(RevokeCertificateRequest), typeof(IssuedCertificate));
        yield return (c => c.Crypto.EncryptAsync(new EncryptRequest("p")), typeof(EncryptRequest), typeof(EncryptResult));
        yield return (c => c.Crypto.DecryptAsync(new DecryptRequest("p")), typeof(DecryptRequest), typeof(DecryptResult));
        yield return (c => c.Crypto.EncryptBatchAsync(new EncryptBatchRequest([])), typeof(EncryptBatchRequest), typeof(BatchResult<EncryptItemResult>));
        yield return (c => c.Crypto.DecryptBatchAsync(new DecryptBatchRequest([])), typeof(DecryptBatchRequest), typeof(BatchResult<DecryptItemResult>));
        yield return (c => c.Crypto.RewrapAsync(new RewrapRequest("p")), typeof(RewrapRequest), typeof(RewrapResult));
        yield return (c => c.Crypto.DataKeyAsync(new DataKeyRequest()), typeof(DataKeyRequest), typeof(DataKeyResult));
        yield return (c => c.Crypto.SignAsync(new SignRequest("m")), typeof(SignRequest), typeof(SignResult));
        yield return (c => c.Crypto.VerifyAsync(new VerifyRequest("m", "s")), typeof(VerifyRequest), typeof(VerifyResult));
        yield return (c => c.Crypto.HmacAsync(new HmacRequest("m", A)), typeof(HmacRequest), typeof(HmacResult));
        yield return (c => c.Crypto.HmacVerifyAsync(new HmacVerifyRequest("m", "x", A)), typeof(HmacVerifyRequest), typeof(VerifyResult));
        yield return (c => c.Crypto.RandomAsync(new RandomRequest(1)), typeof(RandomRequest), typeof(RandomResult));
        yield return (c => c.Secrets.CreateAsync(new CreateSecretRequest("n", "v")), typeof(CreateSecretRequest), typeof(SecretVersionCreated));
        yield return (c => c.Secrets.ListAsync(), null, typeof(Page<Secret>));
        yield return (c => c.Secrets.GetAsync(A), null, typeof(SecretValue));
        yield return (c => c.Secrets.WriteAsync(A, new WriteSecretRequest("v")), typeof(WriteSecretRequest), typeof(SecretVersionCreated));
        yield return (c => c.Secrets.UpdateAsync(A, new UpdateSecretRequest()), typeof(UpdateSecretRequest), typeof(Secret));
        yield return (c => c.Secrets.VersionsAsync(A), null, typeof(Page<SecretVersion>));
        yield return (c => c.Secrets.DeleteAsync(A), null, typeof(Secret));
        yield return (c => c.Secrets.PurgeAsync(A), null, null);
        yield return (c => c.Secrets.RestoreAsync(A), null, typeof(Secret));
        yield return (c => c.ApiKeys.CreateAsync(new CreateApiKeyRequest("n", [])), typeof(CreateApiKeyRequest), typeof(CreatedApiKey));
        yield return (c => c.ApiKeys.ListAsync(), null, typeof(Page<ApiKey>));
        yield return (c => c.ApiKeys.GetAsync(A), null, typeof(ApiKey));
        yield return (c => c.ApiKeys.RevokeAsync(A), null, null);
        yield return (c => c.Audit.ListAsync(), null, typeof(Page<AuditEvent>));
        yield return (c => c.Audit.VerifyAsync(), null, typeof(AuditVerification));
        yield return (c => c.Billing.SubscriptionAsync(), null, typeof(Subscription));
        yield return (c => c.Billing.UsageAsync(), null, typeof(Usage));
        yield return (c => c.Admin.CreateTenantAsync(new CreateTenantRequest("n")), typeof(CreateTenantRequest), typeof(Tenant));
        yield return (c => c.Admin.GetLicenseAsync(), null, typeof(LicenseStatus));
        yield return (c => c.Admin.InstallLicenseAsync("x"), typeof(InstallLicenseRequest), typeof(LicenseStatus));
        yield return (c => c.Admin.ListTenantsAsync(), null, typeof(Page<Tenant>));
        yield return (c => c.Admin.GetTenantAsync(A), null, typeof(Tenant));
        yield return (c => c.Admin.UpdateTenantAsync(A, new UpdateTenantRequest()), typeof(UpdateTenantRequest), typeof(Tenant));
        yield return (c => c.Admin.DeleteTenantAsync(A), null, null);
        yield return (c => c.Admin.SuspendTenantAsync(A), null, typeof(Tenant));
        yield return (c => c.Admin.ReactivateTenantAsync(A), null, typeof(Tenant));
        yield return (c => c.Admin.CreateTenantApiKeyAsync(A, new CreateApiKeyRequest("n", null)), typeof(CreateApiKeyRequest), typeof(CreatedApiKey));
        yield return (c => c.Admin.ListPlansAsync(), null, typeof(Page<Plan>));
        yield return (c => c.Admin.GetPlanAsync(A), null, typeof(Plan));
        yield return (c => c.Admin.CreatePlanAsync(new PlanRequest()), typeof(PlanRequest), typeof(Plan));
        yield return (c => c.Admin.UpdatePlanAsync(A, new PlanRequest()), typeof(PlanRequest), typeof(Plan));
        yield return (c => c.Admin.ListPartnersAsync(), null, typeof(Page<Partner>));
        yield return (c => c.Admin.GetPartnerAsync(A), null, typeof(Partner));
        yield return (c => c.Admin.CreatePartnerAsync(new PartnerRequest()), typeof(PartnerRequest), typeof(Partner));
        yield return (c => c.Admin.UpdatePartnerAsync(A, new PartnerRequest()), typeof(PartnerRequest), typeof(Partner));
        yield return (c => c.Admin.DeletePartnerAsync(A), null, null);
        yield return (c => c.Admin.CreatePartnerApiKeyAsync(A, new CreateApiKeyRequest("n", [])), typeof(CreateApiKeyRequest), typeof(CreatedApiKey));
        yield return (c => c.Admin.ListPartnerApiKeysAsync(A), null, typeof(Page<ApiKey>));
        yield return (c => c.Admin.GetPartnerApiKeyAsync(A, B), null, typeof(ApiKey));
        yield return (c => c.Admin.RevokePartnerApiKeyAsync(A, B), null, null);
        yield return (c => c.Partner.ListTenantsAsync(), null, typeof(Page<Tenant>));
        yield return (c => c.Partner.CreateTenantAsync(new CreatePartnerTenantRequest("n")), typeof(CreatePartnerTenantRequest), typeof(Tenant));
        yield return (c => c.Partner.GetTenantAsync(A), null, typeof(Tenant));
        yield return (c => c.Partner.UsageAsync(), null, typeof(PartnerUsage));
    }

    [Fact]
    public async Task Every_client_call_is_a_documented_route_and_its_records_use_only_documented_fields()
    {
        using var http = fixture.Stack.Gateway.CreateClient();
        var document = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/v1/openapi.json", UriKind.Relative))).RootElement;
        var paths = document.GetProperty("paths");
        var schemas = document.GetProperty("components").GetProperty("schemas");

        var calls = Calls().ToList();
        string[] identity = [nameof(UsersClient), nameof(ApplicationsClient), nameof(RolesClient)];
        var publicMethods = typeof(MislataClient).Assembly.GetTypes().Where(t => t.IsPublic && t.Name.EndsWith("Client", StringComparison.Ordinal) && !identity.Contains(t.Name))
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)).Count(m => m.Name.EndsWith("Async", StringComparison.Ordinal));
        // CryptoClient.EncryptAsync has a bytes overload that sends the same request.
        Assert.Equal(publicMethods - 1, calls.Count);

        var problems = new List<string>();
        foreach (var (call, requestType, responseType) in calls)
        {
            var recorder = new Recorder();
            var client = new MislataClient(new HttpClient(recorder) { BaseAddress = new Uri("http://mislata.test/api/v1/") });
            await Assert.ThrowsAsync<MislataApiException>(() => call(client));
            var (method, path) = recorder.Seen.Single();
            var template = Regex.Replace(path, "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "{}");
            var documented = paths.EnumerateObject().FirstOrDefault(p => Regex.Replace(p.Name, "{[^}]+}", "{}") == template);
            if (documented.Value.ValueKind == JsonValueKind.Undefined || !documented.Value.TryGetProperty(method.ToLowerInvariant(), out var operation))
            {
                problems.Add($"{method} {path}: not in openapi.json");
                continue;
            }

            if (requestType is not null)
            {
                var schema = Resolve(operation.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema"), schemas);
                problems.AddRange(Missing(requestType, schema, schemas).Select(f => $"{method} {template} request: {requestType.Name}.{f} is not documented"));
            }

            if (responseType is not null)
            {
                var success = operation.GetProperty("responses").EnumerateObject().First(r => r.Name.StartsWith('2') && r.Value.TryGetProperty("content", out _));
                var schema = Resolve(success.Value.GetProperty("content").EnumerateObject().First().Value.GetProperty("schema"), schemas);
                problems.AddRange(Missing(responseType, schema, schemas).Select(f => $"{method} {template} response: {responseType.Name}.{f} is not documented"));
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private static JsonElement Resolve(JsonElement schema, JsonElement schemas)
    {
        while (true)
        {
            if (schema.TryGetProperty("$ref", out var reference))
            {
                schema = schemas.GetProperty(reference.GetString()!.Split('/')[^1]);
                continue;
            }

            foreach (var combinator in new[] { "anyOf", "oneOf", "allOf" })
            {
                if (schema.TryGetProperty(combinator, out var options) && options.EnumerateArray().FirstOrDefault(o => o.TryGetProperty("$ref", out _) || o.TryGetProperty("properties", out _)) is { ValueKind: JsonValueKind.Object } o)
                {
                    schema = o;
                    goto next;
                }
            }

            return schema;
        next:;
        }
    }

    /// <summary>The JSON names of <paramref name="type"/>'s members that the schema lacks (nested records checked too).</summary>
    private static IEnumerable<string> Missing(Type type, JsonElement schema, JsonElement schemas)
    {
        if (!schema.TryGetProperty("properties", out var properties))
        {
            yield break;
        }

        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.Name != "EqualityContract"))
        {
            var name = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(property.Name);
            if (!properties.TryGetProperty(name, out var member))
            {
                yield return name;
                continue;
            }

            var inner = property.PropertyType;
            var element = inner.IsGenericType && inner.GetGenericTypeDefinition() == typeof(IReadOnlyList<>) ? inner.GetGenericArguments()[0] : Nullable.GetUnderlyingType(inner) ?? inner;
            // A member of the record's own type (a certificate's companion) has just been checked: no endless descent.
            if (element.Namespace == typeof(Key).Namespace && element.IsClass && element != type)
            {
                var nested = Resolve(member, schemas);
                if (nested.TryGetProperty("items", out var items))
                {
                    nested = Resolve(items, schemas);
                }

                foreach (var m in Missing(element, nested, schemas))
                {
                    yield return name + "." + m;
                }
            }
        }
    }
}
