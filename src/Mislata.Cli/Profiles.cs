using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mislata.Cli;

/// <summary>A named connection: where the API is and how to authenticate. Stored in the user's config folder, mode 600.</summary>
internal sealed record Profile
{
    public required string Url { get; init; }

    /// <summary>A PEM file of the CA that signed the gateway's certificate (a private PKI).</summary>
    public string? CaCertificate { get; init; }

    public string? ApiKey { get; init; }

    public string? ClientId { get; init; }

    public string? ClientSecret { get; init; }

    public string? Scope { get; init; }

    /// <summary>What <c>profile show</c> may print: never the API key or the client secret.</summary>
    public object Redacted(string name) => new
    {
        name,
        url = Url,
        caCertificate = CaCertificate,
        auth = ApiKey is not null ? "apiKey" : "clientCredentials",
        apiKeyPrefix = ApiKey is { Length: > 13 } k ? k[..13] + "…" : null,
        clientId = ClientId,
        scope = Scope,
    };
}

internal sealed record ProfileFile
{
    public string? Current { get; set; }

    public Dictionary<string, Profile> Profiles { get; init; } = new(StringComparer.Ordinal);
}

/// <summary>
/// <c>$MISLATA_CONFIG_DIR</c> or <c>{user config folder}/mislata</c> (<c>~/.config/mislata</c> on Linux):
/// <c>profiles.json</c>, written with mode 600 in a 700 folder, replaced atomically.
/// </summary>
internal static class ProfileStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Folder => Environment.GetEnvironmentVariable("MISLATA_CONFIG_DIR") is { Length: > 0 } dir
        ? dir
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.DoNotVerify), "mislata");

    public static string FilePath => Path.Combine(Folder, "profiles.json");

    public static ProfileFile Load()
    {
        if (!File.Exists(FilePath))
        {
            return new ProfileFile();
        }

        try
        {
            return JsonSerializer.Deserialize<ProfileFile>(File.ReadAllText(FilePath), Json) ?? new ProfileFile();
        }
        catch (JsonException)
        {
            throw new UsageException($"{FilePath} is not a profile file; fix or remove it");
        }
    }

    public static void Save(ProfileFile file)
    {
        if (!OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(Folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        else
        {
            Directory.CreateDirectory(Folder);
        }

        var temporary = FilePath + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, options))
        {
            JsonSerializer.Serialize(stream, file, Json);
        }

        File.Move(temporary, FilePath, overwrite: true);
    }

    /// <summary>The profile to use: <c>--profile</c>, else <c>$MISLATA_PROFILE</c>, else the current one; <c>$MISLATA_URL</c> with <c>$MISLATA_API_KEY</c> needs no file.</summary>
    public static (string Name, Profile Profile) Resolve(string? name)
    {
        name ??= Environment.GetEnvironmentVariable("MISLATA_PROFILE");
        if (name is null && Environment.GetEnvironmentVariable("MISLATA_URL") is { Length: > 0 } url && Environment.GetEnvironmentVariable("MISLATA_API_KEY") is { Length: > 0 } key)
        {
            return ("(environment)", new Profile { Url = url, ApiKey = key });
        }

        var file = Load();
        name ??= file.Current ?? "default";
        return file.Profiles.TryGetValue(name, out var profile)
            ? (name, profile)
            : throw new UsageException($"no profile '{name}': run `mislata login --profile {name} --url …` first");
    }
}
