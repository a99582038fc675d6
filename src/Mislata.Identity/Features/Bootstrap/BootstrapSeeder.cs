using System.Security.Cryptography;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Identity.Features.Management;
using Mislata.Infrastructure.Identity;
using Npgsql;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Mislata.Identity.Features.Bootstrap;

/// <summary>
/// First start: the roles, the platform admin (QAPI_ADMIN_EMAIL / QAPI_ADMIN_PASSWORD, or a generated password
/// printed once to the console), the operator client (QAPI_BOOTSTRAP_CLIENT_ID / _SECRET) and the web console's
/// public client (<see cref="ConsoleClientId"/>, its redirect URIs under QAPI_PUBLIC_URL kept current at every start).
/// Idempotent; replicas starting together serialise on a PostgreSQL advisory lock.
/// </summary>
internal sealed partial class BootstrapSeeder(IServiceProvider services, NpgsqlDataSource dataSource, IConfiguration configuration, TimeProvider time, ILogger<BootstrapSeeder> logger)
{
    /// <summary>The web console (/console): a platform-owned public client, authorization code + PKCE, no secret.</summary>
    public const string ConsoleClientId = "mislata-console";

    /// <summary>Advisory lock key: ASCII "MISLBOOT".</summary>
    private const long AdvisoryLockKey = 0x4D49534C424F4F54;

    public async Task SeedAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var command = new NpgsqlCommand($"SELECT pg_advisory_lock({AdvisoryLockKey})", connection))
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        try
        {
            await using var scope = services.CreateAsyncScope();
            await SeedRolesAsync(scope.ServiceProvider.GetRequiredService<RoleManager<MislataRole>>());
            await SeedAdminAsync(scope.ServiceProvider.GetRequiredService<UserManager<MislataUser>>());
            await SeedOperatorClientAsync(scope.ServiceProvider, cancellationToken);
            await SeedConsoleClientAsync(scope.ServiceProvider, cancellationToken);
        }
        finally
        {
            await using var unlock = new NpgsqlCommand($"SELECT pg_advisory_unlock({AdvisoryLockKey})", connection);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    private static async Task SeedRolesAsync(RoleManager<MislataRole> roles)
    {
        foreach (var role in Roles.All)
        {
            if (!await roles.RoleExistsAsync(role))
            {
                Check(await roles.CreateAsync(new MislataRole(role)), "role " + role);
            }
        }
    }

    private async Task SeedAdminAsync(UserManager<MislataUser> users)
    {
        var email = configuration["QAPI_ADMIN_EMAIL"];
        if (string.IsNullOrWhiteSpace(email))
        {
            email = "admin@mislata.local";
        }

        if (await users.FindByEmailAsync(email) is not null)
        {
            return;
        }

        var password = configuration["QAPI_ADMIN_PASSWORD"];
        var generated = string.IsNullOrEmpty(password);
        if (generated)
        {
            password = "Ml-" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(18)).Replace('+', 'x').Replace('/', 'y') + "-9a";
        }

        var admin = new MislataUser
        {
            Id = Guid.CreateVersion7(time.GetUtcNow()),
            UserName = email,
            Email = email,
            EmailConfirmed = true,
            CreatedAt = time.GetUtcNow(),
        };
        var created = await users.CreateAsync(admin, password!);
        if (!created.Succeeded)
        {
            throw new ServiceDefaults.StartupException("QAPI_ADMIN_PASSWORD does not meet the password policy (at least 12 characters with upper and lower case letters, a digit and a symbol).");
        }

        Check(await users.AddToRoleAsync(admin, Roles.PlatformAdmin), "platform admin role");
        LogAdminCreated(logger, admin.Id);
        if (generated)
        {
            // Printed once, to the console only (never through the logger), so the operator can sign in.
            await Console.Out.WriteLineAsync($"mislata-identity: created platform admin {email} with the generated password {password} — change it after signing in.");
        }
    }

    private async Task SeedOperatorClientAsync(IServiceProvider scoped, CancellationToken cancellationToken)
    {
        var clientId = configuration["QAPI_BOOTSTRAP_CLIENT_ID"];
        if (string.IsNullOrWhiteSpace(clientId))
        {
            return;
        }

        var secret = configuration["QAPI_BOOTSTRAP_CLIENT_SECRET"];
        var applications = scoped.GetRequiredService<IOpenIddictApplicationManager>();
        var existing = await applications.FindByClientIdAsync(clientId, cancellationToken);
        if (existing is not null)
        {
            // A changed QAPI_BOOTSTRAP_CLIENT_SECRET takes effect at the next start.
            if (!string.IsNullOrEmpty(secret) && !await applications.ValidateClientSecretAsync(existing, secret, cancellationToken))
            {
                await applications.UpdateAsync(existing, secret, cancellationToken);
                LogOperatorSecretUpdated(logger, clientId);
            }

            await EnsurePlatformOwnerAsync(scoped, Guid.Parse((await applications.GetIdAsync(existing, cancellationToken))!), clientId, cancellationToken);
            return;
        }

        var generated = string.IsNullOrEmpty(secret);
        if (generated)
        {
            secret = ApplicationsApi.NewSecret();
        }

        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = clientId,
            ClientSecret = secret,
            ClientType = ClientTypes.Confidential,
            ConsentType = ConsentTypes.Implicit,
            DisplayName = "Mislata operator",
            Permissions =
            {
                Permissions.Endpoints.Token,
                Permissions.Endpoints.Introspection,
                Permissions.Endpoints.Revocation,
                Permissions.GrantTypes.ClientCredentials,
            },
        };
        foreach (var scope in Mislata.Core.Access.Scopes.All)
        {
            descriptor.Permissions.Add(Permissions.Prefixes.Scope + scope);
        }

        // A platform application: its owner row (without a tenant) is what makes it one.
        await ApplicationsApi.CreateWithOwnerAsync(scoped, descriptor, tenantId: null, time.GetUtcNow(), beforeCommit: null, cancellationToken);
        LogOperatorCreated(logger, clientId);
        if (generated)
        {
            await Console.Out.WriteLineAsync($"mislata-identity: created operator client {clientId} with the generated secret {secret} — it is not shown again.");
        }
    }

    /// <summary>
    /// The console signs users of every tenant in (a platform application, like the account pages): it gets only the
    /// scopes of each user's roles, and every token carries the user's tenant. Public: nothing in a browser keeps a
    /// secret, so PKCE is required; consent is implicit (first-party). Its redirect URIs follow QAPI_PUBLIC_URL.
    /// </summary>
    private async Task SeedConsoleClientAsync(IServiceProvider scoped, CancellationToken cancellationToken)
    {
        var publicUrl = (configuration["QAPI_PUBLIC_URL"] ?? string.Empty).TrimEnd('/');
        if (!Uri.TryCreate(publicUrl, UriKind.Absolute, out _))
        {
            return; // identity refuses to start without it (IdentityServerSetup); nothing to register against.
        }

        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = ConsoleClientId,
            ClientType = ClientTypes.Public,
            ConsentType = ConsentTypes.Implicit,
            DisplayName = "Mislata console",
            RedirectUris = { new Uri(publicUrl + "/console/callback") },
            PostLogoutRedirectUris = { new Uri(publicUrl + "/console/") },
            Permissions =
            {
                Permissions.Endpoints.Authorization,
                Permissions.Endpoints.Token,
                Permissions.Endpoints.EndSession,
                Permissions.Endpoints.Revocation,
                Permissions.GrantTypes.AuthorizationCode,
                Permissions.GrantTypes.RefreshToken,
                Permissions.ResponseTypes.Code,
                Permissions.Scopes.Email,
                Permissions.Scopes.Profile,
                Permissions.Scopes.Roles,
            },
            Requirements = { Requirements.Features.ProofKeyForCodeExchange },
        };
        foreach (var scope in Mislata.Core.Access.Scopes.All)
        {
            descriptor.Permissions.Add(Permissions.Prefixes.Scope + scope);
        }

        var applications = scoped.GetRequiredService<IOpenIddictApplicationManager>();
        var existing = await applications.FindByClientIdAsync(ConsoleClientId, cancellationToken);
        if (existing is null)
        {
            await ApplicationsApi.CreateWithOwnerAsync(scoped, descriptor, tenantId: null, time.GetUtcNow(), beforeCommit: null, cancellationToken);
            LogConsoleCreated(logger, publicUrl);
            return;
        }

        var current = new OpenIddictApplicationDescriptor();
        await applications.PopulateAsync(current, existing, cancellationToken);
        if (!current.RedirectUris.SetEquals(descriptor.RedirectUris) || !current.PostLogoutRedirectUris.SetEquals(descriptor.PostLogoutRedirectUris)
            || !current.Permissions.SetEquals(descriptor.Permissions) || current.ClientType != ClientTypes.Public)
        {
            await applications.UpdateAsync(existing, descriptor, cancellationToken);
            LogConsoleUpdated(logger, publicUrl);
        }

        await EnsurePlatformOwnerAsync(scoped, Guid.Parse((await applications.GetIdAsync(existing, cancellationToken))!), ConsoleClientId, cancellationToken);
    }

    /// <summary>
    /// An application without an owner row is refused everywhere; an operator client from before owner rows existed
    /// gets its platform owner row back (one it already has, even a tenant's, is left as it is).
    /// </summary>
    private async Task EnsurePlatformOwnerAsync(IServiceProvider scoped, Guid applicationId, string clientId, CancellationToken cancellationToken)
    {
        var db = scoped.GetRequiredService<IdentityStoreDbContext>();
        if (await db.ApplicationOwners.AnyAsync(o => o.ApplicationId == applicationId, cancellationToken))
        {
            return;
        }

        db.ApplicationOwners.Add(new ApplicationOwner { ApplicationId = applicationId, TenantId = null, CreatedAt = time.GetUtcNow() });
        await db.SaveChangesAsync(cancellationToken);
        LogOperatorOwnerRestored(logger, clientId);
    }

    private static void Check(IdentityResult result, string what)
    {
        if (!result.Succeeded)
        {
            throw new ServiceDefaults.StartupException($"bootstrap failed creating the {what}: {string.Join("; ", result.Errors.Select(e => e.Code))}");
        }
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "Created the platform admin {UserId}")]
    private static partial void LogAdminCreated(ILogger logger, Guid userId);

    [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "Created the operator client {ClientId}")]
    private static partial void LogOperatorCreated(ILogger logger, string clientId);

    [LoggerMessage(EventId = 402, Level = LogLevel.Information, Message = "Updated the secret of the operator client {ClientId}")]
    private static partial void LogOperatorSecretUpdated(ILogger logger, string clientId);

    [LoggerMessage(EventId = 404, Level = LogLevel.Information, Message = "Registered the console client for {PublicUrl}")]
    private static partial void LogConsoleCreated(ILogger logger, string publicUrl);

    [LoggerMessage(EventId = 405, Level = LogLevel.Information, Message = "Updated the console client for {PublicUrl}")]
    private static partial void LogConsoleUpdated(ILogger logger, string publicUrl);

    [LoggerMessage(EventId = 403, Level = LogLevel.Warning, Message = "The operator client {ClientId} had no owner row: recorded it as a platform application")]
    private static partial void LogOperatorOwnerRestored(ILogger logger, string clientId);
}
