using System.CommandLine;
using System.Text;
using Mislata.Client;
using Mislata.Client.Contracts;
using static Mislata.Cli.CliOptions;

namespace Mislata.Cli.Commands;

/// <summary>Secrets by id or by name. Values never travel on the command line (every process's argv is world-readable): --in or stdin.</summary>
internal static class SecretCommands
{
    private static readonly string[] Columns = ["id", "name", "currentVersion", "state", "labels", "contentType", "expiresAt", "updatedAt"];

    public static Command Build()
    {
        var reference = new Argument<string>("secret") { Description = "Secret id or name" };
        var name = new Option<string?>("--name") { Description = "Names starting with this" };
        var label = new Option<string?>("--label") { Description = "Only secrets with this label" };
        var deleted = new Option<bool>("--deleted") { Description = "List deleted (restorable) secrets" };
        var limit = Limit();
        var cursor = Cursor();
        var list = Leaf("list", "List secrets (metadata only)", async c =>
        {
            c.Output.Write(await c.Client.Secrets.ListAsync(new SecretListQuery(c.Get(name), c.Get(label), c.Get(deleted) ? "deleted" : null, null, c.Get(limit), c.Get(cursor)),
                c.Cancellation), Columns);
            return ExitCodes.Ok;
        }, name, label, deleted, limit, cursor);

        var version = new Option<int?>("--version") { Description = "Version (default current)" };
        var output = Out("Write the value to this file (default: stdout)");
        var get = Leaf("get", "Print a secret's value (the raw bytes; --output json for the metadata too)", async c =>
        {
            var id = await ResolveAsync(c, c.Get(reference)!, deleted: false);
            var value = await c.Client.Secrets.GetAsync(id, c.Get(version), cancellationToken: c.Cancellation);
            if (c.Output.IsJson)
            {
                c.Output.Write(value);
            }
            else
            {
                await Io.WriteAsync(c.Get(output), value.ValueBytes(), c.Cancellation);
            }

            return ExitCodes.Ok;
        }, reference, version, output);

        var input = In("Read the value from this file (default: stdin), bytes as they are");
        var expected = new Option<int?>("--expected-version") { Description = "Check-and-set: fail with exit 5 when the current version is another" };
        var description = new Option<string?>("--description") { Description = "Description (on create)" };
        var labels = new Option<string[]>("--label") { Description = "A label (on create, repeatable)" };
        var contentType = new Option<string?>("--content-type") { Description = "Content type (on create)" };
        var put = Leaf("put", "Store a value: a new secret (by name) or a new version of an existing one", async c =>
        {
            var bytes = await Io.ReadAllAsync(c.Get(input), 64 * 1024, c.Cancellation);
            var text = IsUtf8(bytes) ? Encoding.UTF8.GetString(bytes) : null;
            var (value, encoding) = text is not null ? (text, ValueEncoding.Utf8) : (Convert.ToBase64String(bytes), ValueEncoding.Base64);
            var given = c.Get(reference)!;
            var existing = Guid.TryParse(given, out var gid) ? gid : await FindAsync(c, given, deleted: false);
            var written = existing is { } id
                ? await c.Client.Secrets.WriteAsync(id, new WriteSecretRequest(value, encoding, c.Get(expected)), c.Cancellation)
                : await c.Client.Secrets.CreateAsync(new CreateSecretRequest(given, value, encoding, c.Get(description),
                    c.Get(labels) is { Length: > 0 } l ? l : null, c.Get(contentType)), cancellationToken: c.Cancellation);
            c.Output.Write(written);
            return ExitCodes.Ok;
        }, reference, input, expected, description, labels, contentType);

        var history = Leaf("history", "A secret's versions (no values)", async c =>
        {
            var id = await ResolveAsync(c, c.Get(reference)!, deleted: false);
            c.Output.Write(await c.Client.Secrets.VersionsAsync(id, c.Get(limit), c.Get(cursor), c.Cancellation));
            return ExitCodes.Ok;
        }, reference, limit, cursor);

        var permanent = new Option<bool>("--permanent") { Description = "Purge now with every version (not restorable)" };
        var delete = Leaf("delete", "Delete a secret (restorable for 30 days unless --permanent)", async c =>
        {
            var id = await ResolveAsync(c, c.Get(reference)!, deleted: false);
            if (c.Get(permanent))
            {
                await c.Client.Secrets.PurgeAsync(id, c.Cancellation);
                c.Output.Write(c.Output.IsJson ? new { id, purged = true } : $"purged {id}");
            }
            else
            {
                c.Output.Write(await c.Client.Secrets.DeleteAsync(id, c.Cancellation));
            }

            return ExitCodes.Ok;
        }, reference, permanent);

        var restore = Leaf("restore", "Restore a deleted secret", async c =>
        {
            var id = await ResolveAsync(c, c.Get(reference)!, deleted: true);
            c.Output.Write(await c.Client.Secrets.RestoreAsync(id, c.Cancellation));
            return ExitCodes.Ok;
        }, reference);

        return Group("secrets", "Secrets: list, get, put, history, delete, restore", list, get, put, history, delete, restore);
    }

    private static bool IsUtf8(byte[] bytes)
    {
        try
        {
            _ = new UTF8Encoding(false, true).GetString(bytes);
            return !bytes.Contains((byte)0);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    private static async Task<Guid> ResolveAsync(CommandContext c, string reference, bool deleted) =>
        Guid.TryParse(reference, out var id) ? id
            : await FindAsync(c, reference, deleted) ?? throw new MislataApiException(404, "not_found", "Not Found", $"no {(deleted ? "deleted " : "")}secret named {reference}");

    /// <summary>The secret with exactly this name (the list filter is a prefix).</summary>
    private static async Task<Guid?> FindAsync(CommandContext c, string name, bool deleted)
    {
        await foreach (var s in MislataClient.AllAsync((cursor, ct) => c.Client.Secrets.ListAsync(new SecretListQuery(name, State: deleted ? "deleted" : null, Limit: 100, Cursor: cursor), ct), c.Cancellation))
        {
            if (s.Name == name)
            {
                return s.Id;
            }
        }

        return null;
    }
}
