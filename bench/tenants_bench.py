#!/usr/bin/env python3
"""The HTTP side of bench/run-tenants.sh (standard library only).

  tenants_bench.py setup RUN_DIR GATEWAY CA_CERT ADMIN_ENV TENANTS KEYS LICENSE_FILE
      installs the licence (PUT /admin/license); a plan without limits; TENANTS tenants on it, each with an API key and KEYS AES-256-GCM keys; writes
      RUN_DIR/secret/pairs.tsv ("<API key>\\t<key id>" for every key, mode 600), RUN_DIR/secret/one.tsv (the first
      tenant's first key: the one-tenant reference) and RUN_DIR/bodies/one.json (its request body)
  tenants_bench.py warm RUN_DIR GATEWAY CA_CERT
      one encrypt with every key, so that every key's material, tenant and API key are in the api's memory
  tenants_bench.py report RUN_DIR RESULTS_DIR
      the table (stdout) and results/tenants-<time>.{json,md}
"""
import concurrent.futures
import json
import os
import statistics
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_bench import Http, TEXT_1K, expect, load, read_env, write  # noqa: E402

THREADS = 8


def setup(run_dir, gateway, ca_cert, admin_env, tenants, keys, license_file):
    tenants, keys = int(tenants), int(keys)
    env = read_env(admin_env)
    local = threading.local()

    def http():
        if not hasattr(local, "http"):
            local.http = Http(gateway, ca_cert)
        return local.http

    def operator_headers():
        status, raw = http().call("POST", "/connect/token", form={
            "grant_type": "client_credentials", "client_id": env["QAPI_BOOTSTRAP_CLIENT_ID"], "client_secret": env["QAPI_BOOTSTRAP_CLIENT_SECRET"]})
        return {"Authorization": "Bearer " + expect(status, raw, {200}, "operator token")["access_token"]}

    operator = operator_headers()
    token_at = time.monotonic()
    token_lock = threading.Lock()

    def current_operator():
        nonlocal operator, token_at
        with token_lock:
            if time.monotonic() - token_at > 600:
                operator, token_at = operator_headers(), time.monotonic()
            return operator

    status, raw = http().call("PUT", "/api/v1/admin/license", {"license": open(license_file).read()}, operator)
    installed = expect(status, raw, {200}, "install the licence")
    print(f"  licence: {installed.get('state')}, limits {installed.get('limits')}", file=sys.stderr)

    suffix = uuid.uuid4().hex[:8]
    status, raw = http().call("POST", "/api/v1/admin/plans", {"code": "benchmt" + suffix, "name": "Benchmark, many tenants (no limits)"}, operator)
    plan = expect(status, raw, {201}, "create plan")

    def one_tenant(i):
        status, raw = http().call("POST", "/api/v1/admin/tenants", {"name": f"bench-{suffix}-{i:05d}", "planId": plan["id"]}, current_operator())
        tenant = expect(status, raw, {201}, f"create tenant {i}")
        status, raw = http().call("POST", f"/api/v1/admin/tenants/{tenant['id']}/api-keys", {
            "name": "bench", "scopes": ["keys:read", "keys:write", "encryption:write"], "rateLimitPerMinute": 1_000_000}, current_operator())
        api_key = expect(status, raw, {201}, f"create API key {i}")["key"]
        ids = []
        for k in range(keys):
            status, raw = http().call("POST", "/api/v1/keys", {"name": f"bench-{k}", "algorithm": "AES-256-GCM"}, {"X-Api-Key": api_key})
            ids.append(expect(status, raw, {201}, f"create key {k} of tenant {i}")["id"])
        return api_key, ids

    os.makedirs(os.path.join(run_dir, "secret"), mode=0o700, exist_ok=True)
    os.makedirs(os.path.join(run_dir, "bodies"), exist_ok=True)
    started = time.monotonic()
    done = 0
    lines = []
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        for api_key, ids in pool.map(one_tenant, range(tenants)):
            lines.extend(f"{api_key}\t{key_id}" for key_id in ids)
            done += 1
            if done % 500 == 0:
                print(f"  {done} tenants ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    write(os.path.join(run_dir, "secret", "pairs.tsv"), "\n".join(lines) + "\n", 0o600)
    write(os.path.join(run_dir, "secret", "one.tsv"), lines[0] + "\n", 0o600)
    one_key, one_id = lines[0].split("\t")
    write(os.path.join(run_dir, "secret", "one-api-key"), one_key, 0o600)
    write(os.path.join(run_dir, "bodies", "one.json"), json.dumps({"keyId": one_id, "encoding": "utf8", "plaintext": TEXT_1K}, separators=(",", ":")))
    write(os.path.join(run_dir, "setup.json"), json.dumps({"tenants": tenants, "keysPerTenant": keys, "keys": len(lines),
                                                           "setupSeconds": round(time.monotonic() - started, 1)}))


def warm(run_dir, gateway, ca_cert):
    local = threading.local()
    pairs = [line.split("\t") for line in open(os.path.join(run_dir, "secret", "pairs.tsv")).read().split("\n") if line]

    def encrypt(pair):
        if not hasattr(local, "http"):
            local.http = Http(gateway, ca_cert)
        status, raw = local.http.call("POST", "/api/v1/encrypt", {"keyId": pair[1], "plaintext": "warm"}, {"X-Api-Key": pair[0]})
        return status

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(encrypt, pairs))
    failed = sum(1 for s in statuses if s != 200)
    write(os.path.join(run_dir, "warm.json"), json.dumps({"calls": len(statuses), "failed": failed, "seconds": round(time.monotonic() - started, 1)}))
    if failed:
        sys.exit(f"bench warm-up: {failed} of {len(statuses)} encrypt calls failed")


def report(run_dir, results_dir):
    from ops_bench import figures
    meta = load(os.path.join(run_dir, "meta.json"), {})
    setup_info = load(os.path.join(run_dir, "setup.json"), {})
    warm_info = load(os.path.join(run_dir, "warm.json"), {})
    rss = load(os.path.join(run_dir, "rss.json"), {})
    rows = {}
    for name in ("one", "many"):
        runs = []
        while (f := figures(run_dir, f"{name}-r{len(runs) + 1}")) is not None:
            runs.append(f)
        if runs:
            rows[name] = {"rps": statistics.median(r["rps"] for r in runs), "rpsRounds": [r["rps"] for r in runs],
                          "p50Ms": round(statistics.median(r["p50Ms"] for r in runs), 2), "p99Ms": round(statistics.median(r["p99Ms"] for r in runs), 2),
                          "errors": sum(r["errors"] for r in runs)}
    ratio = round(rows["many"]["rps"] / rows["one"]["rps"], 3) if rows.get("one") and rows.get("many") and rows["one"]["rps"] else None
    result = {"meta": meta, "setup": setup_info, "warm": warm_info, "rows": rows, "manyOverOne": ratio, "apiMemory": rss,
              "target": "throughput with 10,000 tenants × 10 keys (warm) within 10 % of one tenant (ratio ≥ 0.90)"}
    stamp = meta.get("stamp", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    os.makedirs(results_dir, exist_ok=True)
    write(os.path.join(results_dir, f"tenants-{stamp}.json"), json.dumps(result, indent=2))
    lines = [f"# Many tenants — {meta.get('startedAt', '')}", "",
             f"Commit `{meta.get('commit', '?')}`; {meta.get('machine', '')}. wrk {meta.get('settings', {}).get('connections')} connections, "
             f"interleaved rounds. {setup_info.get('tenants')} tenants × {setup_info.get('keysPerTenant')} AES-256-GCM keys = "
             f"{setup_info.get('keys')} keys, each with its tenant's own API key; set up in {setup_info.get('setupSeconds')} s, "
             f"warmed with one encrypt per key ({warm_info.get('seconds')} s, {warm_info.get('failed')} failed).", "",
             "| encrypt 1 KiB AES-256-GCM | req/s (median) | rounds | p50 ms | p99 ms | errors |", "|---|---:|---|---:|---:|---:|"]
    labels = {"one": "one tenant, one key", "many": "a random key of any tenant, per request"}
    for name, row in rows.items():
        lines.append(f"| {labels[name]} | {row['rps']:,.0f} | {' / '.join(f'{r:,.0f}' for r in row['rpsRounds'])} | {row['p50Ms']} | {row['p99Ms']} | {row['errors']} |")
    verdict = "met" if ratio is not None and ratio >= 0.9 else "**not met**"
    lines += ["", f"Many ÷ one: **{ratio}** (target ≥ 0.90: {verdict}).", "",
              f"api RSS: start {rss.get('startMiB')} MiB, peak {rss.get('peakMiB')} MiB (VmHWM {rss.get('hwmMiB')}), end {rss.get('endMiB')} MiB."]
    text = "\n".join(lines) + "\n"
    write(os.path.join(results_dir, f"tenants-{stamp}.md"), text)
    print(text)


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "setup":
        setup(*sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "warm":
        warm(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        report(*sys.argv[2:])
    else:
        sys.exit(__doc__)
