using System.Text.Json;
using Mislata.Crypto.Entropy;
using Xunit.Abstractions;

namespace Mislata.Crypto.Tests;

/// <summary>Deterministic bytes for tests: SHA-256 counter mode over a label (never for production).</summary>
internal sealed class DeterministicRandom(string label) : IRandomSource
{
    private readonly byte[] _seed = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(label));
    private long _counter;

    public void Fill(Span<byte> destination)
    {
        var block = new byte[40];
        while (!destination.IsEmpty)
        {
            _seed.CopyTo(block, 0);
            BitConverter.TryWriteBytes(block.AsSpan(32), _counter++);
            var hash = System.Security.Cryptography.SHA256.HashData(block);
            var n = Math.Min(hash.Length, destination.Length);
            hash.AsSpan(0, n).CopyTo(destination);
            destination = destination[n..];
        }
    }
}

/// <summary>Replays fixed bytes (Wycheproof randomness inputs); fails if more is drawn than given.</summary>
internal sealed class FixedRandom(byte[] bytes) : IRandomSource
{
    private int _offset;

    public void Fill(Span<byte> destination)
    {
        if (_offset + destination.Length > bytes.Length)
        {
            throw new InvalidOperationException("FixedRandom exhausted.");
        }

        bytes.AsSpan(_offset, destination.Length).CopyTo(destination);
        _offset += destination.Length;
    }
}

internal static class SharedData
{
    /// <summary>MISLATA_SHARED_DIR, else ../shared next to the folder holding Mislata.slnx. Missing → fail, not skip.</summary>
    public static string WycheproofDir
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("MISLATA_SHARED_DIR");
            string? shared = null;
            if (!string.IsNullOrEmpty(env))
            {
                shared = env;
            }
            else
            {
                for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                {
                    if (File.Exists(Path.Combine(dir.FullName, "Mislata.slnx")))
                    {
                        shared = Path.Combine(dir.FullName, "..", "shared");
                        break;
                    }
                }
            }

            var path = shared is null ? null : Path.GetFullPath(Path.Combine(shared, "data", "wycheproof"));
            Assert.True(path is not null && Directory.Exists(path), $"Wycheproof data not found (set MISLATA_SHARED_DIR): {path}");
            return path!;
        }
    }

    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Mislata.slnx")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException("Mislata.slnx not found above " + AppContext.BaseDirectory);
        }
    }
}

/// <summary>Walks a Wycheproof file and tallies results; prints the summary line to xunit output and stdout.</summary>
internal sealed class WycheproofRun(string file, ITestOutputHelper output, string? via = null)
{
    private readonly List<string> _failures = [];
    private int _valid;
    private int _invalid;
    private int _acceptable;
    private int _notApplicable;

    public JsonDocument Load() => JsonDocument.Parse(File.ReadAllText(Path.Combine(SharedData.WycheproofDir, file)));

    public IEnumerable<(JsonElement Group, JsonElement Test)> Tests()
    {
        using var doc = Load();
        foreach (var group in doc.RootElement.GetProperty("testGroups").EnumerateArray())
        {
            foreach (var test in group.GetProperty("tests").EnumerateArray())
            {
                yield return (group.Clone(), test.Clone());
            }
        }
    }

    /// <summary>Records one vector: <paramref name="accepted"/> is what our wrapper did. Acceptable vectors pass either way.</summary>
    public void Check(JsonElement test, bool accepted, string? detail = null)
    {
        var result = test.GetProperty("result").GetString();
        var id = test.GetProperty("tcId").GetInt32();
        switch (result)
        {
            case "valid":
                _valid++;
                if (!accepted)
                {
                    _failures.Add($"tcId {id}: valid vector rejected {detail}");
                }

                break;
            case "invalid":
                _invalid++;
                if (accepted)
                {
                    _failures.Add($"tcId {id}: invalid vector accepted {detail}");
                }

                break;
            default:
                _acceptable++;
                break;
        }
    }

    /// <summary>A vector our API cannot express (stated in the summary, never silently dropped).</summary>
    public void NotApplicable() => _notApplicable++;

    public void Finish(string? note = null)
    {
        var total = _valid + _invalid + _acceptable;
        var line = $"wycheproof {file}{(via is null ? string.Empty : " via " + via)}: {total} vectors passed ({_valid} valid, {_invalid} invalid, {_acceptable} acceptable)"
            + (_notApplicable > 0 ? $"; {_notApplicable} not applicable{(note is null ? string.Empty : " (" + note + ")")}" : string.Empty);
        Assert.True(_failures.Count == 0, $"{file}: {_failures.Count} failures:\n" + string.Join("\n", _failures.Take(30)));
        Assert.True(total > 0, file + ": no vectors ran");
        output.WriteLine(line);
        Console.WriteLine(line);
    }
}

internal static class Hex
{
    public static byte[] Get(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? Convert.FromHexString(v.GetString()!) : [];

    public static bool Has(JsonElement e, string name) => e.TryGetProperty(name, out _);
}
