using System.Text;

namespace Mislata.Cli;

/// <summary>Binary-safe input and output: a file (<c>--in</c>/<c>--out</c>) or stdin/stdout (absent or <c>-</c>).</summary>
internal static class Io
{
    public static Stream OpenIn(string? path)
    {
        if (path is null or "-")
        {
            return Console.OpenStandardInput();
        }

        return File.Exists(path) ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true) : throw new UsageException($"no file {path}");
    }

    public static long? LengthOf(string? path) => path is null or "-" ? null : new FileInfo(path).Length;

    public static async Task<byte[]> ReadAllAsync(string? path, int max, CancellationToken cancellationToken)
    {
        await using var input = OpenIn(path);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await input.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > max)
            {
                throw new UsageException($"input larger than {max} bytes: use `mislata envelope encrypt` for large data");
            }
        }

        return buffer.ToArray();
    }

    public static async Task<string> ReadTextAsync(string? path, CancellationToken cancellationToken) =>
        Encoding.UTF8.GetString(await ReadAllAsync(path, 64 * 1024 * 1024, cancellationToken)).Trim();

    public static async Task WriteAsync(string? path, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        await using var output = OpenOutRaw(path);
        await output.WriteAsync(bytes, cancellationToken);
        await output.FlushAsync(cancellationToken);
    }

    public static Task WriteLineAsync(string? path, string text, CancellationToken cancellationToken) =>
        WriteAsync(path, Encoding.UTF8.GetBytes(text + "\n"), cancellationToken);

    /// <summary>
    /// Writes <paramref name="text"/> to a new file of mode 600 (owner read/write; a private key shown once). An existing
    /// file is not replaced: the key would be lost if the command failed half-way, and nothing else is overwritten by mistake.
    /// </summary>
    public static async Task WriteSecretFileAsync(string path, string text, CancellationToken cancellationToken)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using var file = new FileStream(path, options);
        await file.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
        await file.FlushAsync(cancellationToken);
    }

    private static Stream OpenOutRaw(string? path) => path is null or "-"
        ? Console.OpenStandardOutput()
        : new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);

    /// <summary>
    /// Writes to <paramref name="path"/> through a temporary file that replaces it only when <paramref name="write"/>
    /// succeeds: a failed decryption leaves no partial plaintext behind. stdout is written directly.
    /// </summary>
    public static async Task<T> WriteAtomicallyAsync<T>(string? path, Func<Stream, Task<T>> write)
    {
        if (path is null or "-")
        {
            await using var stdout = Console.OpenStandardOutput();
            return await write(stdout);
        }

        var full = Path.GetFullPath(path);
        var temporary = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N")[..8] + ".partial");
        try
        {
            T result;
            await using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                result = await write(output);
            }

            File.Move(temporary, full, overwrite: true);
            return result;
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>A secret typed at a terminal (not echoed), or the first line of redirected stdin.</summary>
    public static string ReadSecret(string prompt)
    {
        if (Console.IsInputRedirected)
        {
            return (Console.In.ReadLine() ?? string.Empty).Trim();
        }

        Console.Error.Write(prompt);
        var sb = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (sb.Length > 0)
                {
                    sb.Length--;
                }

                continue;
            }

            sb.Append(key.KeyChar);
        }

        Console.Error.WriteLine();
        return sb.ToString().Trim();
    }
}
