using System.CommandLine;
using System.Text;
using System.Text.Json;
using Mislata.Client.Contracts;
using Mislata.Client.Envelope;
using Mislata.Client.Offline;
using static Mislata.Cli.CliOptions;

namespace Mislata.Cli.Commands;

/// <summary>encrypt, decrypt, rewrap, sign, verify, hmac, random, envelope: bytes in, bytes out, binary-safe.</summary>
internal static class CryptoCommands
{
    /// <summary>A single API call carries at most 1 MiB of JSON: the base64 of 700 KiB fits; beyond, the envelope.</summary>
    private const int MaxInlineBytes = 700 * 1024;

    public static IEnumerable<Command> Build()
    {
        var input = In();
        var output = Out();
        var key = KeyId();
        var context = Context();
        var offlineKey = new Option<string?>("--offline-key") { Description = "Encrypt without calling the API, to a public key exported by `mislata keys export --format raw`" };
        yield return Leaf("encrypt", "Encrypt bytes (≤ 700 KiB) with /encrypt; prints the encryptedPayload", async c =>
        {
            var plaintext = await Io.ReadAllAsync(c.Get(input), MaxInlineBytes, c.Cancellation);
            if (c.Get(offlineKey) is { } file)
            {
                var exported = JsonSerializer.Deserialize<PublicKey>(await File.ReadAllTextAsync(file, c.Cancellation), Output.Json)
                    ?? throw new UsageException($"{file} is not an exported public key");
                var payload = OfflineEncryptor.Encrypt(OfflinePublicKey.FromPublicKey(exported), plaintext, ValueEncoding.Base64, c.Get(context));
                await Emit(c, output, payload, new { encryptedPayload = payload, keyId = exported.KeyId, keyVersion = exported.Version, algorithm = exported.Algorithm });
                return ExitCodes.Ok;
            }

            var result = await c.Client.Crypto.EncryptAsync(plaintext, c.Get(key), c.Get(context), c.Cancellation);
            await Emit(c, output, result.EncryptedPayload, result);
            return ExitCodes.Ok;
        }, input, output, key, context, offlineKey);

        yield return Leaf("decrypt", "Decrypt an encryptedPayload; writes the plaintext bytes", async c =>
        {
            var payload = await Io.ReadTextAsync(c.Get(input), c.Cancellation);
            var result = await c.Client.Crypto.DecryptAsync(new DecryptRequest(payload, c.Get(context)), c.Cancellation);
            if (c.Output.IsJson)
            {
                c.Output.Write(result);
            }
            else
            {
                await Io.WriteAsync(c.Get(output), result.PlaintextBytes(), c.Cancellation);
            }

            return ExitCodes.Ok;
        }, input, output, context);

        yield return Leaf("rewrap", "Re-encrypt a payload under its key's current version (the plaintext never leaves the server)", async c =>
        {
            var result = await c.Client.Crypto.RewrapAsync(new RewrapRequest(await Io.ReadTextAsync(c.Get(input), c.Cancellation), c.Get(context)), c.Cancellation);
            await Emit(c, output, result.EncryptedPayload, result);
            return ExitCodes.Ok;
        }, input, output, context);

        var signKey = KeyId("Signing key id (default: the tenant's default signing key)");
        yield return Leaf("sign", "Sign a message; prints the base64 signature", async c =>
        {
            var message = await Io.ReadAllAsync(c.Get(input), MaxInlineBytes, c.Cancellation);
            var result = await c.Client.Crypto.SignAsync(new SignRequest(Convert.ToBase64String(message), ValueEncoding.Base64, c.Get(signKey), c.Get(context)), c.Cancellation);
            await Emit(c, output, result.Signature, result);
            return ExitCodes.Ok;
        }, input, output, signKey, context);

        var signature = new Option<string>("--signature", "-s") { Description = "The base64 signature", Required = true };
        var keyVersion = new Option<int?>("--key-version") { Description = "Version that signed (default: any the key accepts)" };
        yield return Leaf("verify", "Verify a signature: exit 0 when valid, 7 when not", async c =>
        {
            var message = await Io.ReadAllAsync(c.Get(input), MaxInlineBytes, c.Cancellation);
            var result = await c.Client.Crypto.VerifyAsync(new VerifyRequest(Convert.ToBase64String(message), c.Get(signature)!, ValueEncoding.Base64, c.Get(signKey),
                c.Get(keyVersion), c.Get(context)), c.Cancellation);
            c.Output.Write(c.Output.IsJson ? result : result.Valid ? "valid" : "invalid");
            return result.Valid ? ExitCodes.Ok : ExitCodes.Invalid;
        }, input, signKey, signature, keyVersion, context);

        var hmacKey = new Option<Guid>("--key", "-k") { Description = "HMAC key id", Required = true };
        var mac = new Option<string?>("--verify") { Description = "Verify this base64 MAC instead: exit 0 when valid, 7 when not" };
        yield return Leaf("hmac", "Compute (or --verify) an HMAC of the input", async c =>
        {
            var message = Convert.ToBase64String(await Io.ReadAllAsync(c.Get(input), MaxInlineBytes, c.Cancellation));
            if (c.Get(mac) is { } expected)
            {
                var verified = await c.Client.Crypto.HmacVerifyAsync(new HmacVerifyRequest(message, expected, c.Get(hmacKey), ValueEncoding.Base64), c.Cancellation);
                c.Output.Write(c.Output.IsJson ? verified : verified.Valid ? "valid" : "invalid");
                return verified.Valid ? ExitCodes.Ok : ExitCodes.Invalid;
            }

            var result = await c.Client.Crypto.HmacAsync(new HmacRequest(message, c.Get(hmacKey), ValueEncoding.Base64), c.Cancellation);
            await Emit(c, output, result.Mac, result);
            return ExitCodes.Ok;
        }, input, output, hmacKey, mac);

        var bytes = new Option<int>("--bytes", "-n") { Description = "How many bytes, 1..4096", DefaultValueFactory = _ => 32 };
        var raw = new Option<bool>("--raw") { Description = "Write the raw bytes rather than base64" };
        yield return Leaf("random", "Random bytes from the platform's entropy source", async c =>
        {
            var result = await c.Client.Crypto.RandomAsync(new RandomRequest(c.Get(bytes)), c.Cancellation);
            if (c.Get(raw))
            {
                await Io.WriteAsync(c.Get(output), Convert.FromBase64String(result.Random), c.Cancellation);
            }
            else
            {
                await Emit(c, output, result.Random, result);
            }

            return ExitCodes.Ok;
        }, bytes, raw, output);

        yield return Envelope();
    }

    private static Command Envelope()
    {
        var input = In();
        var output = Out("Output file (default: stdout); written through a temporary file, kept only on success");
        var key = KeyId();
        var context = Context();
        var chunk = new Option<int>("--chunk-size") { Description = "Plaintext bytes per chunk", DefaultValueFactory = _ => EnvelopeFormat.DefaultChunkSize };
        var progress = new Option<bool>("--progress") { Description = "Show the progress bar even when stderr is not a terminal" };
        var encrypt = Leaf("encrypt", "Encrypt data of any size under a fresh data key (constant memory, chunked AES-256-GCM); --in a folder and --out a folder: every file, as <name>.mslenv", async c =>
        {
            if (c.Get(input) is { } folder && Directory.Exists(folder))
            {
                return await FolderAsync(c, folder, c.Get(output), c.Get(progress), encrypting: true,
                    async (source, target, bar) => (await new DataKeyEnvelope(c.Client).EncryptAsync(source, target,
                        new EnvelopeOptions(c.Get(key), c.Get(context), c.Get(chunk)), bar, c.Cancellation)).PlaintextBytes);
            }

            await using var source = Io.OpenIn(c.Get(input));
            var bar = new ProgressBar(Io.LengthOf(c.Get(input)), c.Get(progress) || !Console.IsErrorRedirected);
            var result = await Io.WriteAtomicallyAsync(c.Get(output), target => new DataKeyEnvelope(c.Client).EncryptAsync(source, target,
                new EnvelopeOptions(c.Get(key), c.Get(context), c.Get(chunk)), bar, c.Cancellation));
            bar.Done();
            if (c.Output.IsJson || c.Get(output) is not (null or "-"))
            {
                Console.Error.WriteLine(JsonSerializer.Serialize(result, Output.Json));
            }

            return ExitCodes.Ok;
        }, input, output, key, context, chunk, progress);
        var decrypt = Leaf("decrypt", "Decrypt an envelope (a tampered, truncated or reordered one fails with exit 7 and leaves no output file); --in a folder: every *.mslenv in it", async c =>
        {
            if (c.Get(input) is { } folder && Directory.Exists(folder))
            {
                return await FolderAsync(c, folder, c.Get(output), c.Get(progress), encrypting: false,
                    (source, target, bar) => new DataKeyEnvelope(c.Client).DecryptAsync(source, target, c.Get(context), bar, c.Cancellation));
            }

            await using var source = Io.OpenIn(c.Get(input));
            var total = Io.LengthOf(c.Get(input));
            var bar = new ProgressBar(total, c.Get(progress) || !Console.IsErrorRedirected);
            await Io.WriteAtomicallyAsync(c.Get(output), target => new DataKeyEnvelope(c.Client).DecryptAsync(source, target, c.Get(context), bar, c.Cancellation));
            bar.Done();
            return ExitCodes.Ok;
        }, input, output, context, progress);
        return Group("envelope", "Large data and files: envelope encryption with a data key from /datakey", encrypt, decrypt);
    }

    /// <summary>The file extension of an envelope written by folder mode.</summary>
    private const string EnvelopeExtension = ".mslenv";

    /// <summary>
    /// Batch mode: every file under <paramref name="folder"/> (encrypting) or every <c>*.mslenv</c> (decrypting) to the
    /// same relative path under <paramref name="outFolder"/>, each with its own data key, one progress bar over all bytes.
    /// Stops at the first failure (its output file is not left behind; earlier files are complete).
    /// </summary>
    private static async Task<int> FolderAsync(CommandContext c, string folder, string? outFolder, bool forceProgress, bool encrypting,
        Func<Stream, Stream, IProgress<long>, Task<long>> transform)
    {
        if (outFolder is null or "-")
        {
            throw new UsageException("--in is a folder: give --out a folder too");
        }

        var root = Path.GetFullPath(folder);
        var files = Directory.EnumerateFiles(root, encrypting ? "*" : "*" + EnvelopeExtension, SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        var total = files.Sum(f => new FileInfo(f).Length);
        var bar = new ProgressBar(total, forceProgress || !Console.IsErrorRedirected);
        long done = 0;
        var results = new List<object>();
        foreach (var file in files)
        {
            var relative = Path.GetRelativePath(root, file);
            var target = Path.Combine(Path.GetFullPath(outFolder), encrypting ? relative + EnvelopeExtension : relative[..^EnvelopeExtension.Length]);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var length = new FileInfo(file).Length;
            var offset = done;
            await using (var source = Io.OpenIn(file))
            {
                var bytes = await Io.WriteAtomicallyAsync(target, output => transform(source, output, new Progress(p => bar.Report(offset + Math.Min(p, length)))));
                results.Add(new { file = relative, output = Path.GetRelativePath(Path.GetFullPath(outFolder), target), bytes });
            }

            done += length;
            bar.Report(done);
        }

        bar.Done();
        if (c.Output.IsJson)
        {
            c.Output.Write(results);
        }
        else
        {
            Console.Error.WriteLine($"{(encrypting ? "encrypted" : "decrypted")} {files.Count} files ({total} bytes read)");
        }

        return ExitCodes.Ok;
    }

    /// <summary>A synchronous <see cref="IProgress{T}"/> (System.Progress posts to the thread pool, out of order).</summary>
    private sealed class Progress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }

    /// <summary>A one-line result (payload, signature, MAC): the line itself, or the whole answer with <c>--output json</c>.</summary>
    private static async Task Emit(CommandContext c, Option<string?> output, string line, object result)
    {
        if (c.Output.IsJson)
        {
            await Io.WriteAsync(c.Get(output), Encoding.UTF8.GetBytes(JsonSerializer.Serialize(result, result.GetType(), Output.Json) + "\n"), c.Cancellation);
            return;
        }

        await Io.WriteLineAsync(c.Get(output), line, c.Cancellation);
    }
}
