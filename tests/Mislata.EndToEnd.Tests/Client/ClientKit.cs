using Microsoft.Extensions.DependencyInjection;
using Mislata.Client;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Client;

/// <summary>Clients of the library against the fixture's gateway (trusting exactly its self-signed certificate).</summary>
internal static class ClientKit
{
    public static (MislataClient Client, ServiceProvider Services) Create(TenancyFixture fixture, Action<MislataClientOptions> credential)
    {
        var services = new ServiceCollection();
        var thumbprint = fixture.Stack.Gateway.Certificate.GetCertHashString();
        services.AddMislataClient(o =>
        {
            o.BaseAddress = fixture.Stack.Gateway.BaseAddress;
            o.ConfigureHandler = h => h.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == thumbprint;
            credential(o);
        });
        var provider = services.BuildServiceProvider();
        return (provider.GetRequiredService<MislataClient>(), provider);
    }

    public static (MislataClient Client, ServiceProvider Services) WithKey(TenancyFixture fixture, string apiKey, Action<MislataClientOptions>? more = null) =>
        Create(fixture, o =>
        {
            o.ApiKey = apiKey;
            more?.Invoke(o);
        });

    public static (MislataClient Client, ServiceProvider Services) Operator(TenancyFixture fixture) =>
        Create(fixture, o => o.ClientCredentials = new ClientCredentialsOptions
        {
            ClientId = fixture.Stack.BootstrapClientId, ClientSecret = fixture.Stack.BootstrapClientSecret, Scope = "platform:admin audit:read",
        });

    public static async Task<MislataApiException> FailsAsync(Func<Task> call) => await Assert.ThrowsAsync<MislataApiException>(call);
}
