using Mislata.ServiceDefaults;

namespace Mislata.Infrastructure.Tests.Configuration;

/// <summary>Secrets given as <c>X_FILE</c> (Docker secrets, Kubernetes Secret volumes) instead of <c>X</c>.</summary>
public sealed class SecretFileVariablesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mislata-secret-files-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteFile(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static Func<string, string?> Env(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal);
        return name => map.GetValueOrDefault(name);
    }

    [Theory]
    [InlineData("QAPI_MASTER_KEY")]
    [InlineData("QAPI_MASTER_KEY_PREVIOUS")]
    [InlineData("QAPI_POSTGRES")]
    [InlineData("QAPI_POSTGRES_MIGRATIONS")]
    [InlineData("QAPI_REDIS")]
    [InlineData("QAPI_ADMIN_PASSWORD")]
    [InlineData("QAPI_BOOTSTRAP_CLIENT_SECRET")]
    public void Each_secret_variable_reads_its_file(string name)
    {
        var path = WriteFile(name, "value-of-" + name + "\n");

        var values = SecretFileVariables.Resolve(Env((name + "_FILE", path)));

        Assert.Equal("value-of-" + name, Assert.Single(values, v => v.Key == name).Value);
        Assert.Single(values);
    }

    [Fact]
    public void Only_one_trailing_line_break_is_dropped_and_inner_text_is_kept()
    {
        var crlf = WriteFile("crlf", "Host=postgres;Password=a b\r\n");
        var twoBreaks = WriteFile("two", "secret\n\n");
        var none = WriteFile("none", " spaced ");

        var values = SecretFileVariables.Resolve(Env(
            ("QAPI_POSTGRES_FILE", crlf), ("QAPI_REDIS_FILE", twoBreaks), ("QAPI_ADMIN_PASSWORD_FILE", none)));

        Assert.Equal("Host=postgres;Password=a b", values["QAPI_POSTGRES"]);
        Assert.Equal("secret\n", values["QAPI_REDIS"]);
        Assert.Equal(" spaced ", values["QAPI_ADMIN_PASSWORD"]);
    }

    [Fact]
    public void Without_file_variables_nothing_is_read_and_the_environment_value_is_used()
    {
        var environment = Env(("QAPI_MASTER_KEY", "from-env"));

        var values = SecretFileVariables.Resolve(environment);

        Assert.Empty(values);
        Assert.Equal("from-env", SecretFileVariables.Get(values, "QAPI_MASTER_KEY", environment));
        Assert.Null(SecretFileVariables.Get(values, "QAPI_MASTER_KEY_PREVIOUS", environment));
    }

    [Fact]
    public void A_file_value_is_preferred_by_get()
    {
        var environment = Env(("QAPI_MASTER_KEY_FILE", WriteFile("k", "from-file")));
        var values = SecretFileVariables.Resolve(environment);

        Assert.Equal("from-file", SecretFileVariables.Get(values, "QAPI_MASTER_KEY", environment));
    }

    [Fact]
    public void Both_the_variable_and_its_file_is_refused_without_showing_either_value()
    {
        var path = WriteFile("k", "file-secret-value");

        var ex = Assert.Throws<StartupException>(() =>
            SecretFileVariables.Resolve(Env(("QAPI_REDIS", "env-secret-value"), ("QAPI_REDIS_FILE", path))));

        Assert.Contains("QAPI_REDIS", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-value", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_a_startup_error_naming_the_variable_and_path()
    {
        var path = Path.Combine(_dir, "absent");

        var ex = Assert.Throws<StartupException>(() => SecretFileVariables.Resolve(Env(("QAPI_MASTER_KEY_FILE", path))));

        Assert.Contains("QAPI_MASTER_KEY_FILE", ex.Message, StringComparison.Ordinal);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_an_oversized_file_or_binary_content_is_refused_without_echoing_content()
    {
        Assert.Throws<StartupException>(() => SecretFileVariables.Resolve(Env(("QAPI_REDIS_FILE", _dir))));

        var big = WriteFile("big", new string('x', SecretFileVariables.MaxFileBytes + 1));
        var tooBig = Assert.Throws<StartupException>(() => SecretFileVariables.Resolve(Env(("QAPI_REDIS_FILE", big))));
        Assert.DoesNotContain("xxxx", tooBig.Message, StringComparison.Ordinal);

        var binary = Path.Combine(_dir, "binary");
        File.WriteAllBytes(binary, [0x41, 0xff, 0xfe, 0x42]);
        var notText = Assert.Throws<StartupException>(() => SecretFileVariables.Resolve(Env(("QAPI_REDIS_FILE", binary))));
        Assert.Contains("UTF-8", notText.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_file_gives_an_empty_value_which_leaves_the_previous_master_key_unset()
    {
        var values = SecretFileVariables.Resolve(Env(("QAPI_MASTER_KEY_PREVIOUS_FILE", WriteFile("empty", "\n"))));

        Assert.Equal(string.Empty, values["QAPI_MASTER_KEY_PREVIOUS"]);
        var ring = Mislata.Crypto.Envelope.MasterKeyRing.FromBase64(
            Convert.ToBase64String(new byte[32].Select((_, i) => (byte)(i + 1)).ToArray()), values["QAPI_MASTER_KEY_PREVIOUS"]);
        Assert.Null(ring.Previous);
        ring.Dispose();
    }

    [Fact]
    public void An_empty_file_variable_is_ignored()
    {
        Assert.Empty(SecretFileVariables.Resolve(Env(("QAPI_REDIS_FILE", ""), ("QAPI_REDIS", "x"))));
    }
}
