using Microsoft.Extensions.DependencyInjection.Extensions;
using Mislata.Api;
using Mislata.Core.Licensing;
using Mislata.Identity;
using Mislata.Testing.Licensing;
using Mislata.Worker;

// dotnet Mislata.Testing.LicensedHost.dll identity|api|worker [args…]
static void TrustTestVendor(WebApplicationBuilder builder) =>
    builder.Services.Replace(ServiceDescriptor.Singleton(TestVendor.Anchors));

return args switch
{
    ["identity", .. var rest] => await IdentityHost.RunAsync(rest, TrustTestVendor),
    ["api", .. var rest] => await ApiHost.RunAsync(rest, TrustTestVendor),
    ["worker", .. var rest] => await WorkerHost.RunAsync(rest, TrustTestVendor),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Mislata.Testing.LicensedHost identity|api|worker [args]");
    return 2;
}
