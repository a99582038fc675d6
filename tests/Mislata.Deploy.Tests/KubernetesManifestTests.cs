using YamlDotNet.RepresentationModel;

namespace Mislata.Deploy.Tests;

/// <summary>deploy/k8s: every YAML parses, the Kustomize base lists real files, the workloads are probed,
/// bounded and unprivileged, and the Secret is a template.</summary>
public sealed class KubernetesManifestTests
{
    private const string BasePath = "deploy/k8s/base";

    private static readonly Dictionary<string, (int Replicas, int Port)> Services = new(StringComparer.Ordinal)
    {
        ["identity"] = (2, 5100),
        ["api"] = (2, 5282),
        ["worker"] = (1, 5300),
    };

    public static TheoryData<string> YamlFiles()
    {
        var root = RepositoryFiles.PathOf("deploy/k8s");
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(root, "*.*", SearchOption.AllDirectories)
                     .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
                     .Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(RepositoryFiles.Root, file).Replace(Path.DirectorySeparatorChar, '/'));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(YamlFiles))]
    public void Every_document_parses_and_names_its_kind(string path)
    {
        var documents = RepositoryFiles.ReadYamlDocuments(path);
        Assert.NotEmpty(documents);
        foreach (var document in documents)
        {
            var root = Assert.IsType<YamlMappingNode>(document.RootNode);
            Assert.False(string.IsNullOrEmpty(root.Scalar("apiVersion")), $"{path}: a document without apiVersion");
            Assert.False(string.IsNullOrEmpty(root.Scalar("kind")), $"{path}: a document without kind");
        }
    }

    [Fact]
    public void The_kustomization_lists_every_manifest_of_the_base_and_only_existing_files()
    {
        var kustomization = RepositoryFiles.ReadYamlMapping($"{BasePath}/kustomization.yaml");
        Assert.Equal("mislata", kustomization.Scalar("namespace"));
        var resources = YamlNodes.NamesOf(kustomization.Child("resources"));
        var files = Directory.GetFiles(RepositoryFiles.PathOf(BasePath), "*.yaml")
            .Select(Path.GetFileName)
            .Where(f => f != "kustomization.yaml")
            .Order(StringComparer.Ordinal);
        Assert.Equal(files, resources.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_base_defines_the_four_deployments_with_their_replicas()
    {
        var deployments = Objects("Deployment");
        Assert.Equal(["api", "gateway", "identity", "worker"], deployments.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, (replicas, _)) in Services)
        {
            Assert.Equal(replicas.ToString(System.Globalization.CultureInfo.InvariantCulture), deployments[name].Mapping("spec").Scalar("replicas"));
        }
    }

    [Fact]
    public void The_dotnet_services_are_probed_on_their_health_endpoints()
    {
        var deployments = Objects("Deployment");
        foreach (var (name, (_, port)) in Services)
        {
            var container = SingleContainer(deployments[name]);
            Assert.Equal("/health/ready", container.Mapping("readinessProbe").Mapping("httpGet").Scalar("path"));
            Assert.Equal("/health/live", container.Mapping("livenessProbe").Mapping("httpGet").Scalar("path"));

            var ports = Assert.IsType<YamlSequenceNode>(container.Child("ports"));
            var http = Assert.IsType<YamlMappingNode>(Assert.Single(ports.Children));
            Assert.Equal(port.ToString(System.Globalization.CultureInfo.InvariantCulture), http.Scalar("containerPort"));
            Assert.Contains(EnvNames(container), n => n == "ASPNETCORE_HTTP_PORTS");
        }

        var gateway = SingleContainer(deployments["gateway"]);
        Assert.Equal("/health/live", gateway.Mapping("livenessProbe").Mapping("httpGet").Scalar("path"));
        Assert.NotNull(gateway.MappingOrNull("readinessProbe"));
    }

    [Fact]
    public void Every_pod_runs_as_non_root_with_bounded_resources()
    {
        foreach (var (name, deployment) in Objects("Deployment"))
        {
            var pod = deployment.Mapping("spec").Mapping("template").Mapping("spec");
            Assert.Equal("true", pod.Mapping("securityContext").Scalar("runAsNonRoot"));
            Assert.Equal("false", pod.Scalar("automountServiceAccountToken"));

            var container = SingleContainer(deployment);
            var security = container.Mapping("securityContext");
            Assert.Equal("false", security.Scalar("allowPrivilegeEscalation"));
            Assert.Equal("true", security.Scalar("readOnlyRootFilesystem"));
            Assert.Equal(["ALL"], YamlNodes.NamesOf(security.Mapping("capabilities").Child("drop")));

            var resources = container.Mapping("resources");
            foreach (var bound in new[] { "requests", "limits" })
            {
                var values = resources.Mapping(bound);
                Assert.True(values.Scalar("cpu") is { Length: > 0 }, $"{name}: no cpu {bound}");
                Assert.True(values.Scalar("memory") is { Length: > 0 }, $"{name}: no memory {bound}");
            }
        }
    }

    [Fact]
    public void The_dotnet_services_take_the_master_key_from_the_secret()
    {
        var secretKeys = YamlNodes.NamesOf(Objects("Secret")["mislata-secrets"].Child("stringData")).ToHashSet(StringComparer.Ordinal);
        foreach (var name in Services.Keys)
        {
            var container = SingleContainer(Objects("Deployment")[name]);
            var env = Assert.IsType<YamlSequenceNode>(container.Child("env")).Children.Cast<YamlMappingNode>().ToList();
            var masterKey = Assert.Single(env, e => e.Scalar("name") == "QAPI_MASTER_KEY");
            var reference = masterKey.Mapping("valueFrom").Mapping("secretKeyRef");
            Assert.Equal("mislata-secrets", reference.Scalar("name"));

            foreach (var fromSecret in env.Where(e => e.MappingOrNull("valueFrom")?.MappingOrNull("secretKeyRef") is not null))
            {
                var key = fromSecret.Mapping("valueFrom").Mapping("secretKeyRef").Scalar("key") ?? "";
                Assert.Contains(key, secretKeys);
            }
        }
    }

    [Fact]
    public void The_secret_is_a_template_of_placeholders()
    {
        var secret = Objects("Secret")["mislata-secrets"];
        Assert.Null(secret.Child("data"));
        foreach (var (key, value) in secret.Mapping("stringData").Children)
        {
            var name = ((YamlScalarNode)key).Value!;
            var text = ((YamlScalarNode)value).Value ?? "";
            if (name.Contains("PASSWORD", StringComparison.Ordinal) || name.Contains("SECRET", StringComparison.Ordinal)
                || name.StartsWith("QAPI_MASTER_KEY", StringComparison.Ordinal)
                || name.StartsWith("QAPI_POSTGRES", StringComparison.Ordinal) || name.StartsWith("QAPI_REDIS", StringComparison.Ordinal))
            {
                Assert.True(text.Length == 0 || text.Contains("change-me", StringComparison.Ordinal), $"{name} is not a placeholder");
            }
        }
    }

    [Theory]
    [InlineData("identity")]
    [InlineData("api")]
    [InlineData("worker")]
    public void Each_service_takes_its_own_database_role_and_redis_user(string service)
    {
        var container = SingleContainer(Objects("Deployment")[service]);
        var keys = Assert.IsType<YamlSequenceNode>(container.Child("env")).Children.Cast<YamlMappingNode>()
            .Where(e => e.MappingOrNull("valueFrom")?.MappingOrNull("secretKeyRef") is not null)
            .ToDictionary(e => e.Scalar("name")!, e => e.Mapping("valueFrom").Mapping("secretKeyRef").Scalar("key")!, StringComparer.Ordinal);
        var upper = service.ToUpperInvariant();
        Assert.Equal($"QAPI_POSTGRES_{upper}", keys["QAPI_POSTGRES"]);
        Assert.Equal("QAPI_POSTGRES_MIGRATIONS", keys["QAPI_POSTGRES_MIGRATIONS"]);
        Assert.Equal($"QAPI_REDIS_{upper}", keys["QAPI_REDIS"]);
        foreach (var other in new[] { "IDENTITY", "API", "WORKER" }.Where(o => o != upper))
        {
            Assert.DoesNotContain(keys.Values, k => k.EndsWith("_" + other, StringComparison.Ordinal));
        }

        // The template names the role and the user each key is for.
        var secret = Objects("Secret")["mislata-secrets"].Mapping("stringData");
        Assert.Contains($"Username=mislata_{service};", secret.Scalar($"QAPI_POSTGRES_{upper}"), StringComparison.Ordinal);
        Assert.Contains("Username=mislata_owner;", secret.Scalar("QAPI_POSTGRES_MIGRATIONS"), StringComparison.Ordinal);
        Assert.Contains($",user=mislata-{service},", secret.Scalar($"QAPI_REDIS_{upper}"), StringComparison.Ordinal);
    }

    [Fact]
    public void Only_the_gateway_is_exposed_outside_the_cluster()
    {
        foreach (var (name, service) in Objects("Service"))
        {
            var type = service.Mapping("spec").Scalar("type") ?? "ClusterIP";
            Assert.True(name == "gateway" || type == "ClusterIP", $"Service {name} is {type}");
        }

        var ports = Assert.IsType<YamlSequenceNode>(Objects("Service")["gateway"].Mapping("spec").Child("ports"));
        Assert.Equal(["443", "80"], ports.Children.Cast<YamlMappingNode>().Select(p => p.Scalar("port")!).Order(StringComparer.Ordinal));
    }

    private static Dictionary<string, YamlMappingNode> Objects(string kind)
    {
        var kustomization = RepositoryFiles.ReadYamlMapping($"{BasePath}/kustomization.yaml");
        return YamlNodes.NamesOf(kustomization.Child("resources"))
            .SelectMany(file => RepositoryFiles.ReadYamlDocuments($"{BasePath}/{file}"))
            .Select(d => (YamlMappingNode)d.RootNode)
            .Where(o => o.Scalar("kind") == kind)
            .ToDictionary(o => o.Mapping("metadata").Scalar("name")!, StringComparer.Ordinal);
    }

    private static YamlMappingNode SingleContainer(YamlMappingNode deployment)
    {
        var containers = Assert.IsType<YamlSequenceNode>(deployment.Mapping("spec").Mapping("template").Mapping("spec").Child("containers"));
        return Assert.IsType<YamlMappingNode>(Assert.Single(containers.Children));
    }

    private static IEnumerable<string> EnvNames(YamlMappingNode container) =>
        container.SequenceOrNull("env")?.Children.Cast<YamlMappingNode>().Select(e => e.Scalar("name") ?? "") ?? [];
}
