using System.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace Mislata.Deploy.Tests;

/// <summary>
/// deploy/k8s/overlays: each overlay rendered offline by `kubectl kustomize` and every object validated against the
/// Kubernetes schemas (deploy/k8s/validate.sh → tools/validate.mjs, the npm package kubernetes-models); then what each
/// overlay promises, read from the rendered objects. No cluster: applying them is not exercised here.
/// </summary>
public sealed class KubernetesOverlayTests
{
    public static TheoryData<string> Overlays() => ["base", "dev", "external-db", "production"];

    [Fact]
    public void The_overlays_are_exactly_dev_production_and_external_db()
    {
        var overlays = Directory.GetDirectories(RepositoryFiles.PathOf("deploy/k8s/overlays")).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(["dev", "external-db", "production"], overlays);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Renders_and_every_object_passes_the_kubernetes_schemas(string overlay)
    {
        var (code, output, error) = Run("bash", [RepositoryFiles.PathOf("deploy/k8s/validate.sh"), overlay]);

        Assert.True(code == 0, output + error);
        var summary = Assert.Single(output.Split('\n'), l => l.StartsWith(overlay + ": ", StringComparison.Ordinal));
        var counts = summary[(overlay.Length + 2)..].Split(' ');
        Assert.Equal(counts[0], counts[2]); // "N of N objects valid"
        Assert.True(int.Parse(counts[0], System.Globalization.CultureInfo.InvariantCulture) >= 15, summary);
    }

    [Fact]
    public void The_validator_refuses_an_object_that_breaks_its_schema_and_an_unknown_kind()
    {
        const string Broken =
            """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: api
            spec:
              replicas: three
              selector:
                matchLabels:
                  app: api
              template:
                metadata:
                  labels:
                    app: api
                spec:
                  containers:
                    - name: api
                      image: mislata/api
            ---
            apiVersion: autoscaling/v2
            kind: HorizontalPodAutoscalr
            metadata:
              name: api
            """;
        Assert.Equal(0, Run("bash", [RepositoryFiles.PathOf("deploy/k8s/validate.sh"), "base"]).Code); // tools installed

        var (code, output, _) = Run("node", [RepositoryFiles.PathOf("deploy/k8s/tools/validate.mjs"), "broken"], Broken);

        Assert.Equal(1, code);
        Assert.Contains("INVALID Deployment/api (apps/v1): /spec/replicas must be integer", output, StringComparison.Ordinal);
        Assert.Contains("UNKNOWN HorizontalPodAutoscalr/api", output, StringComparison.Ordinal);
        Assert.Contains("broken: 0 of 2 objects valid", output, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_workload_is_probed_and_mounts_only_secrets_that_make_secrets_writes(string overlay)
    {
        var objects = Render(overlay);

        // The Secret templates are local configuration: never rendered, so `kubectl apply -k` cannot replace the real
        // Secrets (made by make-secrets.sh) with placeholders.
        Assert.Empty(OfKind(objects, "Secret"));

        var made = MakeSecrets(overlay == "dev" ? "dev" : "external-db").Output;
        var secrets = Parse(made).ToDictionary(Name, o => YamlNodes.NamesOf(o.Child("stringData")).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
        foreach (var workload in OfKind(objects, "Deployment").Concat(OfKind(objects, "StatefulSet")))
        {
            var pod = workload.Mapping("spec").Mapping("template").Mapping("spec");
            foreach (var container in pod.SequenceOrNull("containers")!.Children.Cast<YamlMappingNode>())
            {
                Assert.True(container.MappingOrNull("livenessProbe") is not null, $"{overlay}: {Name(workload)} has no liveness probe");
                Assert.True(container.MappingOrNull("readinessProbe") is not null, $"{overlay}: {Name(workload)} has no readiness probe");
                Assert.NotNull(container.Mapping("resources").MappingOrNull("limits"));
                Assert.DoesNotContain(container.SequenceOrNull("env")?.Children.Cast<YamlMappingNode>() ?? [],
                    e => e.MappingOrNull("valueFrom")?.MappingOrNull("secretKeyRef") is not null);
            }

            foreach (var volume in pod.SequenceOrNull("volumes")?.Children.Cast<YamlMappingNode>() ?? [])
            {
                var referenced = new List<(string Name, bool Optional, YamlSequenceNode? Items)>();
                if (volume.MappingOrNull("secret") is { } secret)
                {
                    referenced.Add((secret.Scalar("secretName")!, secret.Scalar("optional") == "true", secret.SequenceOrNull("items")));
                }

                foreach (var source in volume.MappingOrNull("projected")?.SequenceOrNull("sources")?.Children.Cast<YamlMappingNode>() ?? [])
                {
                    if (source.MappingOrNull("secret") is { } projected)
                    {
                        referenced.Add((projected.Scalar("name")!, projected.Scalar("optional") == "true", projected.SequenceOrNull("items")));
                    }
                }

                foreach (var (name, optional, items) in referenced.Where(r => !r.Optional || r.Name == "mislata-licence"))
                {
                    Assert.True(secrets.ContainsKey(name), $"{overlay}: {Name(workload)} mounts Secret {name}, which make-secrets.sh does not write");
                    foreach (var key in items?.Children.Cast<YamlMappingNode>().Select(i => i.Scalar("key")!) ?? [])
                    {
                        Assert.True(secrets[name].Contains(key), $"{overlay}: {Name(workload)} mounts {name}/{key}, which make-secrets.sh does not write");
                    }
                }
            }
        }
    }

    [Fact]
    public void Production_scales_out_autoscales_the_api_keeps_budgets_and_enters_through_a_tls_ingress()
    {
        var objects = Render("production");
        var deployments = OfKind(objects, "Deployment").ToDictionary(Name, StringComparer.Ordinal);
        foreach (var (name, minimum) in new[] { ("identity", 3), ("api", 3), ("gateway", 2), ("worker", 2) })
        {
            Assert.True(int.Parse(deployments[name].Mapping("spec").Scalar("replicas")!, System.Globalization.CultureInfo.InvariantCulture) >= minimum, $"{name} replicas");
            Assert.Equal(["kubernetes.io/hostname", "topology.kubernetes.io/zone"],
                deployments[name].Mapping("spec").Mapping("template").Mapping("spec").SequenceOrNull("topologySpreadConstraints")!
                    .Children.Cast<YamlMappingNode>().Select(c => c.Scalar("topologyKey")!).Order(StringComparer.Ordinal));
        }

        var hpa = Assert.Single(OfKind(objects, "HorizontalPodAutoscaler"));
        Assert.Equal("autoscaling/v2", hpa.Scalar("apiVersion"));
        var target = hpa.Mapping("spec").Mapping("scaleTargetRef");
        Assert.Equal(("Deployment", "api"), (target.Scalar("kind"), target.Scalar("name")));
        Assert.True(int.Parse(hpa.Mapping("spec").Scalar("minReplicas")!, System.Globalization.CultureInfo.InvariantCulture) >= 2);

        Assert.Equal(["api", "gateway", "identity", "worker"], OfKind(objects, "PodDisruptionBudget").Select(Name).Order(StringComparer.Ordinal));

        var ingress = Assert.Single(OfKind(objects, "Ingress"));
        var tls = Assert.IsType<YamlMappingNode>(Assert.Single(ingress.Mapping("spec").SequenceOrNull("tls")!.Children));
        Assert.False(string.IsNullOrEmpty(tls.Scalar("secretName")));
        var rule = Assert.IsType<YamlMappingNode>(Assert.Single(ingress.Mapping("spec").SequenceOrNull("rules")!.Children));
        Assert.Contains(YamlNodes.NamesOf(tls.Child("hosts")), h => h == rule.Scalar("host"));
        Assert.Equal("HTTPS", ingress.Mapping("metadata").Mapping("annotations").Scalar("nginx.ingress.kubernetes.io/backend-protocol"));
        var backend = Assert.IsType<YamlMappingNode>(Assert.Single(rule.Mapping("http").SequenceOrNull("paths")!.Children)).Mapping("backend").Mapping("service");
        Assert.Equal("gateway", backend.Scalar("name"));

        // Nothing but the Ingress reaches the gateway: no LoadBalancer, and the gateway's policy admits the controller only.
        Assert.All(OfKind(objects, "Service"), s => Assert.Equal("ClusterIP", s.Mapping("spec").Scalar("type")));
        var gatewayPolicy = OfKind(objects, "NetworkPolicy").Single(p => Name(p) == "gateway-from-anywhere");
        var from = Assert.IsType<YamlMappingNode>(Assert.Single(Assert.IsType<YamlMappingNode>(Assert.Single(gatewayPolicy.Mapping("spec").SequenceOrNull("ingress")!.Children)).SequenceOrNull("from")!.Children));
        Assert.Equal("ingress-nginx", from.Mapping("namespaceSelector").Mapping("matchLabels").Scalar("kubernetes.io/metadata.name"));
        Assert.Contains(Env(deployments["gateway"]), e => e.Key == "GATEWAY_REAL_IP_FROM" && e.Value.Length > 0);

        // Managed data stores (from external-db): nothing of them runs in the cluster.
        Assert.Empty(OfKind(objects, "StatefulSet"));
    }

    [Fact]
    public void Dev_runs_one_replica_of_everything_and_postgres_and_redis_in_the_cluster_with_volumes()
    {
        var objects = Render("dev");
        Assert.All(OfKind(objects, "Deployment"), d => Assert.Equal("1", d.Mapping("spec").Scalar("replicas")));
        Assert.Empty(OfKind(objects, "PodDisruptionBudget"));
        Assert.Empty(OfKind(objects, "HorizontalPodAutoscaler"));

        var statefulSets = OfKind(objects, "StatefulSet").ToDictionary(Name, StringComparer.Ordinal);
        Assert.Equal(["postgres", "redis"], statefulSets.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, set) in statefulSets)
        {
            var claim = Assert.IsType<YamlMappingNode>(Assert.Single(set.Mapping("spec").SequenceOrNull("volumeClaimTemplates")!.Children));
            Assert.Equal("data", claim.Mapping("metadata").Scalar("name"));
            Assert.False(string.IsNullOrEmpty(claim.Mapping("spec").Mapping("resources").Mapping("requests").Scalar("storage")));
            var image = SingleContainer(set).Scalar("image")!;
            Assert.Matches(name == "postgres" ? @"^postgres:17\.\d+" : @"^redis:7\.\d+\.\d+", image);
            Assert.DoesNotContain(Env(set), e => e.Key.Contains("PASSWORD", StringComparison.Ordinal) && !e.Key.EndsWith("_FILE", StringComparison.Ordinal));
        }

        Assert.Contains(OfKind(objects, "Service"), s => Name(s) == "postgres");
        Assert.Contains(OfKind(objects, "Service"), s => Name(s) == "redis");
        var connections = RepositoryFiles.ReadYamlMapping("deploy/k8s/overlays/dev/secret-connections.yaml").Mapping("stringData");
        Assert.StartsWith("Host=postgres;", connections.Scalar("QAPI_POSTGRES_API"), StringComparison.Ordinal);
        Assert.StartsWith("redis:6379,", connections.Scalar("QAPI_REDIS_API"), StringComparison.Ordinal);
        Assert.Contains(OfKind(objects, "NetworkPolicy"), p => Name(p) == "data-from-services");
    }

    [Fact]
    public void External_db_verifies_the_managed_stores_tls_and_limits_egress()
    {
        var objects = Render("external-db");
        Assert.Empty(OfKind(objects, "StatefulSet"));
        var connections = RepositoryFiles.ReadYamlMapping("deploy/k8s/overlays/external-db/secret-connections.yaml").Mapping("stringData");
        foreach (var (key, value) in connections.Children)
        {
            var name = ((YamlScalarNode)key).Value!;
            var text = ((YamlScalarNode)value).Value!;
            if (name.StartsWith("QAPI_POSTGRES", StringComparison.Ordinal))
            {
                Assert.Contains("SSL Mode=VerifyFull;Root Certificate=/etc/mislata/db-ca/ca.crt", text, StringComparison.Ordinal);
            }
            else if (name.StartsWith("QAPI_REDIS", StringComparison.Ordinal))
            {
                Assert.Contains(",ssl=true,", text, StringComparison.Ordinal);
            }
        }

        foreach (var deployment in OfKind(objects, "Deployment").Where(d => Name(d) != "gateway"))
        {
            var mounts = SingleContainer(deployment).SequenceOrNull("volumeMounts")!.Children.Cast<YamlMappingNode>();
            Assert.Contains(mounts, m => m.Scalar("mountPath") == "/etc/mislata/db-ca");
        }

        var egress = OfKind(objects, "NetworkPolicy").Single(p => Name(p) == "services-egress");
        Assert.Equal(["Egress"], YamlNodes.NamesOf(egress.Mapping("spec").Child("policyTypes")));
    }

    [Theory]
    [InlineData("deploy/postgres/roles.sql", "deploy/k8s/overlays/dev/postgres/roles.sql")]
    [InlineData("deploy/compose/postgres/10-mislata-roles.sh", "deploy/k8s/overlays/dev/postgres/10-mislata-roles.sh")]
    [InlineData("deploy/redis/users.conf.template", "deploy/k8s/overlays/dev/redis/users.conf.template")]
    [InlineData("deploy/compose/redis/entrypoint.sh", "deploy/k8s/overlays/dev/redis/entrypoint.sh")]
    public void The_dev_overlays_copies_equal_the_shared_files(string original, string copy)
    {
        Assert.Equal(RepositoryFiles.ReadText(original), RepositoryFiles.ReadText(copy));
    }

    [Theory]
    [InlineData("dev")]
    [InlineData("external-db")]
    public void Make_secrets_writes_valid_consistent_secrets_that_the_overlay_mounts(string overlay)
    {
        var (code, output, error) = MakeSecrets(overlay);
        Assert.True(code == 0, error);
        Assert.Equal(0, Run("bash", [RepositoryFiles.PathOf("deploy/k8s/validate.sh"), "base"]).Code); // tools installed
        var validated = Run("node", [RepositoryFiles.PathOf("deploy/k8s/tools/validate.mjs"), "made"], output);
        Assert.True(validated.Code == 0, validated.Output);

        var made = Parse(output).ToDictionary(Name, o => o.Mapping("stringData"), StringComparer.Ordinal);
        var templateFiles = overlay == "dev" ? new[] { "deploy/k8s/base/secret.yaml", "deploy/k8s/overlays/dev/data-secret.yaml" } : ["deploy/k8s/base/secret.yaml"];
        var templates = templateFiles.SelectMany(f => RepositoryFiles.ReadYamlDocuments(f)).Select(d => (YamlMappingNode)d.RootNode)
            .ToDictionary(Name, o => YamlNodes.NamesOf(o.Child("stringData")).Order(StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
        Assert.Equal(templates.Keys.Order(StringComparer.Ordinal), made.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, keys) in templates)
        {
            Assert.Equal(keys, YamlNodes.NamesOf(made[name]).Order(StringComparer.Ordinal));
        }

        Assert.Equal(32, Convert.FromBase64String(made["mislata-master-key"].Scalar("current")!).Length);
        var connections = made["mislata-secrets"];
        Assert.DoesNotContain("change-me", output, StringComparison.Ordinal);
        Assert.Contains(connections.Scalar("QAPI_ADMIN_PASSWORD")!, error, StringComparison.Ordinal);
        Assert.DoesNotContain(made["mislata-master-key"].Scalar("current")!, error, StringComparison.Ordinal);
        if (overlay == "dev")
        {
            var data = made["mislata-data"];
            foreach (var service in new[] { "identity", "api", "worker" })
            {
                Assert.EndsWith($"Password={data.Scalar($"postgres_{service}_password")}", connections.Scalar($"QAPI_POSTGRES_{service.ToUpperInvariant()}"), StringComparison.Ordinal);
                Assert.Contains($"password={data.Scalar($"redis_{service}_password")},", connections.Scalar($"QAPI_REDIS_{service.ToUpperInvariant()}"), StringComparison.Ordinal);
            }

            Assert.EndsWith($"Password={data.Scalar("postgres_owner_password")}", connections.Scalar("QAPI_POSTGRES_MIGRATIONS"), StringComparison.Ordinal);
        }
        else
        {
            Assert.StartsWith("Host=db.test.internal;", connections.Scalar("QAPI_POSTGRES_API"), StringComparison.Ordinal);
            Assert.Contains("SSL Mode=VerifyFull", connections.Scalar("QAPI_POSTGRES_API"), StringComparison.Ordinal);
            Assert.StartsWith("cache.test.internal:6380,", connections.Scalar("QAPI_REDIS_API"), StringComparison.Ordinal);
        }
    }

    private static (int Code, string Output, string Error) MakeSecrets(string kind)
    {
        var arguments = new List<string> { RepositoryFiles.PathOf("deploy/k8s/make-secrets.sh"), kind };
        if (kind != "dev")
        {
            arguments.AddRange(["--postgres-host", "db.test.internal", "--redis-host", "cache.test.internal"]);
        }

        return Run("bash", arguments);
    }

    private static List<YamlMappingNode> Render(string overlay)
    {
        var path = RepositoryFiles.PathOf(overlay == "base" ? "deploy/k8s/base" : $"deploy/k8s/overlays/{overlay}");
        var (code, output, error) = Run("kubectl", ["kustomize", path]);
        Assert.True(code == 0, error);
        return Parse(output);
    }

    private static List<YamlMappingNode> Parse(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return [.. stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>()];
    }

    private static IEnumerable<YamlMappingNode> OfKind(IEnumerable<YamlMappingNode> objects, string kind) =>
        objects.Where(o => o.Scalar("kind") == kind);

    private static string Name(YamlMappingNode o) => o.Mapping("metadata").Scalar("name")!;

    private static YamlMappingNode SingleContainer(YamlMappingNode workload) =>
        Assert.IsType<YamlMappingNode>(Assert.Single(workload.Mapping("spec").Mapping("template").Mapping("spec").SequenceOrNull("containers")!.Children));

    private static IEnumerable<KeyValuePair<string, string>> Env(YamlMappingNode workload) =>
        SingleContainer(workload).SequenceOrNull("env")?.Children.Cast<YamlMappingNode>()
            .Select(e => new KeyValuePair<string, string>(e.Scalar("name")!, e.Scalar("value") ?? "")) ?? [];

    private static (int Code, string Output, string Error) Run(string file, IEnumerable<string> arguments, string? stdin = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(stdin ?? string.Empty);
        process.StandardInput.Close();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }
}
