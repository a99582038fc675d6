using System.Text.RegularExpressions;

namespace Mislata.Deploy.Tests;

/// <summary>
/// The gateway passes a sent write to another replica only where a repeat is harmless: the creating POSTs that honour
/// Idempotency-Key (the endpoints marked <c>.Idempotent()</c> in the services) and the side-effect-free operations.
/// The template's list of idempotent endpoints is compared with the code, so that an endpoint gaining or losing
/// <c>.Idempotent()</c> cannot leave the gateway retrying a write the service would perform twice.
/// </summary>
public sealed partial class GatewayTemplateTests
{
    private const string SampleGuid = "0195a1c0-0000-7000-8000-0000000000aa";
    private static readonly string Template = RepositoryFiles.ReadText("deploy/nginx/nginx.conf.template");

    [Fact]
    public void The_idempotent_write_map_names_exactly_the_endpoints_that_honour_Idempotency_Key()
    {
        var (idempotent, others) = CreatingPosts();
        Assert.NotEmpty(idempotent);
        var map = MapRegex();

        foreach (var path in idempotent)
        {
            Assert.True(map.IsMatch($"POST {path}|key-1"), $"{path} honours Idempotency-Key but the gateway does not retry it");
            Assert.False(map.IsMatch($"POST {path}|"), $"{path} without the header must not be retried");
            Assert.False(map.IsMatch($"PUT {path}|key-1"), $"PUT {path} must not be retried");
        }

        foreach (var path in others)
        {
            Assert.False(map.IsMatch($"POST {path}|key-1"), $"{path} ignores Idempotency-Key: the gateway must not send it twice");
        }

        // Every alternative of the map is an endpoint of the code (nothing stale).
        var alternatives = MapAlternation().Match(Template).Groups["alts"].Value.Split('|');
        foreach (var alternative in alternatives)
        {
            var single = new Regex("^/api/v1/(" + alternative + ")/?$", RegexOptions.CultureInvariant);
            Assert.True(idempotent.Any(single.IsMatch), $"the map names {alternative}, which no endpoint marked .Idempotent() is");
        }
    }

    [Fact]
    public void Side_effect_free_operations_are_retried_after_being_sent_and_nothing_else_is()
    {
        var retrying = RetryingLocations().Matches(Template).Select(m => m.Groups["path"].Value).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(
            new[] { @"~ ^/api/v1/(encrypt|decrypt)/batch$", "^~ /_idempotent_identity/", @"~ ^/api/v1/(encrypt|decrypt|sign|verify|hmac|hmac/verify|random|datakey|rewrap)$", "^~ /_idempotent/" }.Order(StringComparer.Ordinal),
            retrying);
        Assert.Contains("proxy_next_upstream error timeout http_502;", Template, StringComparison.Ordinal);
        // A service's 503 (fail closed on a dependency) must never mark its replica failed: that took every identity
        // replica out for fail_timeout after an audit-store outage and answered the next callers 503 from the gateway.
        Assert.DoesNotMatch(@"proxy_next_upstream[^;]*http_503", Template);
        Assert.Contains("proxy_next_upstream_tries 0;", Template, StringComparison.Ordinal);
    }

    private static Regex MapRegex()
    {
        var match = MapLine().Match(Template);
        Assert.True(match.Success, "the $mislata_idempotent_write map is missing");
        return new Regex(match.Groups["regex"].Value, RegexOptions.CultureInvariant);
    }

    /// <summary>POST routes of the services' source: those marked .Idempotent() and the others, with sample ids.</summary>
    private static (List<string> Idempotent, List<string> Others) CreatingPosts()
    {
        var idempotent = new List<string>();
        var others = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(RepositoryFiles.Root, "src"), "*.cs", SearchOption.AllDirectories))
        {
            var source = File.ReadAllText(file);
            var groups = MapGroup().Matches(source).ToDictionary(m => m.Groups["var"].Value, m => m.Groups["prefix"].Value, StringComparer.Ordinal);
            foreach (Match post in MapPost().Matches(source))
            {
                if (!groups.TryGetValue(post.Groups["var"].Value, out var prefix))
                {
                    continue;
                }

                var sub = post.Groups["sub"].Value;
                var path = (prefix + (sub is "/" or "" ? string.Empty : sub)).Replace("{id:guid}", SampleGuid, StringComparison.Ordinal);
                path = RouteParameter().Replace(path, "x");
                (post.Groups["rest"].Value.Contains(".Idempotent()", StringComparison.Ordinal) ? idempotent : others).Add(path);
            }
        }

        return (idempotent, others);
    }

    [GeneratedRegex("""map "\$request_method \$uri\|\$http_idempotency_key" \$mislata_idempotent_write \{\s*"~(?<regex>[^"]+)" 1;""")]
    private static partial Regex MapLine();

    [GeneratedRegex(@"\^POST /api/v1/\((?<alts>[^)]+)\)/\?")]
    private static partial Regex MapAlternation();

    [GeneratedRegex("""var (?<var>\w+) = app\.MapGroup\("(?<prefix>[^"]*)"\)""")]
    private static partial Regex MapGroup();

    [GeneratedRegex("""(?<var>\w+)\.MapPost\("(?<sub>[^"]*)"(?<rest>[^;]*);""")]
    private static partial Regex MapPost();

    [GeneratedRegex(@"\{[^}]+\}")]
    private static partial Regex RouteParameter();

    [GeneratedRegex(@"location (?<path>[^{\n]+?) \{(?:(?!location )[\s\S])*?proxy_next_upstream [^;]*non_idempotent;")]
    private static partial Regex RetryingLocations();
}
