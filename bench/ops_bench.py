#!/usr/bin/env python3
"""The HTTP side of bench/run-ops.sh (standard library only).

  ops_bench.py setup  RUN_DIR GATEWAY CA_CERT ADMIN_ENV   a tenant on a plan without limits, its API key and keys,
                                                          the request bodies, one probe call per operation
  ops_bench.py runnable RUN_DIR                           the operations to measure (key, path, method, credential, body file;
                                                          tab-separated; credential "-" = the API key, else a token file)
  ops_bench.py report RUN_DIR RESULTS_DIR                 the table (stdout) and the JSON + Markdown files

setup writes RUN_DIR/ops.json (the operations: path, body file, items per request, and whether the endpoint is there)
and RUN_DIR/secret/api-key, token-es256 and token-ml-dsa-65 (mode 600; read by run-ops.sh for wrk, never copied into
the results).
"""
import json
import os
import ssl
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

KIB = 1024
BATCH_ITEMS = 1000
# 1 KiB of printable text: the plaintext and the message of every single-item operation.
TEXT_1K = "".join("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"[(i * 7 + i // 64) % 64] for i in range(KIB))

KEYS = [
    # (name in the bench, algorithm, type)
    ("aes", "AES-256-GCM", "symmetric"),
    ("mlkem", "ML-KEM-768", "encryption"),
    ("mldsa", "ML-DSA-65", "signing"),
    ("ed25519", "Ed25519", "signing"),
    ("hmac", "HMAC-SHA256", "hmac"),
]


class Http:
    def __init__(self, base, ca_cert):
        self.base = base.rstrip("/")
        self.context = ssl.create_default_context(cafile=ca_cert)
        self.context.check_hostname = False

    def call(self, method, path, body=None, headers=None, form=None):
        data = None
        all_headers = dict(headers or {})
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def parse(raw):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def expect(status, raw, wanted, what):
    if status not in wanted:
        doc = parse(raw)
        code = doc.get("error") if isinstance(doc, dict) else None
        sys.exit(f"bench setup: {what}: HTTP {status} {code or ''}".rstrip())
    return parse(raw)


def read_env(path):
    """The NAME='value' lines run.sh writes (single quotes, '\\'' for a quote)."""
    values = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, value = line.split("=", 1)
            if value.startswith("'") and value.endswith("'"):
                value = value[1:-1].replace("'\\''", "'")
            values[name] = value
    return values


def write(path, content, mode=0o644):
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, mode)


def operator_headers(http, admin_env):
    """The operator's Authorization header: a client-credentials token of the bootstrap client of ADMIN_ENV."""
    env = read_env(admin_env)
    status, raw = http.call("POST", "/connect/token", form={
        "grant_type": "client_credentials",
        "client_id": env["QAPI_BOOTSTRAP_CLIENT_ID"],
        "client_secret": env["QAPI_BOOTSTRAP_CLIENT_SECRET"],
    })
    return {"Authorization": "Bearer " + expect(status, raw, {200}, "operator token")["access_token"]}


def unlimited_tenant(http, admin_env, label, scopes):
    """The operator's token (bootstrap client of ADMIN_ENV), a plan whose quotas are all null (unlimited: no
    requests-per-minute limit, no monthly operations quota), a tenant on it and its API key with SCOPES and the largest
    per-credential rate limit. Returns (tenant, plan, api_key)."""
    operator = operator_headers(http, admin_env)
    suffix = uuid.uuid4().hex[:8]
    status, raw = http.call("POST", "/api/v1/admin/plans", {"code": label + suffix, "name": f"{label} (no limits)"}, operator)
    plan = expect(status, raw, {201}, "create plan")
    for field in ("maxKeys", "operationsPerMonth", "requestsPerMinute"):
        if plan.get(field) is not None:
            sys.exit(f"bench setup: the plan has a {field} limit ({plan[field]})")
    status, raw = http.call("POST", "/api/v1/admin/tenants", {"name": f"{label}-{suffix}", "planId": plan["id"]}, operator)
    tenant = expect(status, raw, {201}, "create tenant")
    status, raw = http.call("POST", f"/api/v1/admin/tenants/{tenant['id']}/api-keys", {
        "name": label, "scopes": scopes, "rateLimitPerMinute": 1_000_000,
    }, operator)
    return tenant, plan, expect(status, raw, {201}, "create API key")["key"]


def setup(run_dir, gateway, ca_cert, admin_env):
    http = Http(gateway, ca_cert)
    tenant, plan, api_key = unlimited_tenant(http, admin_env, "bench", ["keys:read", "keys:write", "encryption:write", "secrets:read", "secrets:write"])
    suffix = uuid.uuid4().hex[:8]
    os.makedirs(os.path.join(run_dir, "secret"), mode=0o700, exist_ok=True)
    write(os.path.join(run_dir, "secret", "api-key"), api_key, 0o600)
    tenant_headers = {"X-Api-Key": api_key}

    keys = {}
    for name, algorithm, key_type in KEYS:
        status, raw = http.call("POST", "/api/v1/keys", {"name": "bench-" + name, "algorithm": algorithm, "type": key_type}, tenant_headers)
        keys[name] = expect(status, raw, {201}, f"create {algorithm} key")["id"]

    # What the api answers for a path it does not map: an operation answering the same is "not available".
    def shape(status, raw):
        doc = parse(raw)
        return (status,) + (tuple(doc.get(k) for k in ("error", "title", "detail")) if isinstance(doc, dict) else (raw[:200],))
    unmapped = shape(*http.call("POST", "/api/v1/bench-unmapped-" + suffix, {}, tenant_headers))

    bodies = os.path.join(run_dir, "bodies")
    os.makedirs(bodies, exist_ok=True)
    operations = []

    def operation(name, path, body, items=1, needs=None, method="POST", credential=None):
        """One operation: its body file and one probe call (404 = the endpoint is not there: "not available").
        CREDENTIAL: a file of RUN_DIR/secret holding the access token to send instead of the tenant's API key."""
        key = "op-" + name.replace(" ", "_").replace("/", "_")
        entry = {"name": name, "key": key, "path": path, "method": method, "items": items, "body": None, "available": False, "probe": None,
                 "credential": credential}
        if needs is not None and not needs.get("available"):
            entry["probe"] = f"needs {needs['name']}: {needs['probe']}"
            operations.append(entry)
            return entry, None
        if body is not None:
            file = os.path.join(bodies, key + ".json")
            write(file, json.dumps(body, separators=(",", ":")))
            entry["body"] = file
        headers = tenant_headers if credential is None else {"Authorization": "Bearer " + tokens[credential]}
        status, raw = http.call(method, path, body, headers)
        doc = parse(raw)
        if status == 404 and shape(status, raw) == unmapped:
            entry["probe"] = "404: no such endpoint"
        elif 200 <= status < 300:
            entry["available"] = True
            entry["probe"] = str(status)
        else:
            code = doc.get("error") if isinstance(doc, dict) else None
            detail = doc.get("detail") if isinstance(doc, dict) else None
            entry["probe"] = f"HTTP {status} {code or ''} {detail or ''}".strip()
        operations.append(entry)
        return entry, doc if entry["available"] else None

    # Authentication alone (issue 17): GET /api/v1/ping/auth with the API key and with an access token of each signing
    # algorithm (an application of the bench tenant per algorithm, client credentials). First, while the tokens are fresh.
    operator = operator_headers(http, admin_env)
    tokens = {}
    for algorithm in ("ES256", "ML-DSA-65"):
        status, raw = http.call("POST", "/api/v1/applications", {
            "name": f"bench {algorithm}", "type": "confidential", "scopes": ["keys:read"], "tenantId": tenant["id"],
            "tokenSigningAlgorithm": algorithm}, operator)
        app = parse(raw) if status == 201 else None
        if not app:
            print(f"  application {algorithm}: HTTP {status} {raw[:200]!r}", file=sys.stderr)
            continue
        status, raw = http.call("POST", "/connect/token", form={
            "grant_type": "client_credentials", "client_id": app["clientId"], "client_secret": app["clientSecret"]})
        if status == 200:
            name = "token-" + algorithm.lower()
            tokens[name] = parse(raw)["access_token"]
            write(os.path.join(run_dir, "secret", name), tokens[name], 0o600)
    operation("ping-auth API key", "/api/v1/ping/auth", None, method="GET")
    for algorithm in ("ES256", "ML-DSA-65"):
        name = "token-" + algorithm.lower()
        if name in tokens:
            operation(f"ping-auth {algorithm} token", "/api/v1/ping/auth", None, method="GET", credential=name)
        else:
            operations.append({"name": f"ping-auth {algorithm} token", "key": f"op-ping-auth_{algorithm}_token", "path": "/api/v1/ping/auth",
                               "method": "GET", "items": 1, "body": None, "available": False, "probe": "no access token", "credential": name})

    for key, label in (("aes", "AES-256-GCM"), ("mlkem", "ML-KEM-768")):
        enc, doc = operation(f"encrypt {label}", "/api/v1/encrypt", {"plaintext": TEXT_1K, "encoding": "utf8", "keyId": keys[key]})
        payload = doc.get("encryptedPayload") if doc else None
        if enc["available"] and not payload:
            enc["available"], enc["probe"] = False, "no encryptedPayload in the answer"
        operation(f"decrypt {label}", "/api/v1/decrypt", {"encryptedPayload": payload}, needs=enc)
    for key, label in (("mldsa", "ML-DSA-65"), ("ed25519", "Ed25519")):
        sign, doc = operation(f"sign {label}", "/api/v1/sign", {"message": TEXT_1K, "encoding": "utf8", "keyId": keys[key]})
        signature = doc.get("signature") if doc else None
        if sign["available"] and not signature:
            sign["available"], sign["probe"] = False, "no signature in the answer"
        verify, doc = operation(f"verify {label}", "/api/v1/verify",
                                {"message": TEXT_1K, "encoding": "utf8", "signature": signature, "keyId": keys[key]}, needs=sign)
        if verify["available"] and not (doc or {}).get("valid"):
            verify["available"], verify["probe"] = False, "the signature did not verify"
    operation("hmac HMAC-SHA256", "/api/v1/hmac", {"message": TEXT_1K, "encoding": "utf8", "keyId": keys["hmac"]})
    batch, doc = operation("encrypt/batch 1000 x 1 KiB AES-256-GCM", "/api/v1/encrypt/batch",
                           {"keyId": keys["aes"], "items": [{"plaintext": TEXT_1K, "encoding": "utf8"} for _ in range(BATCH_ITEMS)]},
                           items=BATCH_ITEMS)
    if batch["available"]:
        results = (doc or {}).get("results") or []
        failed = [r for r in results if "error" in r]
        if len(results) != BATCH_ITEMS or failed:
            batch["available"], batch["probe"] = False, f"{len(results)} results, {len(failed)} item errors"

    # Secrets (issue 11): a read of the current version and a write of a new version, 1 KiB values.
    status, raw = http.call("POST", "/api/v1/secrets", {"name": "bench/" + suffix, "value": TEXT_1K}, tenant_headers)
    created = parse(raw) if status == 201 else None
    if created and created.get("id"):
        operation("secret read 1 KiB", f"/api/v1/secrets/{created['id']}", None, method="GET")
        operation("secret write 1 KiB", f"/api/v1/secrets/{created['id']}", {"value": TEXT_1K}, method="PUT")
    else:
        operations.append({"name": "secret read 1 KiB", "key": "op-secret_read_1_KiB", "path": "/api/v1/secrets", "method": "GET",
                           "items": 1, "body": None, "available": False, "probe": f"create secret: HTTP {status}"})

    write(os.path.join(run_dir, "ops.json"), json.dumps({"tenant": tenant["id"], "plan": plan["id"], "keys": keys, "operations": operations}, indent=2))
    for entry in operations:
        print(f"  {entry['name']:<42} {'ok' if entry['available'] else 'not run'}: {entry['probe']}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------------------
def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def figures(run_dir, name):
    w = load(os.path.join(run_dir, f"wrk-{name}.json"))
    if not w:
        return None
    seconds = w["durationUs"] / 1e6
    errors = w["non2xx3xx"] + w["connectErrors"] + w["readErrors"] + w["writeErrors"] + w["timeouts"]
    return {
        "requests": w["requests"], "seconds": round(seconds, 2), "rps": round(w["requests"] / seconds, 1) if seconds else 0.0,
        "p50Ms": round(w["p50Us"] / 1000, 2), "p99Ms": round(w["p99Us"] / 1000, 2),
        "non2xx3xx": w["non2xx3xx"], "socketErrors": w["connectErrors"] + w["readErrors"] + w["writeErrors"] + w["timeouts"],
        "errors": errors, "valid": w["requests"] > 0 and errors == 0,
    }


def rounds(run_dir, name):
    """The figures of a reference measured in rounds (NAME-r1, NAME-r2, …): medians, errors summed; or a single run."""
    runs = []
    while (f := figures(run_dir, f"{name}-r{len(runs) + 1}")) is not None:
        runs.append(f)
    if not runs:
        return figures(run_dir, name)
    median = lambda k: round(statistics.median(r[k] for r in runs), 2)
    errors = sum(r["errors"] for r in runs)
    return {"requests": sum(r["requests"] for r in runs), "seconds": round(sum(r["seconds"] for r in runs), 2), "rps": median("rps"),
            "rpsRounds": [r["rps"] for r in runs], "p50Ms": median("p50Ms"), "p99Ms": median("p99Ms"),
            "non2xx3xx": sum(r["non2xx3xx"] for r in runs), "socketErrors": sum(r["socketErrors"] for r in runs),
            "errors": errors, "valid": errors == 0 and all(r["valid"] for r in runs)}


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def report(run_dir, results_dir):
    meta = load(os.path.join(run_dir, "meta.json"), {})
    ops = load(os.path.join(run_dir, "ops.json"), {"operations": []})
    raw_rate = load(os.path.join(run_dir, "raw-rate.json"), {})
    rss = load(os.path.join(run_dir, "rss.json"), {})
    soak = load(os.path.join(run_dir, "soak.json"))

    references = {}
    for key, label in (("nginx204", "nginx return 204 (reference nginx)"), ("bare", "bare ASP.NET Core no-op behind minimal nginx"),
                       ("ping", "GET /api/v1/ping through the gateway"), ("ping-end", "GET /api/v1/ping again, after the operations")):
        f = rounds(run_dir, key)
        if f:
            references[key] = dict(f, label=label)
    ping = references.get("ping", {}).get("rps")
    bare = references.get("bare", {}).get("rps")
    # ping ÷ bare: the median of each round's ratio (the two were measured back to back), else of the medians
    paired = [p / b for p, b in zip(references.get("ping", {}).get("rpsRounds", []), references.get("bare", {}).get("rpsRounds", [])) if b]
    ping_to_bare = round(statistics.median(paired), 3) if paired else ratio(ping, bare)

    rows = []
    for op in ops["operations"]:
        row = {"operation": op["name"], "path": op["path"], "itemsPerRequest": op["items"], "probe": op["probe"]}
        f = figures(run_dir, op["key"]) if op["available"] else None
        if not op["available"]:
            row["status"] = "not available" if "no such endpoint" in (op["probe"] or "") else "failed probe"
        elif f is None:
            row["status"] = "not measured"
        else:
            row.update(f)
            row["status"] = "ok" if f["valid"] else "errors"
            row["itemsPerSecond"] = round(f["rps"] * op["items"], 1)
            row["ratioToPing"] = ratio(f["rps"], ping)
            row["ratioToBare"] = ratio(f["rps"], bare)
            kind = op["name"].split(" ")[0]
            algorithm = op["name"].split(" ", 1)[1] if " " in op["name"] else ""
            rates = (raw_rate.get("opsPerSecond") or {}).get(f"{kind} {algorithm}")
            if rates:
                row["inProcessLibraryRate"] = rates.get("library")
                row["inProcessRawRate"] = rates.get("raw")
                row["ratioToLibrary"] = ratio(f["rps"], rates.get("library"))
                row["ratioToRaw"] = ratio(f["rps"], rates.get("raw"))
        rows.append(row)

    single = next((r for r in rows if r["operation"] == "encrypt AES-256-GCM" and r.get("status") == "ok"), None)
    for r in rows:
        if r["itemsPerRequest"] > 1 and r.get("status") == "ok" and single:
            r["ratioToSingleEncryptItems"] = ratio(r["itemsPerSecond"], single["rps"])

    document = {
        "kind": "mislata-ops-bench", "startedAt": meta.get("startedAt"), "finishedAt": meta.get("finishedAt"),
        "commit": meta.get("commit"), "machine": meta.get("machine"), "settings": meta.get("settings"),
        "references": references,
        "gatewayPingToBare": ping_to_bare,
        "gatewayPingToBareRounds": [round(x, 3) for x in paired],
        "operations": rows,
        "inProcessRates": raw_rate,
        "apiMemory": rss,
        "soak": soak,
    }

    def fmt(v, digits=0):
        if v is None:
            return "–"
        return f"{v:,.{digits}f}"

    lines = []
    lines.append(f"# Operations benchmark — {meta.get('startedAt', '?')}")
    lines.append("")
    settings = meta.get('settings', {})
    warm_pass = f"after a warm-up pass of {settings['warmupPassSeconds']} s on ping and on each operation; " if settings.get('warmupPassSeconds') else ""
    lines.append(f"Commit `{meta.get('commit', '?')}`; {meta.get('machine', '')}. wrk {settings.get('connections')} connections, "
                 f"{settings.get('wrkThreads')} threads, {warm_pass}{settings.get('warmupSeconds')} s warm-up + "
                 f"{settings.get('durationSeconds')} s per target; gateway nginx worker_processes "
                 f"{settings.get('nginxWorkerProcesses')}. Same machine for load and stack: ratios matter, not absolute numbers.")
    lines.append("")
    lines.append("## References")
    lines.append("")
    lines.append("| reference | req/s (median) | req/s per round | p50 ms | p99 ms | errors |")
    lines.append("|---|---:|---|---:|---:|---:|")
    for key, r in references.items():
        per_round = " / ".join(fmt(x) for x in r.get("rpsRounds", [r["rps"]]))
        lines.append(f"| {r['label']} | {fmt(r['rps'])} | {per_round} | {fmt(r['p50Ms'], 2)} | {fmt(r['p99Ms'], 2)} | {r['errors']} |")
    lines.append("")
    lines.append(f"Gateway ping ÷ bare no-op: **{fmt(document['gatewayPingToBare'], 2)}** (target ≥ 0.90; median of the rounds' ratios "
                 f"{' / '.join(fmt(x, 2) for x in paired) or '–'}). Operations' ratios use the medians above.")
    lines.append("")
    lines.append("## Operations (1 KiB plaintext / message)")
    lines.append("")
    lines.append("| operation | status | req/s | items/s | p50 ms | p99 ms | ÷ ping | ÷ bare | ÷ in-process library | ÷ in-process raw | non-2xx | socket errors |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r.get("status") in ("ok", "errors"):
            lines.append(f"| {r['operation']} | {r['status']} | {fmt(r['rps'])} | {fmt(r['itemsPerSecond'])} | {fmt(r['p50Ms'], 2)} | {fmt(r['p99Ms'], 2)} | "
                         f"{fmt(r.get('ratioToPing'), 2)} | {fmt(r.get('ratioToBare'), 2)} | {fmt(r.get('ratioToLibrary'), 2)} | {fmt(r.get('ratioToRaw'), 2)} | "
                         f"{r['non2xx3xx']} | {r['socketErrors']} |")
        else:
            lines.append(f"| {r['operation']} | {r['status']}: {r['probe']} | – | – | – | – | – | – | – | – | – | – |")
    batch = next((r for r in rows if r["itemsPerRequest"] > 1), None)
    if batch and batch.get("ratioToSingleEncryptItems") is not None:
        lines.append("")
        lines.append(f"encrypt/batch items/s ÷ single encrypt (AES-256-GCM) req/s: **{fmt(batch['ratioToSingleEncryptItems'], 2)}** (target ≥ 5).")
    # The performance targets, each against this run's figures (never a timed test: a report line).
    by_name = {r["operation"]: r for r in rows}

    def target(label, value, goal, ok):
        verdict = "not measured" if value is None else ("reported" if goal == "reported" else "met" if ok(value) else "not met")
        return {"target": label, "value": value, "goal": goal, "verdict": verdict}

    def measured(name, field):
        r = by_name.get(name)
        return r.get(field) if r and r.get("status") == "ok" else None

    targets = [target("gateway ping ÷ bare no-op", document["gatewayPingToBare"], "≥ 0.90", lambda v: v >= 0.9)]
    for name in ("encrypt AES-256-GCM", "decrypt AES-256-GCM"):
        targets.append(target(f"{name} ÷ ping", measured(name, "ratioToPing"), "≥ 0.50", lambda v: v >= 0.5))
        targets.append(target(f"{name} p99 ms", measured(name, "p99Ms"), "< 10", lambda v: v < 10))
    for name in ("encrypt ML-KEM-768", "decrypt ML-KEM-768"):
        targets.append(target(f"{name} ÷ ping", measured(name, "ratioToPing"), "≥ 0.30", lambda v: v >= 0.3))
    for name in ("sign ML-DSA-65", "sign Ed25519"):
        t = target(f"{name} ÷ in-process raw", measured(name, "ratioToRaw"), "≥ 0.70", lambda v: v >= 0.7)
        if t["value"] is None and not raw_rate.get("opsPerSecond"):
            # Say why: the in-process rate was skipped (--no-raw-rate) or gave nothing, not that sign failed.
            t["verdict"] = "not measured (in-process rate skipped: --no-raw-rate)" if meta.get("settings", {}).get("rawRate") is False \
                else "not measured (no in-process rate)"
        targets.append(t)
    # Issue 17: what authentication costs, per credential (reported; no goal is set).
    for name in ("ping-auth API key", "ping-auth ES256 token", "ping-auth ML-DSA-65 token"):
        targets.append(target(f"{name} ÷ ping", measured(name, "ratioToPing"), "reported", None))
    es, ml = measured("ping-auth ES256 token", "rps"), measured("ping-auth ML-DSA-65 token", "rps")
    targets.append(target("ping-auth ML-DSA-65 token ÷ ES256 token", ratio(ml, es), "reported", None))
    batch_row = next((r for r in rows if r["itemsPerRequest"] > 1), None)
    targets.append(target("encrypt/batch items/s ÷ single encrypt req/s", (batch_row or {}).get("ratioToSingleEncryptItems"), "≥ 5", lambda v: v >= 5))
    document["targets"] = targets
    lines += ["", "## Targets against this run (issue 10; authentication figures of issue 17 are reported only)", "", "| target | value | goal | verdict |", "|---|---:|---|---|"]
    lines += [f"| {t['target']} | {fmt(t['value'], 2) if t['value'] is not None else '–'} | {t['goal']} | "
              f"{'**not met**' if t['verdict'] == 'not met' else t['verdict']} |" for t in targets]
    if raw_rate.get("opsPerSecond"):
        lines.append("")
        lines.append(f"## In-process sign/verify rate ({raw_rate.get('threads')} threads, {raw_rate.get('messageBytes')}-byte message, "
                     f"{raw_rate.get('seconds')} s each, measured in this run before the HTTP load)")
        lines.append("")
        lines.append("| operation | Mislata.Crypto signer ops/s | BouncyCastle primitive ops/s |")
        lines.append("|---|---:|---:|")
        for name, rates in raw_rate["opsPerSecond"].items():
            lines.append(f"| {name} | {fmt(rates.get('library'))} | {fmt(rates.get('raw'))} |")
    if rss:
        lines.append("")
        lines.append("## api process memory")
        lines.append("")
        lines.append(f"RSS at the start of the load {fmt(rss.get('startMiB'), 1)} MiB, peak {fmt(rss.get('peakMiB'), 1)} MiB "
                     f"(kernel high-water mark VmHWM {fmt(rss.get('hwmMiB'), 1)} MiB), at the end {fmt(rss.get('endMiB'), 1)} MiB; "
                     f"{rss.get('samples', 0)} samples every {rss.get('intervalSeconds')} s.")
    if soak:
        lines.append("")
        lines.append(f"## api memory over {soak['minutes']} minutes of {soak['target']}")
        lines.append("")
        lines.append(f"{soak['requests']:,} requests ({soak['non2xx3xx']} non-2xx, {soak['socketErrors']} socket errors). RSS at the start "
                     f"{fmt(soak.get('rssStartMiB'), 1)} MiB, after 1 minute "
                     f"{fmt(soak.get('rssAfter1MinMiB'), 1)} MiB, peak {fmt(soak.get('rssPeakMiB'), 1)} MiB, at the end {fmt(soak.get('rssEndMiB'), 1)} MiB; "
                     f"growth over the second half {fmt(soak.get('secondHalfSlopeMiBPerMin'), 2)} MiB/min (least squares, samples every 10 s).")
    flagged = [r for r in list(references.values()) + [r for r in rows if r.get("status") in ("ok", "errors")] if r.get("errors")]
    if flagged:
        lines.append("")
        lines.append("**Errors were counted** (non-2xx/3xx answers or socket errors): the rows marked `errors` are not results.")
    markdown = "\n".join(lines) + "\n"

    os.makedirs(results_dir, exist_ok=True)
    stamp = meta.get("stamp") or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for base in (f"ops-{stamp}", "ops-latest"):
        write(os.path.join(results_dir, base + ".json"), json.dumps(document, indent=2) + "\n")
        write(os.path.join(results_dir, base + ".md"), markdown)
    print(markdown)
    print(f"Written: {os.path.join(results_dir, f'ops-{stamp}')}.{{json,md}} and ops-latest.{{json,md}}")


def runnable(run_dir):
    """key, path, method and body file (may be empty) of each operation to measure, one per line, tab-separated (for run-ops.sh)."""
    for op in load(os.path.join(run_dir, "ops.json"), {"operations": []})["operations"]:
        if op["available"]:
            print(f"{op['key']}\t{op['path']}\t{op.get('method', 'POST')}\t{op.get('credential') or '-'}\t{op['body'] or ''}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "runnable":
        runnable(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "setup" and len(sys.argv) == 6:
        setup(*sys.argv[2:])
    elif len(sys.argv) >= 2 and sys.argv[1] == "report" and len(sys.argv) == 4:
        report(*sys.argv[2:])
    else:
        sys.exit(__doc__)
