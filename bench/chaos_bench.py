#!/usr/bin/env python3
"""The HTTP side of bench/chaos.sh (standard library only).

  chaos_bench.py setup RUN_DIR GATEWAY CA_CERT ADMIN_ENV
      a tenant on a plan without limits, its API key (mode 600 in RUN_DIR/secret/api-key) and an AES-256-GCM key
  chaos_bench.py fault RUN_DIR GATEWAY CA_CERT NAME CLIENTS BEFORE OUTAGE AFTER PROBE FAULT_CMD RESTORE_CMD
      steady mixed traffic from CLIENTS threads for BEFORE s, then FAULT_CMD (a shell command), OUTAGE s later
      RESTORE_CMD, then AFTER s more; PROBE is host:port of the dead piece (its return is the moment it accepts a TCP
      connection again; "-" = the moment RESTORE_CMD returned). Writes RUN_DIR/fault-NAME.json.
  chaos_bench.py load RUN_DIR GATEWAY CA_CERT MIX CLIENTS SECONDS
      no fault: CLIENTS threads for SECONDS of MIX ("mix", or "creates": POST /api/v1/api-keys only, the audited
      creates of one tenant); prints one JSON line (requests, rate, p50/p90/p99 of the 2xx by kind and overall)
  chaos_bench.py limit RUN_DIR GATEWAY CA_CERT ADMIN_ENV MAX_API_KEYS
      moves the tenant to a new plan whose maxApiKeys is MAX_API_KEYS (null: no limit): creations then take the quota lock
  chaos_bench.py verify RUN_DIR GATEWAY CA_CERT
      every write acknowledged with 2xx in any fault is read back (GET by id): RUN_DIR/verify.json
  chaos_bench.py report RUN_DIR RESULTS_DIR
      the table (stdout) and RESULTS_DIR/chaos-<stamp>.{json,md}, chaos-latest.{json,md}

The mix, per client, in turn: GET /api/v1/api-keys, GET /api/v1/keys, POST /api/v1/encrypt, POST /api/v1/decrypt,
POST /api/v1/api-keys (audited write), POST /api/v1/keys (audited write). None of them needs Redis (API keys are
authenticated from the in-memory cache, the audit goes to PostgreSQL); all of them need PostgreSQL except encrypt and
decrypt with a key already cached.
"""
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_bench import Http, expect, operator_headers, parse, unlimited_tenant, write, load  # noqa: E402

PLAINTEXT = "chaos " * 40
# A fault's recovery: the first moment after the dead piece is back from which one second of traffic completes at
# least this share of the 2xx rate measured before the fault.
RECOVERED_SHARE = 0.75
REQUEST_TIMEOUT = 30
MIX = ("list-api-keys", "list-keys", "encrypt", "decrypt", "create-api-key", "create-key")


def setup(run_dir, gateway, ca_cert, admin_env):
    http_ = Http(gateway, ca_cert)
    tenant, _plan, api_key = unlimited_tenant(http_, admin_env, "chaos", ["keys:read", "keys:write", "encryption:write", "apikeys:read", "apikeys:write"])
    os.makedirs(os.path.join(run_dir, "secret"), mode=0o700, exist_ok=True)
    write(os.path.join(run_dir, "secret", "api-key"), api_key, 0o600)
    headers = {"X-Api-Key": api_key}
    status, raw = http_.call("POST", "/api/v1/keys", {"name": "chaos-aes", "algorithm": "AES-256-GCM", "type": "symmetric"}, headers)
    key_id = expect(status, raw, {201}, "create key")["id"]
    status, raw = http_.call("POST", "/api/v1/encrypt", {"plaintext": PLAINTEXT, "encoding": "utf8", "keyId": key_id}, headers)
    payload = expect(status, raw, {200}, "encrypt")["encryptedPayload"]
    write(os.path.join(run_dir, "setup.json"), json.dumps({"tenant": tenant["id"], "keyId": key_id, "payload": payload}))


class Client(threading.Thread):
    """One client: a kept-alive TLS connection to the gateway (a new one after any error), the mix in turn."""

    def __init__(self, index, host, port, context, api_key, setup_doc, records, stop, key_pacer, mix=MIX):
        super().__init__(daemon=True)
        self.mix = mix
        self.index, self.host, self.port, self.context = index, host, port, context
        self.headers = {"X-Api-Key": api_key, "Content-Type": "application/json"}
        self.setup, self.records, self.stop = setup_doc, records, stop
        self.connection = None
        self.step = index
        self.key_pacer = key_pacer

    def request(self, method, path, body):
        reused = self.connection is not None
        status, raw, retry_after, closed_early = self.attempt(method, path, body)
        if closed_early and reused:
            # The kept-alive connection was closed by the gateway (a reload or an idle timeout) before any byte of an
            # answer: the request was not processed; sent again once on a new connection, as HTTP clients do
            # (.NET's SocketsHttpHandler, browsers).
            status, raw, retry_after, _ = self.attempt(method, path, body)
        return status, raw, retry_after

    def attempt(self, method, path, body):
        if self.connection is None:
            self.connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=REQUEST_TIMEOUT)
        data = json.dumps(body).encode() if body is not None else None
        try:
            self.connection.request(method, path, body=data, headers=self.headers)
            response = self.connection.getresponse()
            raw = response.read()
            if response.getheader("Connection", "").lower() == "close":
                self.connection.close()
                self.connection = None
            return response.status, raw, response.getheader("Retry-After"), False
        except (OSError, http.client.HTTPException) as error:
            if self.connection is not None:
                self.connection.close()
            self.connection = None
            closed_early = isinstance(error, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError))
            return 0, json.dumps({"error": type(error).__name__}).encode(), None, closed_early

    def run(self):
        suffix = uuid.uuid4().hex[:6]
        n = 0
        while not self.stop.is_set():
            kind = self.mix[self.step % len(self.mix)]
            if kind == "create-key" and not self.key_pacer.take():
                kind = "create-api-key"
            self.step += 1
            n += 1
            if kind == "list-api-keys":
                method, path, body = "GET", "/api/v1/api-keys?limit=5", None
            elif kind == "list-keys":
                method, path, body = "GET", "/api/v1/keys?limit=5", None
            elif kind == "encrypt":
                method, path, body = "POST", "/api/v1/encrypt", {"plaintext": PLAINTEXT, "encoding": "utf8", "keyId": self.setup["keyId"]}
            elif kind == "decrypt":
                method, path, body = "POST", "/api/v1/decrypt", {"encryptedPayload": self.setup["payload"]}
            elif kind == "create-api-key":
                method, path, body = "POST", "/api/v1/api-keys", {"name": f"c{self.index}-{suffix}-{n}", "scopes": ["keys:read"]}
            else:
                method, path, body = "POST", "/api/v1/keys", {"name": f"c{self.index}-{suffix}-{n}", "algorithm": "AES-256-GCM", "type": "symmetric"}
            started = time.monotonic()
            status, raw, retry_after = self.request(method, path, body)
            ended = time.monotonic()
            record = [kind, round(started, 4), round(ended, 4), status]
            if kind.startswith("create") and 200 <= status < 300:
                doc = parse(raw) or {}
                record.append(doc.get("id"))
            elif status >= 400 or status == 0:
                doc = parse(raw)
                record.append({"error": doc.get("error") if isinstance(doc, dict) else None, "retryAfter": retry_after})
            self.records.append(record)
            if status == 0 or status == 503:
                # what a well-behaved client does: a short pause before the next attempt (not counted as a stall:
                # the stall is measured on completions)
                self.stop.wait(0.05)


class Pacer:
    """At most one key created per interval across the clients: the Community licence allows 250 keys per
    installation, so each fault gets its share (CHAOS_KEYS_PER_FAULT); the other audited writes are API keys."""

    def __init__(self, interval):
        self.interval, self.next, self.lock = interval, 0.0, threading.Lock()

    def take(self):
        with self.lock:
            now = time.monotonic()
            if now < self.next:
                return False
            self.next = now + self.interval
            return True


def wait_port(probe, deadline):
    if probe == "-":
        return None
    if probe.startswith("cmd:"):
        # a readiness command (pg_isready): PostgreSQL accepts connections before its crash recovery is over
        while time.monotonic() < deadline:
            if subprocess.run(["bash", "-c", probe[4:]], capture_output=True).returncode == 0:
                return time.monotonic()
            time.sleep(0.05)
        return None
    host, port = probe.rsplit(":", 1)
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                return time.monotonic()
        except OSError:
            time.sleep(0.05)
    return None


def fault(run_dir, gateway, ca_cert, name, clients, before, outage, after, probe, fault_cmd, restore_cmd):
    clients, before, outage, after = int(clients), float(before), float(outage), float(after)
    setup_doc, api_key, context, host, port = connect(run_dir, gateway, ca_cert)
    records, stop = [], threading.Event()
    pacer = Pacer((before + outage + after + 10) / max(1, int(os.environ.get("CHAOS_KEYS_PER_FAULT", "30"))))
    threads = [Client(i, host, port, context, api_key, setup_doc, records, stop, pacer) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(before)
    fault_at = time.monotonic()
    faulted = subprocess.run(["bash", "-c", fault_cmd], capture_output=True, text=True)
    time.sleep(outage)
    restore_at = time.monotonic()
    restore_log = os.path.join(run_dir, f"restore-{name}.log")
    with open(restore_log, "w") as log:
        restorer = subprocess.Popen(["bash", "-c", restore_cmd], stdout=log, stderr=subprocess.STDOUT)
        back_at = wait_port(probe, restore_at + 600)
        restored_rc = restorer.wait()
    restored_at = time.monotonic()
    if back_at is None:
        back_at = restored_at
    time.sleep(after)
    stop.set()
    for t in threads:
        t.join(REQUEST_TIMEOUT + 5)
    end = time.monotonic()
    doc = {"name": name, "clients": clients, "t0": t0, "faultAt": fault_at, "restoreAt": restore_at, "backAt": back_at,
           "restoredAt": restored_at, "end": end, "faultCommand": fault_cmd, "faultRc": faulted.returncode,
           "faultOutput": (faulted.stdout + faulted.stderr)[-2000:], "restoreRc": restored_rc, "records": list(records)}
    write(os.path.join(run_dir, f"fault-{name}.json"), json.dumps(doc))
    summary = summarize(doc)
    print(json.dumps({k: v for k, v in summary.items() if k != "perSecond"}))
    if faulted.returncode != 0:
        print(f"chaos: the fault command of {name} failed: {doc['faultOutput']}", file=sys.stderr)
    if restored_rc != 0:
        print(f"chaos: the restore of {name} failed (log: {restore_log})", file=sys.stderr)


def connect(run_dir, gateway, ca_cert):
    setup_doc = load(os.path.join(run_dir, "setup.json"))
    with open(os.path.join(run_dir, "secret", "api-key")) as f:
        api_key = f.read().strip()
    context = ssl.create_default_context(cafile=ca_cert)
    context.check_hostname = False
    host, port = gateway.split("://", 1)[1].rstrip("/").rsplit(":", 1)
    return setup_doc, api_key, context, host, int(port)


def steady_load(run_dir, gateway, ca_cert, mix, clients, seconds):
    """No fault: the latency of MIX under CLIENTS concurrent clients (the creates' own critical sections show here)."""
    clients, seconds = int(clients), float(seconds)
    setup_doc, api_key, context, host, port = connect(run_dir, gateway, ca_cert)
    records, stop = [], threading.Event()
    kinds = MIX if mix == "mix" else ("create-api-key",)
    pacer = Pacer((seconds + 10) / max(1, int(os.environ.get("CHAOS_KEYS_PER_FAULT", "30"))))
    threads = [Client(i, host, port, context, api_key, setup_doc, records, stop, pacer, kinds) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(1)
    measured_from = time.monotonic()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(REQUEST_TIMEOUT + 5)
    ok = [r for r in records if 200 <= r[3] < 300 and r[1] >= measured_from]
    ms = lambda rs, p: round(1000 * percentile([r[2] - r[1] for r in rs], p), 1) if rs else None  # noqa: E731
    by_kind = {k: {"n": len(rs), "p50": ms(rs, 50), "p90": ms(rs, 90), "p99": ms(rs, 99)}
               for k in sorted({r[0] for r in ok}) for rs in [[r for r in ok if r[0] == k]]}
    print(json.dumps({"mix": mix, "clients": clients, "seconds": seconds, "ok": len(ok),
                      "notOk": len([r for r in records if not 200 <= r[3] < 300]), "ratePerS": round(len(ok) / seconds, 1),
                      "p50": ms(ok, 50), "p90": ms(ok, 90), "p99": ms(ok, 99), "byKind": by_kind, "load": os.getloadavg()}))


def limit(run_dir, gateway, ca_cert, admin_env, max_api_keys):
    http_ = Http(gateway, ca_cert)
    operator = operator_headers(http_, admin_env)
    code = "chaoslimit" + uuid.uuid4().hex[:8]
    status, raw = http_.call("POST", "/api/v1/admin/plans", {"code": code, "name": f"chaos, maxApiKeys {max_api_keys}",
                                                           "maxApiKeys": None if max_api_keys == "null" else int(max_api_keys)}, operator)
    plan = expect(status, raw, {201}, "create plan")
    tenant = load(os.path.join(run_dir, "setup.json"))["tenant"]
    status, raw = http_.call("PATCH", f"/api/v1/admin/tenants/{tenant}", {"planId": plan["id"]}, operator)
    expect(status, raw, {200}, "change the tenant's plan")


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


ALL = {"list-api-keys", "list-keys", "create-api-key", "create-key", "encrypt", "decrypt"}
NEEDS = {
    # the requests of the mix that need the dead piece (the others must keep working)
    "postgres": ALL,
    "gateway-restart": ALL,
}


def summarize(doc):
    records = doc["records"]
    t0, fault_at, back_at, end = doc["t0"], doc["faultAt"], doc["backAt"], doc["end"]
    counts = {"2xx": 0, "4xx": 0, "503": 0, "500": 0, "other5xx": 0, "noAnswer": 0}
    for r in records:
        s = r[3]
        key = "2xx" if 200 <= s < 300 else "4xx" if 400 <= s < 500 else "503" if s == 503 else "500" if s == 500 \
            else "other5xx" if s >= 500 else "noAnswer"
        counts[key] += 1
    per_second = {}
    for r in records:
        second = int(r[2] - t0)
        bucket = per_second.setdefault(second, {})
        bucket[str(r[3])] = bucket.get(str(r[3]), 0) + 1
    # longest stall: the longest time without any completed request, from the fault to the end
    ends = sorted([fault_at] + [r[2] for r in records if r[2] >= fault_at] + [end])
    stall = max((b - a for a, b in zip(ends, ends[1:])), default=0.0)
    # the rate before the fault: 2xx completions per second over the last seconds before it (the first second of
    # the run, a warm-up, is left out)
    ok_before = [r for r in records if 200 <= r[3] < 300 and t0 + 1 <= r[2] < fault_at]
    rate_before = len(ok_before) / max(0.001, fault_at - t0 - 1)
    ok_ends = sorted(r[2] for r in records if 200 <= r[3] < 300 and r[2] >= back_at)
    # the settled rate: the second half of the time after the piece is back (on a shared machine the rate may move
    # for reasons of its own; the recovery is judged against the lower of the two)
    settled_from = back_at + (end - back_at) / 2
    rate_after = len([t for t in ok_ends if t >= settled_from]) / max(0.001, end - settled_from)
    target = RECOVERED_SHARE * min(rate_before, rate_after)
    recovered = None
    j = 0
    for i, t in enumerate(ok_ends):
        while j < len(ok_ends) and ok_ends[j] < t + 1.0:
            j += 1
        if j - i >= target and t + 1.0 <= end:
            recovered = round(max(0.0, t - back_at), 2)
            break
    needs = NEEDS.get(doc["name"], set())
    during = [r for r in records if fault_at <= r[1] and r[2] <= back_at]
    independent = [r for r in during if r[0] not in needs]
    ok_independent = [r for r in independent if 200 <= r[3] < 300]
    return {
        "fault": doc["name"], "durationS": round(back_at - fault_at, 1), "requests": len(records), **counts,
        "longestStallS": round(stall, 2),
        "outageRequests": len(during),
        "independentRequests": len(independent),
        "independentSuccessPct": round(100 * len(ok_independent) / len(independent), 1) if independent else None,
        "independentP99Ms": round(1000 * percentile([r[2] - r[1] for r in ok_independent], 99), 1) if ok_independent else None,
        "rateBefore": round(rate_before, 1),
        "rateAfter": round(rate_after, 1),
        "p99BeforeMs": round(1000 * percentile([r[2] - r[1] for r in ok_before], 99), 1) if ok_before else None,
        "recoveryS": recovered,
        "faultRc": doc["faultRc"], "restoreRc": doc["restoreRc"],
        "problems500": [r[4] for r in records if r[3] == 500 and len(r) > 4][:5],
        "noAnswerErrors": sorted({str(r[4].get("error")) for r in records if r[3] == 0 and len(r) > 4 and isinstance(r[4], dict)}),
        "errors4xx": sorted({f"{r[3]} {r[4].get('error')}" for r in records if 400 <= r[3] < 500 and len(r) > 4 and isinstance(r[4], dict)}),
        "p99ByKindMs": p99_by_kind(ok_before, ok_independent),
        "perSecond": per_second,
    }


def p99_by_kind(before, during):
    """Per request kind, the p99 of the 2xx before the fault and during the outage: a request that waits on the dead
    piece shows as its kind's p99 growing, which the mix's p99 (dominated by the slowest kind) hides."""
    kinds = sorted({r[0] for r in before} | {r[0] for r in during})
    p99 = lambda rs: round(1000 * percentile([r[2] - r[1] for r in rs], 99), 1) if rs else None  # noqa: E731
    return {k: {"before": p99([r for r in before if r[0] == k]), "during": p99([r for r in during if r[0] == k])} for k in kinds}


def verify(run_dir, gateway, ca_cert):
    with open(os.path.join(run_dir, "secret", "api-key")) as f:
        headers = {"X-Api-Key": f.read().strip()}
    http_ = Http(gateway, ca_cert)
    acknowledged, missing, answers = 0, [], {}
    for file in sorted(os.listdir(run_dir)):
        if not (file.startswith("fault-") and file.endswith(".json")):
            continue
        doc = load(os.path.join(run_dir, file))
        for r in doc["records"]:
            if not (r[0].startswith("create") and 200 <= r[3] < 300):
                continue
            acknowledged += 1
            path = ("/api/v1/api-keys/" if r[0] == "create-api-key" else "/api/v1/keys/") + str(r[4])
            status = 0
            for _ in range(5):
                status, _raw = http_.call("GET", path, None, headers)
                if status != 503:
                    break
                time.sleep(1)
            answers[str(status)] = answers.get(str(status), 0) + 1
            if status != 200:
                missing.append({"fault": doc["name"], "kind": r[0], "id": r[4], "status": status})
    result = {"acknowledged": acknowledged, "lost": len(missing), "answers": answers, "missing": missing[:50]}
    write(os.path.join(run_dir, "verify.json"), json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "missing"}))


def report(run_dir, results_dir):
    meta = load(os.path.join(run_dir, "meta.json"), {})
    verified = load(os.path.join(run_dir, "verify.json"), {})
    lost_by_fault = {}
    for m in verified.get("missing", []):
        lost_by_fault[m["fault"]] = lost_by_fault.get(m["fault"], 0) + 1
    rows = []
    for file in sorted(os.listdir(run_dir), key=lambda f: os.path.getmtime(os.path.join(run_dir, f))):
        if file.startswith("fault-") and file.endswith(".json"):
            s = summarize(load(os.path.join(run_dir, file)))
            s["lostWrites"] = lost_by_fault.get(s["fault"], 0) if verified else None
            rows.append(s)
    stamp = meta.get("stamp", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    fmt = lambda v, unit="": "—" if v is None else f"{v}{unit}"
    lines = [
        f"# Chaos run {stamp}", "",
        f"{meta.get('machine', '')}; commit {meta.get('commit', '?')}; settings {json.dumps(meta.get('settings', {}))}", "",
        "Steady mixed traffic through the gateway (per client in turn: GET /api/v1/api-keys, GET /api/v1/keys, encrypt,",
        "decrypt, POST /api/v1/api-keys, POST /api/v1/keys); each fault is a SIGKILL (or a gateway reload/restart), then",
        "`./run.sh start` brings the piece back. Duration: from the fault to the piece answering again (PostgreSQL:",
        "pg_isready, after its crash recovery; the others: accepting connections).",
        "Longest stall: the longest time without any completed request. Outage ok % and p99: the requests sent and",
        "answered during the outage that do not need the dead piece (— when all of the mix needs it). Recovery: from",
        f"the piece being back to the first second with at least {int(RECOVERED_SHARE * 100)} % of the 2xx rate before the fault",
        "(or of the settled rate afterwards, when that is lower: the machine is shared). p99 before: the 2xx before the fault.",
        "Lost writes: writes acknowledged 2xx that a GET by id does not find afterwards.", "",
        "| fault | duration s | requests | 2xx | 4xx | 503 | 500 | no answer | longest stall s | outage ok % | outage p99 ms | p99 before ms | rate before / after /s | recovery s | lost writes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in rows:
        lines.append(f"| {s['fault']} | {s['durationS']} | {s['requests']} | {s['2xx']} | {s['4xx']} | {s['503']} | {s['500'] + s['other5xx']} | "
                     f"{s['noAnswer']} | {s['longestStallS']} | {fmt(s['independentSuccessPct'])} | {fmt(s['independentP99Ms'])} | "
                     f"{fmt(s['p99BeforeMs'])} | {s['rateBefore']} / {s['rateAfter']} | {fmt(s['recoveryS'])} | {fmt(s['lostWrites'])} |")
    lines += ["", f"Acknowledged writes read back: {verified.get('acknowledged', '—')}, lost: {verified.get('lost', '—')}.", ""]
    for s in rows:
        if s["independentSuccessPct"] is not None and s.get("p99ByKindMs"):
            kinds = ", ".join(f"{k} {fmt(v['before'])} → {fmt(v['during'])}" for k, v in s["p99ByKindMs"].items() if v["during"] is not None)
            lines.append(f"- {s['fault']}: p99 ms before → during the outage, by request: {kinds}")
    lines.append("")
    for s in rows:
        if s["problems500"] or s["faultRc"] or s["restoreRc"] or s["errors4xx"] or s["noAnswerErrors"]:
            lines.append(f"- {s['fault']}: fault rc {s['faultRc']}, restore rc {s['restoreRc']}, 500 problems {s['problems500']}, "
                         f"4xx {s['errors4xx']}, no answer {s['noAnswerErrors']}")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(results_dir, exist_ok=True)
    data = json.dumps({"meta": meta, "verify": {k: v for k, v in verified.items()}, "faults": rows}, indent=1)
    for name in (f"chaos-{stamp}", "chaos-latest"):
        write(os.path.join(results_dir, name + ".md"), text)
        write(os.path.join(results_dir, name + ".json"), data)
    bad = sum(s["500"] + s["other5xx"] + (1 if s["faultRc"] or s["restoreRc"] else 0) for s in rows) + (verified.get("lost") or 0)
    return 1 if bad or not verified else 0


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "setup":
        setup(*args)
    elif command == "fault":
        fault(*args)
    elif command == "load":
        steady_load(*args)
    elif command == "limit":
        limit(*args)
    elif command == "verify":
        verify(*args)
    elif command == "report":
        sys.exit(report(*args))
    else:
        sys.exit(__doc__)
