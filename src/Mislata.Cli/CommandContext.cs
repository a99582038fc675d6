using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Mislata.Client;

namespace Mislata.Cli;

/// <summary>What an action needs: its parse result, the output mode, cancellation and (lazily) a client of the chosen profile.</summary>
internal sealed class CommandContext(ParseResult parse, Output output, CancellationToken cancellationToken) : IAsyncDisposable
{
    private ServiceProvider? _services;
    private MislataClient? _client;

    public ParseResult Parse => parse;

    public Output Output => output;

    public CancellationToken Cancellation => cancellationToken;

    public T? Get<T>(Option<T> option) => parse.GetValue(option);

    public T? Get<T>(Argument<T> argument) => parse.GetValue(argument);

    public MislataClient Client
    {
        get
        {
            if (_client is not null)
            {
                return _client;
            }

            var (_, profile) = ProfileStore.Resolve(parse.GetValue(CliOptions.Profile));
            _services = Build(profile, parse.GetValue(CliOptions.Verbose));
            return _client = _services.GetRequiredService<MislataClient>();
        }
    }

    public static ServiceProvider Build(Profile profile, bool verbose)
    {
        if (!Uri.TryCreate(profile.Url, UriKind.Absolute, out var url))
        {
            throw new UsageException($"profile URL '{profile.Url}' is not an absolute URL");
        }

        var services = new ServiceCollection();
        services.AddMislataClient(o =>
        {
            o.BaseAddress = url;
            if (profile.ApiKey is not null)
            {
                o.ApiKey = profile.ApiKey;
            }
            else
            {
                o.ClientCredentials = new ClientCredentialsOptions { ClientId = profile.ClientId ?? "", ClientSecret = profile.ClientSecret ?? "", Scope = profile.Scope };
            }

            if (profile.CaCertificate is { } ca)
            {
                var roots = new X509Certificate2Collection();
                roots.ImportFromPemFile(ca);
                o.ConfigureHandler = h => h.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (errors == System.Net.Security.SslPolicyErrors.None)
                    {
                        return true;
                    }

                    if (certificate is null || (errors & System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
                    {
                        return false;
                    }

                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    return chain.Build(new X509Certificate2(certificate));
                };
            }

            if (verbose)
            {
                o.OnRetry = (attempt, delay, status) => Console.Error.WriteLine($"retry {attempt} in {delay.TotalSeconds:0.0}s after {(status is null ? "a connection failure" : status.ToString())}");
            }
        });
        return services.BuildServiceProvider();
    }

    public async ValueTask DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }
    }
}
