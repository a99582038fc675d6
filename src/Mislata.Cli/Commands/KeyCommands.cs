using System.CommandLine;
using System.Text;
using System.Text.Json;
using Mislata.Client.Contracts;
using static Mislata.Cli.CliOptions;

namespace Mislata.Cli.Commands;

internal static class KeyCommands
{
    private static readonly string[] Columns = ["id", "name", "algorithm", "type", "state", "currentVersion", "isDefault", "tags"];

    public static Command Build()
    {
        var name = new Argument<string>("name") { Description = "Key name" };
        var algorithm = new Option<string?>("--algorithm", "-a") { Description = "ML-KEM-768 (default encryption), ML-DSA-65 (default signing), AES-256-GCM, HMAC-SHA256, …" };
        var type = new Option<string?>("--type") { Description = "encryption | signing | hmac | symmetric" };
        var description = new Option<string?>("--description") { Description = "Description" };
        var tags = new Option<string[]>("--tag") { Description = "A tag (repeatable)", AllowMultipleArgumentsPerToken = false };
        var rotation = new Option<int?>("--rotation-days") { Description = "Automatic rotation period in days" };
        var isDefault = new Option<bool?>("--default") { Description = "Make it the tenant's default key of its type" };
        var create = Leaf("create", "Create a key", async c => Show(c, await c.Client.Keys.CreateAsync(
            new CreateKeyRequest(c.Get(name)!, c.Get(algorithm), c.Get(type), c.Get(description), Tags(c.Get(tags)), c.Get(rotation), c.Get(isDefault)),
            cancellationToken: c.Cancellation)), name, algorithm, type, description, tags, rotation, isDefault);

        var state = new Option<string?>("--state") { Description = "enabled | disabled | pendingDeletion | destroyed" };
        var tag = new Option<string?>("--tag") { Description = "Only keys with this tag" };
        var byName = new Option<string?>("--name") { Description = "Only keys with this name" };
        var limit = Limit();
        var cursor = Cursor();
        var list = Leaf("list", "List keys", async c =>
        {
            c.Output.Write(await c.Client.Keys.ListAsync(new KeyListQuery(c.Get(algorithm), c.Get(state), c.Get(tag), c.Get(byName), c.Get(limit), c.Get(cursor)), c.Cancellation), Columns);
            return ExitCodes.Ok;
        }, algorithm, state, tag, byName, limit, cursor);

        var id = Id("id", "Key id");
        var get = Leaf("get", "Show a key and its versions", async c => Show(c, await c.Client.Keys.GetAsync(c.Get(id), c.Cancellation)), id);
        var rotate = Leaf("rotate", "Rotate: a new current version", async c => Show(c, await c.Client.Keys.RotateAsync(c.Get(id), c.Cancellation)), id);
        var disable = Leaf("disable", "Disable: the key refuses every operation", async c => Show(c, await c.Client.Keys.DisableAsync(c.Get(id), c.Cancellation)), id);
        var enable = Leaf("enable", "Enable a disabled key", async c => Show(c, await c.Client.Keys.EnableAsync(c.Get(id), c.Cancellation)), id);
        var pendingDays = new Option<int?>("--pending-days") { Description = "Days before destruction, 7..30 (default 30)" };
        var delete = Leaf("delete", "Schedule the key's destruction (restorable until then)", async c =>
            Show(c, await c.Client.Keys.DeleteAsync(c.Get(id), c.Get(pendingDays), c.Cancellation)), id, pendingDays);
        var restore = Leaf("restore", "Cancel a pending deletion (the key comes back disabled)", async c => Show(c, await c.Client.Keys.RestoreAsync(c.Get(id), c.Cancellation)), id);

        var minVersion = new Option<int?>("--min-decryption-version") { Description = "Payloads of older versions no longer decrypt" };
        var updateTags = new Option<string[]>("--tag") { Description = "Replace the tags (repeatable)" };
        var update = Leaf("update", "Change description, tags, rotation period, default, minimum decryption version", async c => Show(c, await c.Client.Keys.UpdateAsync(
            c.Get(id), new UpdateKeyRequest(c.Get(description), Tags(c.Get(updateTags)), c.Get(rotation), c.Get(isDefault), c.Get(minVersion)), c.Cancellation)),
            id, description, updateTags, rotation, isDefault, minVersion);

        var format = new Option<string>("--format") { Description = "raw (JSON usable by `encrypt --offline-key`), jwk, or pem (PEM text)", DefaultValueFactory = _ => "raw" };
        format.AcceptOnlyFromAmong("raw", "jwk", "pem");
        var version = new Option<int?>("--version") { Description = "Key version (default current)" };
        var output = Out();
        var export = Leaf("export", "Export the public part of an asymmetric key", async c =>
        {
            var key = await c.Client.Keys.GetPublicKeyAsync(c.Get(id), c.Get(format)!, c.Get(version), c.Cancellation);
            var text = c.Get(format) == "pem" ? key.PublicKeyText! : JsonSerializer.Serialize(key, Output.Json);
            await Io.WriteAsync(c.Get(output), Encoding.UTF8.GetBytes(text.EndsWith('\n') ? text : text + "\n"), c.Cancellation);
            return ExitCodes.Ok;
        }, id, format, version, output);

        var jwks = Leaf("jwks", "The JWKS of the tenant's enabled asymmetric keys", async c =>
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(await c.Client.Keys.GetJwksAsync(c.Cancellation), Output.Json));
            return ExitCodes.Ok;
        });

        var importAlgorithm = new Option<string>("--algorithm", "-a") { Description = "Algorithm of the material", Required = true };
        var importFormat = new Option<string>("--format") { Description = "pkcs8 | raw | jwk", Required = true };
        importFormat.AcceptOnlyFromAmong("pkcs8", "raw", "jwk");
        var input = In("Key material file: PEM or DER (pkcs8), raw bytes (raw), JSON (jwk); default stdin");
        var import = Leaf("import", "Import key material (BYOK)", async c =>
        {
            var bytes = await Io.ReadAllAsync(c.Get(input), 1 << 20, c.Cancellation);
            var text = Encoding.UTF8.GetString(bytes).Trim();
            var material = c.Get(importFormat) == "jwk"
                ? JsonDocument.Parse(text).RootElement.Clone()
                : JsonSerializer.SerializeToElement(text.StartsWith("-----BEGIN", StringComparison.Ordinal) ? text : Convert.ToBase64String(bytes));
            return Show(c, await c.Client.Keys.ImportAsync(new ImportKeyRequest(c.Get(name)!, c.Get(importAlgorithm)!, material, c.Get(importFormat)!, c.Get(type),
                c.Get(description), Tags(c.Get(tags)), c.Get(rotation), c.Get(isDefault)), cancellationToken: c.Cancellation));
        }, name, importAlgorithm, importFormat, input, type, description, tags, rotation, isDefault);

        return Group("keys", "Keys: create, list, get, update, rotate, disable/enable, delete/restore, export, import, jwks",
            create, list, get, update, rotate, disable, enable, delete, restore, export, import, jwks);
    }

    private static IReadOnlyList<string>? Tags(string[]? tags) => tags is { Length: > 0 } ? tags : null;

    private static int Show(CommandContext c, Key key)
    {
        c.Output.Write(key);
        return ExitCodes.Ok;
    }
}
