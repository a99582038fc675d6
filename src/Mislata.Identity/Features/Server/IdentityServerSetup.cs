using OpenIddict.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Caching.Distributed;
using Mislata.Core.Access;
using Mislata.Identity.Features.Accounts;
using Mislata.Identity.Features.Auditing;
using Mislata.Identity.Features.Bootstrap;
using Mislata.Infrastructure.Authentication;
using Mislata.Infrastructure.Identity;
using Mislata.ServiceDefaults;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Mislata.Identity.Features.Server;

internal static class IdentityServerSetup
{
    /// <summary>The audience of every access token (the api and identity's own management API).</summary>
    public const string ApiAudience = "mislata-api";

    public static readonly TimeSpan AccessTokenLifetime = TimeSpan.FromMinutes(15);

    /// <summary>OIDC scopes a user-facing client may ask for besides the API scopes.</summary>
    public static readonly IReadOnlyList<string> OidcScopes = [OpenIddictConstants.Scopes.OpenId, OpenIddictConstants.Scopes.Profile, OpenIddictConstants.Scopes.Email, OpenIddictConstants.Scopes.OfflineAccess];

    /// <summary>ASP.NET Core Identity (users, roles, lockout, TOTP), the Redis-backed session cookie, OpenIddict server and validation.</summary>
    public static WebApplicationBuilder AddMislataIdentityServer(this WebApplicationBuilder builder)
    {
        var publicUrl = builder.Configuration["QAPI_PUBLIC_URL"];
        if (string.IsNullOrWhiteSpace(publicUrl) || !Uri.TryCreate(publicUrl.Trim(), UriKind.Absolute, out var issuer) || issuer.Scheme is not ("https" or "http"))
        {
            throw new StartupException("QAPI_PUBLIC_URL is not set to the platform's public base URL (e.g. https://mislata.example.com): identity uses it as the token issuer.");
        }

        var services = builder.Services;
        services.AddHttpContextAccessor();
        services.AddScoped<IdentityAudit>();
        services.AddScoped<ApplicationBoundary>();

        services.AddIdentity<MislataUser, MislataRole>(o =>
            {
                o.User.RequireUniqueEmail = true;
                o.Password.RequiredLength = 12;
                o.Password.RequireDigit = true;
                o.Password.RequireLowercase = true;
                o.Password.RequireUppercase = true;
                o.Password.RequireNonAlphanumeric = true;
                o.Password.RequiredUniqueChars = 5;
                o.Lockout.AllowedForNewUsers = true;
                o.SignIn.RequireConfirmedAccount = false;
            })
            .AddEntityFrameworkStores<IdentityStoreDbContext>()
            .AddSignInManager<MislataSignInManager>()
            .AddDefaultTokenProviders()
            .AddMislataAccountSecurity();
        // Two lockout counters (Accounts/SignInLockoutOptions): Identity's own counts wrong passwords only.
        services.AddOptions<SignInLockoutOptions>().BindConfiguration(SignInLockoutOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<IdentityOptions>().Configure<IOptions<SignInLockoutOptions>>((o, lockout) =>
        {
            o.Lockout.MaxFailedAccessAttempts = lockout.Value.PasswordMaxFailures;
            o.Lockout.DefaultLockoutTimeSpan = lockout.Value.PasswordWindow;
        });
        services.Configure<SecurityStampValidatorOptions>(o =>
        {
            o.ValidationInterval = TimeSpan.FromMinutes(1);
            // The periodic refresh rebuilds the principal from the user: keep how the session was signed in (amr).
            o.OnRefreshingPrincipal = context =>
            {
                if (context.NewPrincipal?.Identities.FirstOrDefault() is { } identity)
                {
                    identity.AddClaims(SignInMethods.Claims(SignInMethods.Of(context.CurrentPrincipal)));
                }

                return Task.CompletedTask;
            };
        });

        // Passkeys belong to the platform's public host name (the WebAuthn relying party id); their ceremonies must come
        // from its public origin, QAPI_PUBLIC_URL's (a page of any other origin, or framed by one, is refused).
        var publicOrigin = issuer.GetLeftPart(UriPartial.Authority);
        services.Configure<IdentityPasskeyOptions>(o =>
        {
            o.ServerDomain = issuer.Host;
            o.ValidateOrigin = origin => ValueTask.FromResult(
                !origin.CrossOrigin && string.Equals(origin.Origin, publicOrigin, StringComparison.OrdinalIgnoreCase));
        });
        services.AddOptions<CookieAuthenticationOptions>(SessionCookie.Scheme)
            .Configure<IDistributedCache, TimeProvider>((o, cache, time) => SessionCookie.Apply(o, cache, time));
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "__Host-mislata-af";
            o.Cookie.SecurePolicy = CookieSecurePolicy.Always;
            o.Cookie.Path = "/";
            o.FormFieldName = "__RequestVerificationToken";
        });

        services.AddSingleton<DpopNonces>();
        services.AddSingleton<SigningKeyRing>();
        services.AddSingleton<IOptionsChangeTokenSource<OpenIddictServerOptions>>(sp => sp.GetRequiredService<SigningKeyRing>());
        services.AddSingleton<IOptionsChangeTokenSource<OpenIddict.Validation.OpenIddictValidationOptions>>(sp => sp.GetRequiredService<SigningKeyRing>());
        services.AddHostedService<SigningKeyRotation>();
        services.AddSingleton<IConfigureOptions<OpenIddictServerOptions>, SigningKeyOptionsSetup>();
        services.AddSingleton<BootstrapSeeder>();

        services.AddOpenIddict()
            .AddCore(o => o.UseEntityFrameworkCore().UseDbContext<IdentityStoreDbContext>().ReplaceDefaultEntities<Guid>())
            .AddServer(o =>
            {
                o.SetIssuer(issuer);
                o.SetAuthorizationEndpointUris("connect/authorize")
                    .SetTokenEndpointUris("connect/token")
                    .SetIntrospectionEndpointUris("connect/introspect")
                    .SetRevocationEndpointUris("connect/revoke")
                    .SetUserInfoEndpointUris("connect/userinfo")
                    .SetEndSessionEndpointUris("connect/endsession")
                    .SetPushedAuthorizationEndpointUris("connect/par")
                    .SetDeviceAuthorizationEndpointUris("connect/device")
                    .SetEndUserVerificationEndpointUris("connect/verify")
                    .SetJsonWebKeySetEndpointUris(".well-known/jwks")
                    .SetConfigurationEndpointUris(".well-known/openid-configuration");
                o.AllowAuthorizationCodeFlow().AllowClientCredentialsFlow().AllowRefreshTokenFlow().AllowDeviceAuthorizationFlow();
                o.RequireProofKeyForCodeExchange();
                o.Configure(options => options.CodeChallengeMethods.Remove(CodeChallengeMethods.Plain));
                o.RegisterScopes([.. OidcScopes, OpenIddictConstants.Scopes.Roles, .. Mislata.Core.Access.Scopes.All]);
                o.RegisterClaims(Claims.Subject, Claims.Email, Claims.Name, Claims.Role, ClaimNames.TenantId, Claims.ClientId, Claims.AuthenticationMethodReference);
                o.SetAccessTokenLifetime(AccessTokenLifetime)
                    .SetIdentityTokenLifetime(TimeSpan.FromMinutes(15))
                    .SetAuthorizationCodeLifetime(TimeSpan.FromMinutes(5))
                    .SetRefreshTokenLifetime(TimeSpan.FromDays(14))
                    .SetRefreshTokenReuseLeeway(TimeSpan.Zero);
                o.DisableAccessTokenEncryption();
                // Introspection is for platform applications (only they get the permission), which must be able to
                // introspect any token, although they are neither its audience nor its presenter.
                o.RemoveEventHandler(OpenIddictServerHandlers.Introspection.ValidateAuthorizedParty.Descriptor);
                o.AddEventHandler(RequirePlatformOwnerForIntrospection.Descriptor);
                o.AddEventHandler(RevokeFamilyOnReplay.Descriptor);
                o.AddTokenSigningHandlers();
                o.AddEventHandler(RefuseReplayedClientAssertion.Descriptor);
                o.AddDpopHandlers();
                o.UseAspNetCore()
                    .EnableAuthorizationEndpointPassthrough()
                    .EnableTokenEndpointPassthrough()
                    .EnableUserInfoEndpointPassthrough()
                    .EnableEndSessionEndpointPassthrough()
                    .EnableEndUserVerificationEndpointPassthrough()
                    // Identity listens on plain HTTP inside the private network; the gateway terminates TLS and its
                    // forwarded headers give the public https view.
                    .DisableTransportSecurityRequirement();
            })
            .AddValidation(o =>
            {
                o.UseLocalServer();
                o.UseAspNetCore();
                o.AddAudiences(ApiAudience);
                o.EnableTokenEntryValidation();
                o.AddDpopHandlers();
            });
        return builder;
    }
}
