namespace Mislata.ServiceDefaults;

/// <summary>
/// Secrets given as files (Docker secrets, Kubernetes Secret volumes): for each secret variable <c>X</c> the service
/// also reads <c>X_FILE</c>, the path of a file holding the value, so that no secret has to sit in the process
/// environment (visible in <c>docker inspect</c>, <c>/proc/…/environ</c> and crash dumps). One trailing line break
/// is dropped (files written by <c>echo</c> or an editor). Setting both <c>X</c> and <c>X_FILE</c> is an error: which
/// one wins would otherwise be a guess. Messages name the variable and the path, never the content.
/// </summary>
public static class SecretFileVariables
{
    /// <summary>The suffix of the variable holding a secret's file path.</summary>
    public const string FileSuffix = "_FILE";

    /// <summary>
    /// Every variable the services read a secret from. <c>QAPI_LICENSE_FILE</c> is not derived from this list: it
    /// predates it and names the licence file itself (same meaning, read by the licensing code).
    /// </summary>
    public static IReadOnlyList<string> Variables { get; } =
    [
        "QAPI_MASTER_KEY",
        "QAPI_MASTER_KEY_PREVIOUS",
        "QAPI_POSTGRES",
        "QAPI_POSTGRES_MIGRATIONS",
        "QAPI_REDIS",
        "QAPI_ADMIN_PASSWORD",
        "QAPI_BOOTSTRAP_CLIENT_SECRET",
    ];

    /// <summary>Largest secret file read; anything bigger is a wrong path (a log, a binary), not a secret.</summary>
    public const int MaxFileBytes = 64 * 1024;

    /// <summary>The values read from <c>X_FILE</c> files, keyed by <c>X</c>; variables without a file are absent.</summary>
    public static IReadOnlyDictionary<string, string> Resolve(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in Variables)
        {
            var path = environment(name + FileSuffix);
            if (string.IsNullOrEmpty(path))
            {
                continue;
            }

            if (!string.IsNullOrEmpty(environment(name)))
            {
                throw new StartupException($"both {name} and {name}{FileSuffix} are set: set only one.");
            }

            values[name] = ReadSecretFile(name + FileSuffix, path);
        }

        return values;
    }

    /// <summary>The value of <paramref name="name"/>: the environment's, or the content of the file <c>name_FILE</c> names.</summary>
    public static string? Get(IReadOnlyDictionary<string, string> fromFiles, string name, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(fromFiles);
        ArgumentNullException.ThrowIfNull(environment);
        return fromFiles.TryGetValue(name, out var value) ? value : environment(name);
    }

    private static string ReadSecretFile(string variable, string path)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                throw new StartupException($"{variable} names a file that does not exist: {path}");
            }

            if (info.Length > MaxFileBytes)
            {
                throw new StartupException($"{variable} names a file larger than {MaxFileBytes} bytes: {path}");
            }

            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.SecurityException or NotSupportedException or ArgumentException)
        {
            throw new StartupException($"{variable} names a file that cannot be read ({ex.GetType().Name}): {path}");
        }

        string text;
        try
        {
            text = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new StartupException($"{variable} names a file that is not UTF-8 text: {path}");
        }
        finally
        {
            Array.Clear(bytes);
        }

        if (text.EndsWith("\r\n", StringComparison.Ordinal))
        {
            text = text[..^2];
        }
        else if (text.EndsWith('\n'))
        {
            text = text[..^1];
        }

        return text;
    }
}
