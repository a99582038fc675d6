using System.CommandLine;
using Mislata.Client.Contracts;
using static Mislata.Cli.CliOptions;

namespace Mislata.Cli.Commands;

/// <summary>api-keys, audit, billing, admin (tenants, plans, partners) and the partner portal.</summary>
internal static class TenancyCommands
{
    public static Command ApiKeys()
    {
        var name = new Argument<string>("name") { Description = "Key name" };
        var scopes = new Option<string[]>("--scope") { Description = "A scope (repeatable), e.g. keys:read encryption:write", Required = true, AllowMultipleArgumentsPerToken = true };
        var expires = new Option<DateTimeOffset?>("--expires-at") { Description = "Expiry (ISO 8601)" };
        var ips = new Option<string[]>("--ip") { Description = "Allowed CIDR (repeatable)" };
        var rate = new Option<int?>("--rate-limit") { Description = "Requests per minute" };
        var create = Leaf("create", "Create an API key (the key is printed this once)", async c =>
        {
            c.Output.Write(await c.Client.ApiKeys.CreateAsync(Request(c, name, scopes, expires, ips, rate), cancellationToken: c.Cancellation));
            return ExitCodes.Ok;
        }, name, scopes, expires, ips, rate);
        var limit = Limit();
        var cursor = Cursor();
        var list = Leaf("list", "List API keys (never the keys themselves)", async c =>
        {
            c.Output.Write(await c.Client.ApiKeys.ListAsync(c.Get(limit), c.Get(cursor), c.Cancellation), "id", "prefix", "name", "scopes", "status", "expiresAt", "createdAt");
            return ExitCodes.Ok;
        }, limit, cursor);
        var id = Id("id", "API key id");
        var get = Leaf("get", "Show an API key", async c =>
        {
            c.Output.Write(await c.Client.ApiKeys.GetAsync(c.Get(id), c.Cancellation));
            return ExitCodes.Ok;
        }, id);
        var revoke = Leaf("revoke", "Revoke an API key (at once, on every replica)", async c =>
        {
            await c.Client.ApiKeys.RevokeAsync(c.Get(id), c.Cancellation);
            c.Output.Write(c.Output.IsJson ? new { id = c.Get(id), revoked = true } : $"revoked {c.Get(id)}");
            return ExitCodes.Ok;
        }, id);
        return Group("api-keys", "API keys: create, list, get, revoke", create, list, get, revoke);
    }

    private static CreateApiKeyRequest Request(CommandContext c, Argument<string> name, Option<string[]> scopes, Option<DateTimeOffset?> expires, Option<string[]> ips, Option<int?> rate) =>
        new(c.Get(name)!, c.Get(scopes) ?? [], c.Get(expires), c.Get(ips) is { Length: > 0 } i ? i : null, c.Get(rate));

    private static readonly string[] AuditColumns = ["time", "action", "outcome", "actorType", "actorId", "resourceType", "resourceId", "errorCode"];

    public static Command Audit()
    {
        var from = new Option<DateTimeOffset?>("--from") { Description = "Events at or after (ISO 8601)" };
        var to = new Option<DateTimeOffset?>("--to") { Description = "Events before (ISO 8601)" };
        var action = new Option<string?>("--action") { Description = "e.g. key.created" };
        var actor = new Option<string?>("--actor") { Description = "Actor id" };
        var resource = new Option<string?>("--resource") { Description = "Resource id" };
        var outcome = new Option<string?>("--outcome") { Description = "success | failure | denied" };
        var tenant = new Option<Guid?>("--tenant") { Description = "A tenant's trail (platform operators only)" };
        var limit = Limit();
        var cursor = Cursor();
        var list = Leaf("list", "Audit events, newest first", async c =>
        {
            c.Output.Write(await c.Client.Audit.ListAsync(new AuditQuery(c.Get(from), c.Get(to), c.Get(action), c.Get(actor), c.Get(resource), c.Get(outcome), c.Get(tenant),
                c.Get(limit), c.Get(cursor)), c.Cancellation), AuditColumns);
            return ExitCodes.Ok;
        }, from, to, action, actor, resource, outcome, tenant, limit, cursor);
        var verify = Leaf("verify", "Check the trail's hash chain: exit 0 when intact, 7 when not", async c =>
        {
            var result = await c.Client.Audit.VerifyAsync(c.Get(tenant), c.Cancellation);
            c.Output.Write(result);
            return result.Valid ? ExitCodes.Ok : ExitCodes.Invalid;
        }, tenant);
        var interval = new Option<double>("--interval") { Description = "Seconds between polls", DefaultValueFactory = _ => 2 };
        var max = new Option<int?>("--max-events") { Description = "Stop after this many events" };
        var duration = new Option<double?>("--duration") { Description = "Stop after this many seconds" };
        var tail = Leaf("tail", "Follow new audit events (oldest first) until Ctrl-C, --max-events or --duration", async c =>
        {
            var seen = new HashSet<Guid>();
            var since = c.Get(from) ?? DateTimeOffset.UtcNow.AddMinutes(-1);
            var printed = 0;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(c.Cancellation);
            if (c.Get(duration) is { } d)
            {
                stop.CancelAfter(TimeSpan.FromSeconds(d));
            }

            try
            {
                while (true)
                {
                    var page = await c.Client.Audit.ListAsync(new AuditQuery(From: since, Action: c.Get(action), ActorId: c.Get(actor), ResourceId: c.Get(resource),
                        Outcome: c.Get(outcome), TenantId: c.Get(tenant), Limit: 100), stop.Token);
                    foreach (var e in page.Data.Reverse().Where(e => seen.Add(e.Id)))
                    {
                        Console.Out.WriteLine(c.Output.IsJson
                            ? System.Text.Json.JsonSerializer.Serialize(e, System.Text.Json.JsonSerializerOptions.Web)
                            : $"{e.Time.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z  {e.Action,-28} {e.Outcome,-8} {e.ActorType}:{e.ActorId} {e.ResourceType}/{e.ResourceId} {e.ErrorCode}");
                        since = e.Time > since ? e.Time : since;
                        if (++printed >= c.Get(max))
                        {
                            return ExitCodes.Ok;
                        }
                    }

                    await Console.Out.FlushAsync(stop.Token);
                    await Task.Delay(TimeSpan.FromSeconds(Math.Max(0.2, c.Get(interval))), stop.Token);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested && !c.Cancellation.IsCancellationRequested)
            {
                return ExitCodes.Ok;
            }
        }, from, action, actor, resource, outcome, tenant, interval, max, duration);
        return Group("audit", "Audit trail: list with filters, verify, tail", list, verify, tail);
    }

    public static Command Billing() => Group("billing", "The tenant's plan and usage",
        Leaf("subscription", "The plan and its limits", async c =>
        {
            c.Output.Write(await c.Client.Billing.SubscriptionAsync(c.Cancellation));
            return ExitCodes.Ok;
        }),
        Leaf("usage", "This period's counts against the limits", async c =>
        {
            c.Output.Write(await c.Client.Billing.UsageAsync(c.Cancellation));
            return ExitCodes.Ok;
        }));

    public static Command Admin() => Group("admin", "Platform administration (platform:admin): tenants, plans, partners, the licence", Tenants(), Plans(), Partners(), LicenseCommands.Admin());

    private static readonly string[] TenantColumns = ["id", "name", "status", "planId", "partnerId", "adminEmail", "createdAt"];

    private static Command Tenants()
    {
        var name = new Argument<string>("name") { Description = "Tenant name" };
        var plan = new Option<string?>("--plan") { Description = "Plan id or code (default community)" };
        var partner = new Option<Guid?>("--partner") { Description = "Partner id" };
        var email = new Option<string?>("--admin-email") { Description = "Administrator's e-mail" };
        var create = Leaf("create", "Create a tenant", async c =>
        {
            c.Output.Write(await c.Client.Admin.CreateTenantAsync(new CreateTenantRequest(c.Get(name)!, c.Get(plan), c.Get(partner), c.Get(email)), cancellationToken: c.Cancellation));
            return ExitCodes.Ok;
        }, name, plan, partner, email);
        var limit = Limit();
        var cursor = Cursor();
        var list = Leaf("list", "List tenants", async c =>
        {
            c.Output.Write(await c.Client.Admin.ListTenantsAsync(c.Get(limit), c.Get(cursor), c.Cancellation), TenantColumns);
            return ExitCodes.Ok;
        }, limit, cursor);
        var id = Id("id", "Tenant id");
        var get = Leaf("get", "Show a tenant", async c =>
        {
            c.Output.Write(await c.Client.Admin.GetTenantAsync(c.Get(id), c.Cancellation));
            return ExitCodes.Ok;
        }, id);
        var newName = new Option<string?>("--name") { Description = "New name" };
        var removePartner = new Option<bool>("--remove-partner") { Description = "Detach from its partner" };
        var kept = new Option<int?>("--secret-versions-kept") { Description = "Versions kept per secret (0 keeps all)" };
        var update = Leaf("update", "Change a tenant", async c =>
        {
            c.Output.Write(await c.Client.Admin.UpdateTenantAsync(c.Get(id), new UpdateTenantRequest(c.Get(newName), c.Get(plan), c.Get(partner),
                c.Get(removePartner) ? true : null, c.Get(email), c.Get(kept)), c.Cancellation));
            return ExitCodes.Ok;
        }, id, newName, plan, partner, removePartner, email, kept);
        var delete = Leaf("delete", "Delete a tenant", async c =>
        {
            await c.Client.Admin.DeleteTenantAsync(c.Get(id), c.Cancellation);
            c.Output.Write(c.Output.IsJson ? new { id = c.Get(id), deleted = true } : $"deleted {c.Get(id)}");
            return ExitCodes.Ok;
        }, id);
        var suspend = Leaf("suspend", "Suspend a tenant: every credential is refused", async c =>
        {
            c.Output.Write(await c.Client.Admin.SuspendTenantAsync(c.Get(id), c.Cancellation));
            return ExitCodes.Ok;
        }, id);
        var reactivate = Leaf("reactivate", "Reactivate a suspended tenant", async c =>
        {
            c.Output.Write(await c.Client.Admin.ReactivateTenantAsync(c.Get(id), c.Cancellation));
            return ExitCodes.Ok;
        }, id);
        var keyName = new Option<string>("--name") { Description = "Key name", DefaultValueFactory = _ => "first-key" };
        var scopes = new Option<string[]>("--scope") { Description = "A scope (repeatable; default: all tenant scopes)", AllowMultipleArgumentsPerToken = true };
        var createKey = Leaf("create-key", "A first API key for a tenant (printed this once)", async c =>
        {
            c.Output.Write(await c.Client.Admin.CreateTenantApiKeyAsync(c.Get(id), new CreateApiKeyRequest(c.Get(keyName)!, c.Get(scopes) is { Length: > 0 } s ? s : null),
                cancellationToken: c.Cancellation));
            return ExitCodes.Ok;
        }, id, keyName, scopes);
        return Group("tenants", "Tenants: create, list, get, update, delete, suspend, reactivate, create-key", create, list, get, update, delete, suspend, reactivate, createKey);
    }

    private static Command Plans()
    {
        var code = new Option<string?>("--code") { Description = "Plan code" };
        var name = new Option<string?>("--name") { Description = "Display name" };
        var maxKeys = new Option<int?>("--max-keys") { Description = "Quota (omit for unlimited)" };
        var maxSecrets = new Option<int?>("--max-secrets") { Description = "Quota" };
        var maxApiKeys = new Option<int?>("--max-api-keys") { Description = "Quota" };
        var maxUsers = new Option<int?>("--max-users") { Description = "Quota" };
        var ops = new Option<long?>("--operations-per-month") { Description = "Quota" };
        var rpm = new Option<int?>("--requests-per-minute") { Description = "Rate limit" };
        var features = new Option<string[]>("--feature") { Description = "Feature flag (repeatable)" };
        var partners = new Option<bool?>("--available-to-partners") { Description = "Partners may create tenants on it" };
        Symbol[] fields = [code, name, maxKeys, maxSecrets, maxApiKeys, maxUsers, ops, rpm, features, partners];
        PlanRequest Request(CommandContext c) => new(c.Get(code), c.Get(name), c.Get(maxKeys), c.Get(maxSecrets), c.Get(maxApiKeys), c.Get(maxUsers), c.Get(ops), c.Get(rpm),
            c.Get(features) is { Length: > 0 } f ? f : null, c.Get(partners));
        var create = Leaf("create", "Create a plan", async c =>
        {
            c.Output.Write(await c.Client.Admin.CreatePlanAsync(Request(c), cancellationToken: c.Cancellation));
            return ExitCodes.Ok;
        }, fields);
        var limit = Limit();
        var cursor = Cursor();
        var list = Leaf("list", "List plans", async c =>
        {
            c.Output.Write(await c.Client.Admin.ListPlansAsync(c.Get(limit), c.Get(cursor), c.Cancellation), "id", "code", "name", "maxKeys", "maxSecrets", "operationsPerMonth", "availableToPartners");
            return ExitCodes.Ok;
        }, limit, cursor);
        var id = Id("id", "Plan id");
        var get = Leaf("get", "Show a plan", async c =>
        {
            c.Output.Write(await c.Client.Admin.GetPlanAsync(c.Get(id), c.Cancellation));
            return ExitCodes.Ok;
        }, id);
        var update = Leaf("update", "Change a plan (only the options given)", async c =>
        {
            c.Output.Write(await c.Client.Admin.UpdatePlanAsync(c.Get(id), Request(c), c.Cancellation));
            return ExitCodes.Ok;
        }, [id, .. fields]);
        return Group("plans", "Plans: create, list, get, update", create, list, get, update);
    }

    private static Command Partners()
    {
        var name = new Option<string?>("--name") { Description = "Partner name" };
        var email = new Option<string?>("--contact-email") { Description = "Contact e-mail" };
        var max = new Option<int?>("--max-tenants") { Description = "Tenants it may create" };
        var create = Leaf("create", "Create a partner", async c =>
        {
            c.Output.Write(await c.Client.Admin.CreatePartnerAsync(new PartnerRequest(c.Get(name), c.Get(email), c.Get(max)), cancellationToken: c.Cancellation));
            return ExitCodes.Ok;
        }, name, email, max);
        var limit = Limit();
        var cursor = Cursor();
        var list = Leaf("list", "List partners", async c =>
        {
            c.Output.Write(await c.Client.Admin.ListPartnersAsync(c.Get(limit), c.Get(cursor), c.Cancellation));
            return ExitCodes.Ok;
        }, limit, cursor);
        var id = Id("id", "Partner id");
        var get = Leaf("get", "Show a partner", async c =>
        {
            c.Output.Write(await c.Client.Admin.GetPartnerAsync(c.Get(id), c.Cancellation));
            return ExitCodes.Ok;
        }, id);
        var update = Leaf("update", "Change a partner", async c =>
        {
            c.Output.Write(await c.Client.Admin.UpdatePartnerAsync(c.Get(id), new PartnerRequest(c.Get(name), c.Get(email), c.Get(max)), c.Cancellation));
            return ExitCodes.Ok;
        }, id, name, email, max);
        var delete = Leaf("delete", "Delete a partner", async c =>
        {
            await c.Client.Admin.DeletePartnerAsync(c.Get(id), c.Cancellation);
            c.Output.Write(c.Output.IsJson ? new { id = c.Get(id), deleted = true } : $"deleted {c.Get(id)}");
            return ExitCodes.Ok;
        }, id);
        var keyName = new Option<string>("--key-name") { Description = "Key name", DefaultValueFactory = _ => "partner-key" };
        var createKey = Leaf("create-key", "A partner:admin API key for the partner (printed this once)", async c =>
        {
            c.Output.Write(await c.Client.Admin.CreatePartnerApiKeyAsync(c.Get(id), new CreateApiKeyRequest(c.Get(keyName)!, ["partner:admin"]), cancellationToken: c.Cancellation));
            return ExitCodes.Ok;
        }, id, keyName);
        return Group("partners", "Partners: create, list, get, update, delete, create-key", create, list, get, update, delete, createKey);
    }

    public static Command Partner()
    {
        var name = new Argument<string>("name") { Description = "Tenant name" };
        var plan = new Option<string?>("--plan") { Description = "Plan id or code" };
        var email = new Option<string?>("--admin-email") { Description = "Administrator's e-mail" };
        var limit = Limit();
        var cursor = Cursor();
        var id = Id("id", "Tenant id");
        return Group("partner", "Partner portal (partner:admin): the partner's tenants and usage",
            Group("tenants", "The partner's tenants",
                Leaf("list", "List the partner's tenants", async c =>
                {
                    c.Output.Write(await c.Client.Partner.ListTenantsAsync(c.Get(limit), c.Get(cursor), c.Cancellation), TenantColumns);
                    return ExitCodes.Ok;
                }, limit, cursor),
                Leaf("create", "Create a tenant for the partner", async c =>
                {
                    c.Output.Write(await c.Client.Partner.CreateTenantAsync(new CreatePartnerTenantRequest(c.Get(name)!, c.Get(plan), c.Get(email)), cancellationToken: c.Cancellation));
                    return ExitCodes.Ok;
                }, name, plan, email),
                Leaf("get", "Show one of the partner's tenants", async c =>
                {
                    c.Output.Write(await c.Client.Partner.GetTenantAsync(c.Get(id), c.Cancellation));
                    return ExitCodes.Ok;
                }, id)),
            Leaf("usage", "The partner's tenants' usage this period", async c =>
            {
                c.Output.Write(await c.Client.Partner.UsageAsync(c.Cancellation));
                return ExitCodes.Ok;
            }));
    }
}
