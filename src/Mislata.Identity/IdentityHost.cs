using Mislata.Identity.Features.Abuse;
using Mislata.Identity.Features.Auditing;
using Mislata.Identity.Features.Accounts;
using Mislata.Identity.Features.Bootstrap;
using Mislata.Identity.Features.Management;
using Mislata.Identity.Features.Server;
using Mislata.Infrastructure;
using Mislata.Infrastructure.Idempotency;
using Mislata.ServiceDefaults;

namespace Mislata.Identity;

/// <summary>The identity service's composition: <c>Program.cs</c> runs it as is; a test host may replace registrations after it.</summary>
public static class IdentityHost
{
    public static Task<int> RunAsync(string[] args, Action<WebApplicationBuilder>? replaceServices = null) =>
        MislataHost.RunAsync(
            args,
            serviceName: "identity",
            defaultPort: 5100,
            configureServices: builder =>
            {
                builder.AddMislataInfrastructure();
                builder.AddMislataIdentityServer();
                builder.AddIdentityFailedCredentialLimits();
                builder.Services.AddSingleton<IIdempotencyOwner, ManagementIdempotencyOwner>();
                replaceServices?.Invoke(builder);
            },
            configurePipeline: async app =>
            {
                await app.InitializeMislataStorageAsync();
                await app.Services.GetRequiredService<SigningKeyRing>().LoadAsync(CancellationToken.None);
                await app.Services.GetRequiredService<BootstrapSeeder>().SeedAsync(CancellationToken.None);
                await app.Services.GetRequiredService<UserSecretsAtRest>().ProtectStoredAsync(CancellationToken.None);

                app.UseFailedCredentialLimits();
                app.UseAuthentication();
                app.UseAntiforgery();
                app.UseManagementAuthentication();
                app.UseMiddleware<IdempotencyMiddleware>();
                app.MapMislataHealthEndpoints();
                app.MapAuthorizationServer();
                app.MapAccountPages();
                app.MapUsersApi();
                app.MapApplicationsApi();
                app.MapRolesApi();
            });
}
