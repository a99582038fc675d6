using System.Diagnostics;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Mislata.Deploy.Tests;

/// <summary>
/// deploy/compose/install.sh run into a temporary folder (no Docker): the secret files compose mounts, their
/// permissions, that the connection strings and the roles' passwords agree, that nothing secret reaches .env or the
/// compose file, and that the compose file's variables and secrets all resolve against what the script wrote (the part
/// of `docker compose config` that can go wrong without an engine). `docker compose up` itself is not run here.
/// </summary>
public sealed partial class ComposeInstallTests : IDisposable
{
    private const string Host = "mislata.test.example";
    private const string AdminEmail = "root@test.example";
    private readonly string _dir = Directory.CreateTempSubdirectory("mislata-install-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Secret(string name) => File.ReadAllText(Path.Combine(_dir, "secrets", name));

    private static string ComposeText => RepositoryFiles.ReadText("deploy/compose/docker-compose.yml");

    private static IReadOnlyList<string> DeclaredSecrets() =>
        YamlNodes.NamesOf(RepositoryFiles.ReadYamlMapping("deploy/compose/docker-compose.yml").Child("secrets")).ToList();

    [Fact]
    public void Writes_every_secret_compose_mounts_as_a_private_file()
    {
        var (code, _, error) = Install();
        Assert.True(code == 0, error);

        Assert.Equal("700", Mode(Path.Combine(_dir, "secrets")));
        Assert.Equal("600", Mode(Path.Combine(_dir, ".env")));
        var declared = DeclaredSecrets();
        Assert.True(declared.Count >= 20, "compose declares the secrets");
        foreach (var name in declared)
        {
            var path = Path.Combine(_dir, "secrets", name);
            Assert.True(File.Exists(path), $"install.sh did not write secrets/{name}");
            Assert.Equal("600", Mode(path));
        }

        // Nothing else lies around in secrets/ that compose would not mount.
        var written = Directory.GetFiles(Path.Combine(_dir, "secrets")).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(declared.Order(StringComparer.Ordinal), written);
    }

    [Fact]
    public void Connection_strings_use_the_passwords_the_roles_and_users_are_created_with()
    {
        Assert.Equal(0, Install().Code);

        Assert.Equal(32, Convert.FromBase64String(Secret("master_key")).Length);
        Assert.Equal(string.Empty, Secret("master_key_previous"));
        Assert.Equal(string.Empty, Secret("license"));

        foreach (var service in new[] { "identity", "api", "worker" })
        {
            Assert.Equal(
                $"Host=postgres;Port=5432;Database=mislata;Username=mislata_{service};Password={Secret($"postgres_{service}_password")}",
                Secret($"{service}_postgres_url"));
            Assert.Equal(
                $"redis:6379,user=mislata-{service},password={Secret($"redis_{service}_password")},abortConnect=false",
                Secret($"{service}_redis_url"));
        }

        Assert.Equal(
            $"Host=postgres;Port=5432;Database=mislata;Username=mislata_owner;Password={Secret("postgres_owner_password")}",
            Secret("postgres_migrations_url"));

        // Every password is its own 256-bit random hex value (safe inside connection strings).
        var passwords = new[]
        {
            "postgres_password", "postgres_owner_password", "postgres_identity_password", "postgres_api_password",
            "postgres_worker_password", "redis_password", "redis_identity_password", "redis_api_password",
            "redis_worker_password", "bootstrap_client_secret",
        }.Select(Secret).ToList();
        Assert.All(passwords, p => Assert.Matches("^[0-9a-f]{64}$", p));
        Assert.Equal(passwords.Count, passwords.Distinct(StringComparer.Ordinal).Count());

        // identity's password policy: 12+ characters, upper and lower case, a digit and a symbol.
        var admin = Secret("admin_password");
        Assert.True(admin.Length >= 12 && admin.Any(char.IsUpper) && admin.Any(char.IsLower) && admin.Any(char.IsDigit) && admin.Any(c => !char.IsLetterOrDigit(c)));
    }

    [Fact]
    public void Prints_the_admin_credentials_once_and_no_secret_reaches_env_or_the_compose_file()
    {
        var (code, output, _) = Install();
        Assert.Equal(0, code);

        Assert.Contains(AdminEmail, output, StringComparison.Ordinal);
        Assert.Contains(Secret("admin_password"), output, StringComparison.Ordinal);
        Assert.Contains(Secret("bootstrap_client_secret"), output, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret("master_key"), output, StringComparison.Ordinal);
        Assert.Contains("secrets/master_key", output, StringComparison.Ordinal);

        var env = File.ReadAllText(Path.Combine(_dir, ".env"));
        foreach (var name in DeclaredSecrets().Where(n => n is not ("tls_cert" or "master_key_previous" or "license")))
        {
            var value = Secret(name);
            Assert.False(string.IsNullOrEmpty(value), $"secrets/{name} is empty");
            Assert.DoesNotContain(value, env, StringComparison.Ordinal);
            Assert.DoesNotContain(value, ComposeText, StringComparison.Ordinal);
        }

        foreach (var (key, _) in ComposeFileTests.ParseEnvFile(env))
        {
            Assert.DoesNotMatch("PASSWORD|SECRET|MASTER_KEY|TOKEN", key);
        }

        // A second run would replace the master key and lose every stored key: refused, nothing changed.
        var masterKey = Secret("master_key");
        var again = Install();
        Assert.NotEqual(0, again.Code);
        Assert.Contains("already installed", again.Error, StringComparison.Ordinal);
        Assert.Equal(masterKey, Secret("master_key"));
    }

    [Fact]
    public void Every_variable_compose_requires_is_in_the_written_env()
    {
        Assert.Equal(0, Install().Code);
        var env = ComposeFileTests.ParseEnvFile(File.ReadAllText(Path.Combine(_dir, ".env")));

        var required = RequiredVariable().Matches(ComposeText).Select(m => m.Groups["name"].Value).Distinct(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(required);
        foreach (var name in required)
        {
            Assert.True(env.TryGetValue(name, out var value) && value.Length > 0, $".env from install.sh lacks {name}, which compose requires");
        }

        Assert.Equal(Host, env["MISLATA_PUBLIC_HOST"]);
        Assert.Equal(AdminEmail, env["QAPI_ADMIN_EMAIL"]);
        Assert.Equal("0.2.3", env["MISLATA_VERSION"]);

        // The example documents the same names.
        var example = ComposeFileTests.ParseEnvFile(RepositoryFiles.ReadText("deploy/compose/.env.example"));
        Assert.Equal(example.Keys.Order(StringComparer.Ordinal), env.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Makes_a_self_signed_certificate_for_the_host_whose_key_matches()
    {
        Assert.Equal(0, Install().Code);
        var cert = Path.Combine(_dir, "secrets", "tls_cert");
        var key = Path.Combine(_dir, "secrets", "tls_key");

        var text = Run("openssl", ["x509", "-in", cert, "-noout", "-text"]).Output;
        Assert.Contains($"DNS:{Host}", text, StringComparison.Ordinal);
        Assert.Equal(Run("openssl", ["x509", "-in", cert, "-noout", "-pubkey"]).Output, Run("openssl", ["pkey", "-in", key, "-pubout"]).Output);
    }

    [Fact]
    public void Takes_the_operators_certificate_and_refuses_a_key_of_another_certificate()
    {
        var own = MakeCertificate("own");
        var other = MakeCertificate("other");

        var mismatched = Install("--cert", own.Cert, "--key", other.Key);
        Assert.NotEqual(0, mismatched.Code);
        Assert.Contains("is not the key of", mismatched.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, ".env")), "a refused install writes no .env");
        Assert.False(Directory.Exists(Path.Combine(_dir, "secrets")), "a refused install writes no secret");

        var (code, output, error) = Install("--cert", own.Cert, "--key", own.Key, "--license", own.Cert);
        Assert.True(code == 0, error);
        Assert.Equal(File.ReadAllText(own.Cert), Secret("tls_cert"));
        Assert.Equal(File.ReadAllText(own.Key), Secret("tls_key"));
        Assert.Equal(File.ReadAllText(own.Cert), Secret("license"));
        Assert.Contains("your certificate", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--host", "bad host name")]
    [InlineData("--admin-email", "not-an-address")]
    [InlineData("--version", "1.0;rm -rf /")]
    public void Refuses_bad_arguments_and_writes_nothing(string option, string value)
    {
        var arguments = new List<string> { "--dir", _dir, "--no-chown", "--host", Host, "--admin-email", AdminEmail };
        arguments.AddRange([option, value]);
        var (code, _, error) = Run("bash", [RepositoryFiles.PathOf("deploy/compose/install.sh"), .. arguments]);

        Assert.NotEqual(0, code);
        Assert.Contains(option, error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir, "secrets")));
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    private (string Cert, string Key) MakeCertificate(string name)
    {
        var cert = Path.Combine(_dir, name + ".crt");
        var key = Path.Combine(_dir, name + ".key");
        var made = Run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
            "-subj", "/CN=" + Host, "-keyout", key, "-out", cert]);
        Assert.True(made.Code == 0, made.Error);
        return (cert, key);
    }

    private (int Code, string Output, string Error) Install(params string[] extra) =>
        Run("bash", [RepositoryFiles.PathOf("deploy/compose/install.sh"), "--dir", _dir, "--no-chown", "--host", Host,
            "--admin-email", AdminEmail, "--version", "0.2.3", .. extra]);

    private static string Mode(string path) => Run("stat", ["-c", "%a", path]).Output.Trim();

    private static (int Code, string Output, string Error) Run(string file, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error);
    }

    /// <summary>${NAME:?message} or ${NAME?message}: compose refuses to start without it.</summary>
    [GeneratedRegex(@"(?<!\$)\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*):?\?", RegexOptions.CultureInvariant)]
    private static partial Regex RequiredVariable();
}
