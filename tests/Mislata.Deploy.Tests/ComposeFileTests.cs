using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Mislata.Deploy.Tests;

/// <summary>Invariants of deploy/compose/docker-compose.yml (PRODUCT.md, "Services" and "Deployment").</summary>
public sealed partial class ComposeFileTests
{
    private const string ComposePath = "deploy/compose/docker-compose.yml";
    private const string EnvExamplePath = "deploy/compose/.env.example";
    private const string Network = "mislata-internal";

    private static readonly string[] AllServices = ["gateway", "identity", "api", "worker", "postgres", "redis"];

    private readonly YamlMappingNode _compose = RepositoryFiles.ReadYamlMapping(ComposePath);

    private YamlMappingNode Services => _compose.Mapping("services");

    private YamlMappingNode Service(string name) => Services.Mapping(name);

    [Fact]
    public void Defines_exactly_the_six_services()
    {
        Assert.Equal(AllServices.Order(StringComparer.Ordinal), YamlNodes.NamesOf(Services).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("identity", "Mislata.Identity")]
    [InlineData("api", "Mislata.Api")]
    [InlineData("worker", "Mislata.Worker")]
    public void Each_dotnet_service_builds_its_own_image_from_the_service_dockerfile(string service, string assembly)
    {
        var node = Service(service);
        var image = node.Scalar("image");
        Assert.False(string.IsNullOrEmpty(image), $"{service} has no image name");
        Assert.Contains($"/{service}:", image, StringComparison.Ordinal);

        var build = node.Mapping("build");
        Assert.Equal("../..", build.Scalar("context"));
        var dockerfile = build.Scalar("dockerfile");
        Assert.Equal("deploy/docker/service.Dockerfile", dockerfile);
        Assert.True(File.Exists(RepositoryFiles.PathOf(dockerfile!)), $"{dockerfile} is missing");

        Assert.Equal(assembly, build.Mapping("args").Scalar("SERVICE_ASSEMBLY"));
        Assert.True(
            File.Exists(RepositoryFiles.PathOf($"src/{assembly}/{assembly}.csproj")),
            $"src/{assembly}/{assembly}.csproj is missing");
    }

    [Fact]
    public void The_dotnet_services_and_the_gateway_have_distinct_images()
    {
        var images = new[] { "gateway", "identity", "api", "worker" }.Select(s => Service(s).Scalar("image")).ToList();
        Assert.Equal(images.Count, images.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Every_service_is_on_the_private_network_only()
    {
        foreach (var name in AllServices)
        {
            var service = Service(name);
            Assert.Null(service.Child("network_mode"));
            Assert.Equal([Network], YamlNodes.NamesOf(service.Child("networks")));
        }

        var networks = _compose.Mapping("networks");
        Assert.Equal([Network], YamlNodes.NamesOf(networks));
        var network = networks.Mapping(Network);
        Assert.Equal(Network, network.Scalar("name"));
        Assert.NotEqual("true", network.Scalar("external"));
    }

    [Fact]
    public void The_private_network_has_a_fixed_subnet_that_the_services_trust_as_proxy()
    {
        var config = Assert.IsType<YamlSequenceNode>(_compose.Mapping("networks").Mapping(Network).Mapping("ipam").Child("config"));
        var subnet = Assert.IsType<YamlMappingNode>(Assert.Single(config.Children)).Scalar("subnet");
        Assert.False(string.IsNullOrEmpty(subnet));

        foreach (var name in new[] { "identity", "api", "worker" })
        {
            Assert.Equal(subnet, Service(name).Environment()["QAPI_TRUSTED_PROXIES"]);
        }
    }

    [Fact]
    public void Only_the_gateway_publishes_ports_and_exactly_80_and_443()
    {
        foreach (var name in AllServices.Where(s => s != "gateway"))
        {
            Assert.True(Service(name).Child("ports") is null, $"{name} publishes ports; only the gateway may");
        }

        var published = PublishedPorts(Service("gateway")).Order().ToList();
        Assert.Equal([80, 443], published);
    }

    [Fact]
    public void Every_service_has_a_health_check()
    {
        foreach (var name in AllServices)
        {
            var healthcheck = Service(name).MappingOrNull("healthcheck");
            Assert.True(healthcheck is not null, $"{name} has no healthcheck");
            Assert.NotEqual("true", healthcheck.Scalar("disable"));
            var test = healthcheck.Child("test");
            Assert.True(
                test is YamlSequenceNode { Children.Count: > 1 } || test is YamlScalarNode { Value.Length: > 0 },
                $"{name} has an empty healthcheck test");
        }
    }

    [Theory]
    [InlineData("identity", "/app/Mislata.Identity.dll")]
    [InlineData("api", "/app/Mislata.Api.dll")]
    [InlineData("worker", "/app/Mislata.Worker.dll")]
    public void The_dotnet_health_checks_use_the_healthcheck_argument(string service, string dll)
    {
        var test = YamlNodes.NamesOf(Service(service).Mapping("healthcheck").Child("test"));
        Assert.Equal(["CMD", "dotnet", dll, "healthcheck"], test);
    }

    [Fact]
    public void Dependencies_wait_for_healthy_services_and_services_restart()
    {
        foreach (var name in AllServices)
        {
            var service = Service(name);
            Assert.Equal("unless-stopped", service.Scalar("restart"));
            if (service.Child("depends_on") is not { } dependsOn)
            {
                continue;
            }

            var map = Assert.IsType<YamlMappingNode>(dependsOn);
            foreach (var (dependency, condition) in map.Children)
            {
                Assert.Equal("service_healthy", ((YamlMappingNode)condition).Scalar("condition"));
                Assert.Contains(((YamlScalarNode)dependency).Value, AllServices);
            }
        }

        Assert.Equal(["api", "identity", "worker"], YamlNodes.NamesOf(Service("gateway").Child("depends_on")).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("postgres", "/var/lib/postgresql/data")]
    [InlineData("redis", "/data")]
    public void Data_lives_in_named_volumes(string service, string target)
    {
        var declared = YamlNodes.NamesOf(_compose.Child("volumes"));
        var mounts = YamlNodes.NamesOf(Service(service).Child("volumes"));
        var mount = Assert.Single(mounts, m => m.EndsWith(":" + target, StringComparison.Ordinal));
        var source = mount[..mount.IndexOf(':', StringComparison.Ordinal)];
        Assert.DoesNotContain('/', source);
        Assert.Contains(source, declared);
    }

    [Fact]
    public void Postgres_and_redis_use_official_images_pinned_to_an_exact_version()
    {
        // An exact minor version (and optionally a digest): `docker compose pull` never changes the engine under data.
        Assert.Matches(@"^postgres:17\.\d+(-bookworm|-trixie)?(@sha256:[0-9a-f]{64})?$", Service("postgres").Scalar("image"));
        Assert.Matches(@"^redis:7\.\d+\.\d+(-bookworm|-trixie)?(@sha256:[0-9a-f]{64})?$", Service("redis").Scalar("image"));

        // Starting with redis-server lets the image's entry point (called by ours) drop root; the users (and their
        // passwords) come from the ACL file our entry point renders, never from the command line.
        var redisCommand = YamlNodes.NamesOf(Service("redis").Child("command")).ToList();
        Assert.Equal("redis-server", redisCommand[0]);
        Assert.DoesNotContain("--requirepass", redisCommand);
        Assert.Contains("--include /run/mislata/users.conf", string.Join(' ', redisCommand), StringComparison.Ordinal);
        Assert.Contains("--appendonly yes", string.Join(' ', redisCommand), StringComparison.Ordinal);
    }

    [Fact]
    public void The_mislata_images_are_tagged_with_the_release_version()
    {
        foreach (var name in new[] { "gateway", "identity", "api", "worker" })
        {
            Assert.EndsWith($"/{name}:${{MISLATA_VERSION:?set MISLATA_VERSION in .env}}", Service(name).Scalar("image"), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("identity")]
    [InlineData("api")]
    [InlineData("worker")]
    public void Each_dotnet_service_connects_with_its_own_database_role_and_redis_user(string service)
    {
        var environment = Service(service).Environment();
        Assert.Equal($"/run/secrets/{service}_postgres_url", environment["QAPI_POSTGRES_FILE"]);
        Assert.Equal("/run/secrets/postgres_migrations_url", environment["QAPI_POSTGRES_MIGRATIONS_FILE"]);
        Assert.Equal($"/run/secrets/{service}_redis_url", environment["QAPI_REDIS_FILE"]);

        // Neither the PostgreSQL superuser nor the Redis operator, nor another service's credentials.
        var secrets = YamlNodes.NamesOf(Service(service).Child("secrets")).ToList();
        Assert.DoesNotContain("postgres_password", secrets);
        Assert.DoesNotContain("redis_password", secrets);
        foreach (var other in new[] { "identity", "api", "worker" }.Where(o => o != service))
        {
            Assert.DoesNotContain(secrets, s => s.StartsWith(other + "_", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void The_postgres_container_creates_the_services_roles_from_the_shared_script_on_first_start()
    {
        var postgres = Service("postgres");
        var mounts = YamlNodes.NamesOf(postgres.Child("volumes"));
        Assert.Contains("./postgres/10-mislata-roles.sh:/docker-entrypoint-initdb.d/10-mislata-roles.sh:ro", mounts);
        Assert.Contains("../postgres/roles.sql:/etc/mislata/roles.sql:ro", mounts);
        var script = RepositoryFiles.ReadText("deploy/compose/postgres/10-mislata-roles.sh");
        Assert.Contains("/etc/mislata/roles.sql", script, StringComparison.Ordinal);
        Assert.Contains("_PASSWORD_FILE", script, StringComparison.Ordinal);
        Assert.Contains("\\getenv api_password MISLATA_PG_API_PASSWORD", RepositoryFiles.ReadText("deploy/postgres/roles.sql"), StringComparison.Ordinal);

        // The superuser's password and the roles' passwords come from Docker secrets; the services connect with the
        // same passwords (install.sh writes both from one value).
        var environment = postgres.Environment();
        Assert.Equal("/run/secrets/postgres_password", environment["POSTGRES_PASSWORD_FILE"]);
        foreach (var role in new[] { "OWNER", "IDENTITY", "API", "WORKER" })
        {
            Assert.Equal($"/run/secrets/postgres_{role.ToLowerInvariant()}_password", environment[$"MISLATA_PG_{role}_PASSWORD_FILE"]);
        }
    }

    [Fact]
    public void Redis_renders_one_acl_user_per_service_from_the_shared_template()
    {
        var redis = Service("redis");
        var mounts = YamlNodes.NamesOf(redis.Child("volumes"));
        Assert.Contains("../redis/users.conf.template:/etc/mislata/users.conf.template:ro", mounts);
        Assert.Contains("./redis/entrypoint.sh:/etc/mislata/redis-entrypoint.sh:ro", mounts);
        Assert.Equal(["/etc/mislata/redis-entrypoint.sh"], YamlNodes.NamesOf(redis.Child("entrypoint")));
        Assert.Contains("/run/mislata", YamlNodes.NamesOf(redis.Child("tmpfs")));

        var environment = redis.Environment();
        Assert.Equal("/run/secrets/redis_password", environment["MISLATA_REDIS_PASSWORD_FILE"]);
        foreach (var service in new[] { "IDENTITY", "API", "WORKER" })
        {
            Assert.Equal($"/run/secrets/redis_{service.ToLowerInvariant()}_password", environment[$"MISLATA_REDIS_{service}_PASSWORD_FILE"]);
        }

        // The health check gives redis-cli the operator's password through the environment, not argv.
        var check = string.Join(' ', YamlNodes.NamesOf(redis.Mapping("healthcheck").Child("test")));
        Assert.Contains("REDISCLI_AUTH=\"$$(cat /run/secrets/redis_password)\" redis-cli ping", check, StringComparison.Ordinal);
        Assert.DoesNotContain(" -a ", check, StringComparison.Ordinal);

        var template = RepositoryFiles.ReadText("deploy/redis/users.conf.template");
        foreach (var service in new[] { "identity", "api", "worker" })
        {
            var user = Assert.Single(template.Split('\n'), l => l.StartsWith($"user mislata-{service} ", StringComparison.Ordinal));
            Assert.Contains(" reset on #@", user, StringComparison.Ordinal);
            Assert.Contains(" -@dangerous", user, StringComparison.Ordinal);
            Assert.DoesNotContain(" ~* ", user + " ", StringComparison.Ordinal);
            Assert.DoesNotContain(" allkeys", user, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Every_secret_comes_from_a_docker_secret_file_never_from_the_environment()
    {
        var declared = YamlNodes.NamesOf(_compose.Child("secrets")).ToHashSet(StringComparer.Ordinal);
        foreach (var name in AllServices)
        {
            var mounted = YamlNodes.NamesOf(Service(name).Child("secrets")).ToHashSet(StringComparer.Ordinal);
            foreach (var (key, value) in Service(name).Environment())
            {
                if (SecretName().IsMatch(key) || key is "QAPI_POSTGRES" or "QAPI_POSTGRES_MIGRATIONS" or "QAPI_REDIS")
                {
                    Assert.True(key.EndsWith("_FILE", StringComparison.Ordinal), $"{name}: {key} is a secret in the environment; use {key}_FILE and a Docker secret");
                    Assert.StartsWith("/run/secrets/", value, StringComparison.Ordinal);
                }

                if (value.StartsWith("/run/secrets/", StringComparison.Ordinal))
                {
                    var secret = value["/run/secrets/".Length..];
                    Assert.True(mounted.Contains(secret), $"{name}: {key} reads secret '{secret}' that the service does not mount");
                }
            }

            foreach (var secret in mounted)
            {
                Assert.True(declared.Contains(secret), $"{name} mounts secret '{secret}' that is not declared at the top level");
            }
        }

        foreach (var (name, node) in ((YamlMappingNode)_compose.Child("secrets")!).Children)
        {
            var file = ((YamlMappingNode)node).Scalar("file");
            Assert.Equal($"./secrets/{((YamlScalarNode)name).Value}", file);
        }

        foreach (var scalar in YamlNodes.Scalars(_compose).Select(s => s.Value ?? ""))
        {
            Assert.False(PasswordInConnectionString().IsMatch(scalar), $"a password in '{scalar}'");
            Assert.False(RequirePass().IsMatch(scalar), $"--requirepass in '{scalar}'");
        }
    }

    [Theory]
    [InlineData("identity")]
    [InlineData("api")]
    [InlineData("worker")]
    public void The_dotnet_services_take_the_master_key_and_connections_from_secret_files(string service)
    {
        var environment = Service(service).Environment();
        Assert.Equal("/run/secrets/master_key", environment["QAPI_MASTER_KEY_FILE"]);
        Assert.Equal("/run/secrets/master_key_previous", environment["QAPI_MASTER_KEY_PREVIOUS_FILE"]);
        Assert.False(environment.ContainsKey("QAPI_MASTER_KEY"));
        Assert.False(environment.ContainsKey("QAPI_POSTGRES"));
        Assert.False(environment.ContainsKey("QAPI_REDIS"));
        Assert.StartsWith("https://", environment["QAPI_PUBLIC_URL"], StringComparison.Ordinal);
        Assert.Equal("http://identity:5100", environment["QAPI_IDENTITY_URL"]);
        Assert.True(environment.ContainsKey("QAPI_OTLP_ENDPOINT"));

        var port = environment["ASPNETCORE_HTTP_PORTS"];
        Assert.Equal(service switch { "identity" => "5100", "api" => "5282", _ => "5300" }, port);
        Assert.Equal([port], YamlNodes.NamesOf(Service(service).Child("expose")));
    }

    [Fact]
    public void Identity_gets_the_bootstrap_settings_and_api_and_worker_the_entropy_settings()
    {
        var identity = Service("identity").Environment();
        foreach (var key in new[] { "QAPI_ADMIN_EMAIL", "QAPI_ADMIN_PASSWORD_FILE", "QAPI_BOOTSTRAP_CLIENT_ID", "QAPI_BOOTSTRAP_CLIENT_SECRET_FILE" })
        {
            Assert.True(identity.ContainsKey(key), $"identity lacks {key}");
        }

        foreach (var service in new[] { "api", "worker" })
        {
            var environment = Service(service).Environment();
            foreach (var key in new[] { "QAPI_QRNG_URL", "QAPI_QRNG_DEVICE", "QAPI_LICENSE_SERVER" })
            {
                Assert.True(environment.ContainsKey(key), $"{service} lacks {key}");
            }
        }
    }

    [Fact]
    public void Env_example_names_every_variable_the_compose_file_uses_and_holds_no_secret()
    {
        var example = ParseEnvFile(RepositoryFiles.ReadText(EnvExamplePath));

        var used = YamlNodes.Scalars(_compose)
            .SelectMany(s => ComposeVariable().Matches(s.Value ?? "").Select(m => m.Groups["name"].Value))
            .ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(used);
        var missing = used.Where(v => !example.ContainsKey(v)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, $".env.example lacks: {string.Join(", ", missing)}");

        var secretNames = example.Keys.Where(k => SecretName().IsMatch(k)).ToList();
        Assert.True(secretNames.Count == 0, $".env.example names secrets (they belong in secrets/): {string.Join(", ", secretNames)}");
    }

    [Fact]
    public void Dotnet_services_and_gateway_run_hardened()
    {
        foreach (var name in new[] { "gateway", "identity", "api", "worker" })
        {
            var service = Service(name);
            Assert.Equal("true", service.Scalar("read_only"));
            Assert.Contains("/tmp", YamlNodes.NamesOf(service.Child("tmpfs")));
            Assert.Equal(["ALL"], YamlNodes.NamesOf(service.Child("cap_drop")));
            Assert.Contains("no-new-privileges:true", YamlNodes.NamesOf(service.Child("security_opt")));
            Assert.Null(service.Child("user"));
            Assert.Null(service.Child("privileged"));
        }
    }

    [Fact]
    public void Api_and_identity_run_several_replicas_behind_a_re_resolving_gateway()
    {
        foreach (var name in new[] { "api", "identity" })
        {
            var service = Service(name);
            Assert.Null(service.Child("container_name"));
            Assert.True(int.Parse(service.Mapping("deploy").Scalar("replicas")!, System.Globalization.CultureInfo.InvariantCulture) >= 2);
        }

        var gateway = Service("gateway").Environment();
        Assert.Equal("127.0.0.11", gateway["GATEWAY_UPSTREAM_RESOLVER"]);
        Assert.Equal("identity:5100", gateway["IDENTITY_UPSTREAM"]);
        Assert.Equal("api:5282", gateway["API_UPSTREAM"]);
        Assert.Equal("worker:5300", gateway["WORKER_UPSTREAM"]);
    }

    internal static Dictionary<string, string> ParseEnvFile(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var equals = line.IndexOf('=', StringComparison.Ordinal);
            Assert.True(equals > 0, $"not KEY=value: '{line}'");
            result[line[..equals]] = line[(equals + 1)..];
        }

        return result;
    }

    /// <summary>Host ports of compose `ports` in short ("[ip:]published:target[/proto]") or long syntax.</summary>
    private static IEnumerable<int> PublishedPorts(YamlMappingNode service)
    {
        var ports = Assert.IsType<YamlSequenceNode>(service.Child("ports"));
        foreach (var entry in ports.Children)
        {
            string published;
            if (entry is YamlMappingNode longSyntax)
            {
                published = longSyntax.Scalar("published") ?? "";
            }
            else
            {
                var spec = ((YamlScalarNode)entry).Value ?? "";
                spec = spec.Split('/')[0];
                if (spec.StartsWith('['))
                {
                    spec = spec[(spec.IndexOf(']', StringComparison.Ordinal) + 2)..];
                }

                var parts = spec.Split(':');
                Assert.True(parts.Length >= 2, $"'{spec}' publishes a random host port");
                published = parts[^2];
            }

            Assert.True(int.TryParse(published, out var port), $"'{published}' is not a fixed port");
            yield return port;
        }
    }

    [GeneratedRegex(@"(PASSWORD|SECRET|MASTER_KEY|TOKEN|REDISCLI_AUTH)", RegexOptions.CultureInvariant)]
    private static partial Regex SecretName();

    [GeneratedRegex(@"(?i)(?:password|pwd)=(?<value>[^;,]*)", RegexOptions.CultureInvariant)]
    private static partial Regex PasswordInConnectionString();

    [GeneratedRegex(@"--requirepass\s+(?<value>\S+)", RegexOptions.CultureInvariant)]
    private static partial Regex RequirePass();

    /// <summary>${NAME…} as compose interpolates it; $${…} is an escaped dollar for the container's shell.</summary>
    [GeneratedRegex(@"(?<!\$)\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)", RegexOptions.CultureInvariant)]
    private static partial Regex ComposeVariable();
}
