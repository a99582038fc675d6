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

/// <summary>
/// Walks a Wycheproof file through one Mislata entry point and tallies the results; prints the summary line, which
/// names that entry point, to xunit output and stdout (test.sh shows it). An <c>invalid</c> vector passes only when
/// the Mislata call rejects it: <see cref="Verify"/> for calls that answer yes/no, <see cref="Compute"/> for calls that
/// produce output, where any output of an invalid vector - whatever it is - is a failure.
/// </summary>
internal sealed class WycheproofRun(string file, string entryPoint, ITestOutputHelper output)
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

    /// <summary>
    /// A vector of a verification: <paramref name="verify"/> answers whether the Mislata call accepted it; a
    /// <see cref="CryptoException"/> is a rejection. Valid → accepted; invalid → rejected; acceptable → either.
    /// </summary>
    public void Verify(JsonElement test, Func<bool> verify)
    {
        bool accepted;
        try
        {
            accepted = verify();
        }
        catch (CryptoException)
        {
            accepted = false;
        }

        Record(test, valid: accepted, invalid: !accepted, "accepted");
    }

    /// <summary>
    /// A vector of a call that produces output: <paramref name="callAndCompare"/> makes the Mislata call(s) and says
    /// whether the output equals the file's. Valid → no error and equal output. Invalid → the call must throw a
    /// <see cref="CryptoException"/>: returning anything (even output that differs from the file's) fails the vector.
    /// </summary>
    public void Compute(JsonElement test, Func<bool> callAndCompare)
    {
        bool? matches;
        try
        {
            matches = callAndCompare();
        }
        catch (CryptoException)
        {
            matches = null;
        }

        Record(test, valid: matches == true, invalid: matches is null, matches is null ? "rejected" : "produced output instead of an error");
    }

    private void Record(JsonElement test, bool valid, bool invalid, string what)
    {
        var id = test.GetProperty("tcId").GetInt32();
        switch (test.GetProperty("result").GetString())
        {
            case "valid":
                _valid++;
                if (!valid)
                {
                    _failures.Add($"tcId {id}: valid vector not accepted with the expected result");
                }

                break;
            case "invalid":
                _invalid++;
                if (!invalid)
                {
                    _failures.Add($"tcId {id}: invalid vector {what}");
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
        var line = $"wycheproof {file} via {entryPoint}: {total} vectors passed ({_valid} valid, {_invalid} invalid rejected, {_acceptable} acceptable)"
            + (_notApplicable > 0 ? $"; {_notApplicable} not applicable{(note is null ? string.Empty : " (" + note + ")")}" : string.Empty);
        Assert.True(_failures.Count == 0, $"{file} via {entryPoint}: {_failures.Count} failures:\n" + string.Join("\n", _failures.Take(30)));
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
