using System.Security.Cryptography;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Mislata.Infrastructure.Identity;

namespace Mislata.Identity.Features.Accounts;

internal static class AccountSecuritySetup
{
    /// <summary>
    /// Second-factor secrets encrypted at rest, one-time TOTP codes, equal-cost answers for unknown emails, and the
    /// strict return-URL check on the session cookie's own redirects.
    /// </summary>
    public static IdentityBuilder AddMislataAccountSecurity(this IdentityBuilder identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        identity.AddUserStore<ProtectedUserStore>()
            .AddTokenProvider<OneTimeAuthenticatorTokenProvider>(TokenOptions.DefaultAuthenticatorProvider);
        var services = identity.Services;
        services.AddSingleton<UserSecretProtector>();
        services.AddSingleton<UserSecretsAtRest>();
        services.AddSingleton<DecoyPasswordCheck>();
        services.AddScoped(sp => (MislataSignInManager)sp.GetRequiredService<SignInManager<MislataUser>>());

        // The cookie handler itself follows ?ReturnUrl= after a sign-in on the login page and a sign-out on the
        // logout page, with a laxer test than ours ("/\t/evil.example" passes it): same check as every other redirect.
        services.PostConfigure<CookieAuthenticationOptions>(IdentityConstants.ApplicationScheme, options =>
        {
            var follow = options.Events.OnRedirectToReturnUrl;
            options.Events.OnRedirectToReturnUrl = context =>
            {
                context.RedirectUri = LocalReturnUrl.OrDefault(context.RedirectUri);
                return follow(context);
            };
        });
        return identity;
    }
}

/// <summary>
/// A sign-in attempt for an email nobody has (or for a blocked or locked-out account, which the framework answers
/// before hashing) still costs one password hash, so the time of the answer does not tell whether the account exists.
/// </summary>
internal sealed class DecoyPasswordCheck
{
    private readonly PasswordHasher<MislataUser> _hasher;
    private readonly MislataUser _decoy = new();
    private readonly string _hash;

    public DecoyPasswordCheck(IOptions<PasswordHasherOptions> options)
    {
        _hasher = new PasswordHasher<MislataUser>(options);
        _hash = _hasher.HashPassword(_decoy, Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)));
    }

    public void Run(string password) => _ = _hasher.VerifyHashedPassword(_decoy, _hash, password);
}
