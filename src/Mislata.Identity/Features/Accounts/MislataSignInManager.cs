using Microsoft.Extensions.Options;
using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Mislata.Infrastructure.Identity;

namespace Mislata.Identity.Features.Accounts;

/// <summary>A blocked user cannot sign in (password, second factor or session refresh): <see cref="CanSignInAsync"/> says no.</summary>
[SuppressMessage("Performance", "CA1812", Justification = "Instantiated by DI.")]
internal sealed class MislataSignInManager(
    UserManager<MislataUser> userManager,
    IHttpContextAccessor contextAccessor,
    IUserClaimsPrincipalFactory<MislataUser> claimsFactory,
    IOptions<IdentityOptions> optionsAccessor,
    ILogger<SignInManager<MislataUser>> logger,
    IAuthenticationSchemeProvider schemes,
    IUserConfirmation<MislataUser> confirmation)
    : SignInManager<MislataUser>(userManager, contextAccessor, claimsFactory, optionsAccessor, logger, schemes, confirmation)
{
    public override async Task<bool> CanSignInAsync(MislataUser user)
    {
        ArgumentNullException.ThrowIfNull(user);
        return user.BlockedAt is null && await base.CanSignInAsync(user);
    }
}
