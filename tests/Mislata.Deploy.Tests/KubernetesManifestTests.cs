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
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}node_modules{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
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
    public void The_dotnet_services_read_every_secret_as_a_file_of_a_projected_volume_never_from_the_environment()
    {
        var secrets = Objects("Secret");
        foreach (var name in Services.Keys)
        {
            var deployment = Objects("Deployment")[name];
            var container = SingleContainer(deployment);
            var env = Assert.IsType<YamlSequenceNode>(container.Child("env")).Children.Cast<YamlMappingNode>().ToList();
            Assert.DoesNotContain(env, e => e.MappingOrNull("valueFrom")?.MappingOrNull("secretKeyRef") is not null);
            Assert.DoesNotContain(container.SequenceOrNull("envFrom")?.Children.Cast<YamlMappingNode>() ?? [], f => f.Child("secretRef") is not null);

            var files = ProjectedSecretFiles(deployment);
            var mount = Assert.Single(container.SequenceOrNull("volumeMounts")!.Children.Cast<YamlMappingNode>(), m => m.Scalar("name") == "secrets");
            Assert.Equal("true", mount.Scalar("readOnly"));
            var folder = mount.Scalar("mountPath")!;
            Assert.Equal($"{folder}/master_key", env.Single(e => e.Scalar("name") == "QAPI_MASTER_KEY_FILE").Scalar("value"));
            foreach (var file in env.Where(e => (e.Scalar("name") ?? "").EndsWith("_FILE", StringComparison.Ordinal)))
            {
                var path = file.Scalar("value")!;
                Assert.StartsWith(folder + "/", path, StringComparison.Ordinal);
                var (secret, key) = files[path[(folder.Length + 1)..]];
                Assert.True(secrets.ContainsKey(secret), $"{name}: {file.Scalar("name")} reads Secret {secret}, which the base does not define");
                Assert.Contains(key, YamlNodes.NamesOf(secrets[secret].Child("stringData")));
            }
        }
    }

    [Fact]
    public void The_secrets_are_templates_of_placeholders()
    {
        Assert.Equal(["mislata-licence", "mislata-master-key", "mislata-secrets"], Objects("Secret").Keys.Order(StringComparer.Ordinal));
        foreach (var (secretName, secret) in Objects("Secret"))
        {
            Assert.Null(secret.Child("data"));
            Assert.Equal("true", secret.Mapping("metadata").Mapping("annotations").Scalar("config.kubernetes.io/local-config"));
            foreach (var (key, value) in secret.Mapping("stringData").Children)
            {
                var name = ((YamlScalarNode)key).Value!;
                var text = ((YamlScalarNode)value).Value ?? "";
                Assert.True(text.Length == 0 || text.Contains("change-me", StringComparison.Ordinal), $"{secretName}/{name} is not a placeholder");
            }
        }
    }

    [Theory]
    [InlineData("identity")]
    [InlineData("api")]
    [InlineData("worker")]
    public void Each_service_takes_its_own_database_role_and_redis_user(string service)
    {
        var files = ProjectedSecretFiles(Objects("Deployment")[service]);
        var upper = service.ToUpperInvariant();
        Assert.Equal(("mislata-secrets", $"QAPI_POSTGRES_{upper}"), files["postgres"]);
        Assert.Equal(("mislata-secrets", "QAPI_POSTGRES_MIGRATIONS"), files["postgres_migrations"]);
        Assert.Equal(("mislata-secrets", $"QAPI_REDIS_{upper}"), files["redis"]);
        Assert.Equal(("mislata-master-key", "current"), files["master_key"]);
        foreach (var other in new[] { "IDENTITY", "API", "WORKER" }.Where(o => o != upper))
        {
            Assert.DoesNotContain(files.Values, f => f.Key.EndsWith("_" + other, StringComparison.Ordinal));
        }

        Assert.Equal(service == "identity", files.ContainsKey("admin_password"));
        Assert.Equal(service == "api", files.ContainsKey("licence"));

        // The template names the role and the user each key is for.
        var secret = Objects("Secret")["mislata-secrets"].Mapping("stringData");
        Assert.Contains($"Username=mislata_{service};", secret.Scalar($"QAPI_POSTGRES_{upper}"), StringComparison.Ordinal);
        Assert.Contains("Username=mislata_owner;", secret.Scalar("QAPI_POSTGRES_MIGRATIONS"), StringComparison.Ordinal);
        Assert.Contains($",user=mislata-{service},", secret.Scalar($"QAPI_REDIS_{upper}"), StringComparison.Ordinal);
    }

    /// <summary>The files of a Deployment's projected volume "secrets": file name → (Secret, key).</summary>
    internal static Dictionary<string, (string Secret, string Key)> ProjectedSecretFiles(YamlMappingNode deployment)
    {
        var volumes = deployment.Mapping("spec").Mapping("template").Mapping("spec").SequenceOrNull("volumes")!.Children.Cast<YamlMappingNode>();
        var projected = Assert.Single(volumes, v => v.Scalar("name") == "secrets").Mapping("projected");
        Assert.Equal("0440", projected.Scalar("defaultMode")); // owner and the pod's fsGroup (the service's group) only
        var files = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        foreach (var source in projected.SequenceOrNull("sources")!.Children.Cast<YamlMappingNode>())
        {
            var secret = source.Mapping("secret");
            foreach (var item in secret.SequenceOrNull("items")!.Children.Cast<YamlMappingNode>())
            {
                files.Add(item.Scalar("path")!, (secret.Scalar("name")!, item.Scalar("key")!));
            }
        }

        return files;
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
