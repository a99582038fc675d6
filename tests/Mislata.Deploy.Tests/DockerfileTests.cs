using System.Text.RegularExpressions;

namespace Mislata.Deploy.Tests;

/// <summary>deploy/docker: multi-stage, non-root images, and a gateway entry point that matches the nginx template.</summary>
public sealed partial class DockerfileTests
{
    private static readonly string[] DockerfilePaths = ["deploy/docker/gateway.Dockerfile", "deploy/docker/service.Dockerfile"];

    public static TheoryData<string> Dockerfiles => new(DockerfilePaths);

    [Fact]
    public void Every_dockerfile_in_deploy_docker_is_checked()
    {
        var found = Directory.GetFiles(RepositoryFiles.PathOf("deploy/docker"), "*Dockerfile")
            .Select(p => "deploy/docker/" + Path.GetFileName(p))
            .Order(StringComparer.Ordinal);
        Assert.Equal(DockerfilePaths, found);
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void The_final_stage_runs_as_a_non_root_user(string path)
    {
        var lastStage = Stages(RepositoryFiles.ReadText(path))[^1];
        var users = Instructions(lastStage, "USER").ToList();
        Assert.True(users.Count > 0, $"{path}: the final stage sets no USER");
        Assert.DoesNotMatch(@"^(root|0)(:.*)?$", users[^1]);
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Declares_a_health_check_and_an_exec_form_entrypoint(string path)
    {
        var text = RepositoryFiles.ReadText(path);
        Assert.Matches(@"(?m)^HEALTHCHECK\s", text);
        Assert.Matches(@"(?m)^ENTRYPOINT \[", text);
    }

    [Fact]
    public void The_service_image_is_built_by_the_sdk_and_run_by_the_aspnet_runtime()
    {
        var text = RepositoryFiles.ReadText("deploy/docker/service.Dockerfile");
        var stages = Stages(text);
        Assert.True(stages.Count >= 2, "service.Dockerfile must be multi-stage");
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:", stages[0], StringComparison.Ordinal);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:", stages[^1], StringComparison.Ordinal);
        Assert.Matches(@"(?m)^ARG DOTNET_VERSION=10\.0$", text);
        Assert.Contains("USER $APP_UID", stages[^1], StringComparison.Ordinal);
        Assert.Contains("--configuration Release", stages[0], StringComparison.Ordinal);
        Assert.Matches(@"HEALTHCHECK[^\n]*\\\n[^\n]*healthcheck""\]", stages[^1]);
        Assert.Matches(@"(?m)^COPY --from=build\b", stages[^1]);
    }

    [Fact]
    public void The_gateway_image_is_official_nginx_with_the_shared_template()
    {
        var text = RepositoryFiles.ReadText("deploy/docker/gateway.Dockerfile");
        Assert.Matches(@"(?m)^ARG NGINX_VERSION=1\.(2[89]|3\d)$", text);
        Assert.Matches(@"(?m)^FROM nginx:\$\{NGINX_VERSION\}", text);
        Assert.Contains("deploy/nginx/nginx.conf.template", text, StringComparison.Ordinal);
        Assert.Contains("deploy/nginx/health.js", text, StringComparison.Ordinal);
        Assert.Contains("deploy/docker/gateway-entrypoint.sh", text, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^EXPOSE 8080 8443$", text);

        // The web console is built from its lock file in a pinned Node.js stage and served from the template's www folder.
        Assert.Matches(@"(?m)^FROM node:\$\{NODE_VERSION\}-[a-z]+-slim AS console$", text);
        Assert.Matches(@"(?m)^ARG NODE_VERSION=20\.\d+$", text);
        Assert.Contains("RUN npm ci", text, StringComparison.Ordinal);
        Assert.Contains("COPY --from=console /src/dist /etc/mislata/gateway/www/console", text, StringComparison.Ordinal);
        Assert.Contains("root ${NGINX_CONF_DIR}/www;", RepositoryFiles.ReadText("deploy/nginx/nginx.conf.template"), StringComparison.Ordinal);
    }

    [Fact]
    public void The_gateway_entrypoint_renders_exactly_the_template_variables()
    {
        var template = RepositoryFiles.ReadText("deploy/nginx/nginx.conf.template");
        var templateVariables = TemplateVariable().Matches(template).Select(m => m.Groups["name"].Value)
            .ToHashSet(StringComparer.Ordinal);

        var entrypoint = RepositoryFiles.ReadText("deploy/docker/gateway-entrypoint.sh");
        var envsubst = Assert.Single(EnvsubstList().Matches(entrypoint));
        var rendered = TemplateVariable().Matches(envsubst.Groups["list"].Value).Select(m => m.Groups["name"].Value)
            .ToHashSet(StringComparer.Ordinal);

        Assert.Equal(templateVariables.Order(StringComparer.Ordinal), rendered.Order(StringComparer.Ordinal));
        Assert.Contains("exec nginx", entrypoint, StringComparison.Ordinal);
        Assert.Contains("daemon off;", entrypoint, StringComparison.Ordinal);
        Assert.Contains("openssl req -x509", entrypoint, StringComparison.Ordinal);
    }

    [Fact]
    public void The_build_context_leaves_out_build_output_state_and_git()
    {
        var ignored = RepositoryFiles.ReadText(".dockerignore").Split('\n').Select(l => l.Trim()).ToHashSet(StringComparer.Ordinal);
        foreach (var entry in new[] { "**/bin/", "**/obj/", ".git/", ".state/", ".test-state/", "**/node_modules/", ".env" })
        {
            Assert.Contains(entry, ignored);
        }
    }

    /// <summary>The text of each build stage, each starting at its FROM line.</summary>
    private static List<string> Stages(string dockerfile)
    {
        var starts = FromLine().Matches(dockerfile).Select(m => m.Index).ToList();
        return starts.Select((start, i) => dockerfile[start..(i + 1 < starts.Count ? starts[i + 1] : dockerfile.Length)]).ToList();
    }

    private static IEnumerable<string> Instructions(string stage, string instruction) =>
        Regex.Matches(stage, $@"(?m)^{instruction}\s+(?<arg>\S+)").Select(m => m.Groups["arg"].Value);

    [GeneratedRegex(@"(?m)^FROM\s", RegexOptions.CultureInvariant)]
    private static partial Regex FromLine();

    [GeneratedRegex(@"\$\{(?<name>[A-Z][A-Z0-9_]*)\}", RegexOptions.CultureInvariant)]
    private static partial Regex TemplateVariable();

    [GeneratedRegex(@"envsubst '(?<list>[^']*)'", RegexOptions.CultureInvariant)]
    private static partial Regex EnvsubstList();
}
