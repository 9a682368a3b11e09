"""Faults: providers that fail in every way, Redis gone and back, PostgreSQL restarted under load
(the suite's own server reached by URL, and the one `gureum serve` embeds), and the server killed
with SIGKILL under load and started again.

What must hold: a failing provider gives a clear OpenAI-shaped error (or a fallback's answer)
within a bound, never a hang or a 500; during an outage requests get 503s with `retry-after`, not
hangs; afterwards every answered request has exactly one ledger row and one audit event, the chain
verifies, no upload left duplicate documents or chunks without a document, and a tight budget was
never overspent.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from gureum.prove.checks import Results, openai_error
from gureum.prove.harness import FAULT_MODES, Server, embedded_url, free_port, gureum_config, pg_ctl
from gureum.prove.system import System

# Each deployment times out after 2 s and is retried once: an answer, or an error, within this.
PROVIDER_BOUND_S = 8.0
# The recorder retries a lost store for about 7 s before it refuses; a request never waits longer.
OUTAGE_BOUND_S = 15.0
TIGHT_BUDGET = 0.0005  # currency units: about 30 chat requests of the load mix
OUTAGE_STATUSES = {"200", "503"}

CHECKS = (
    *(f"faults.provider.{m}" for m in FAULT_MODES),
    *(f"faults.provider.{m}.stream" for m in FAULT_MODES),
    "faults.provider.fallback",
    "faults.provider.accounted",
    "faults.provider.budget_equals_ledger",
    "faults.redis.clear_503",
    "faults.redis.recovers",
    "faults.redis.exactly_once",
    "faults.postgres_external.bounded",
    "faults.postgres_external.recovers",
    "faults.postgres_external.exactly_once",
    "faults.postgres_embedded.bounded",
    "faults.postgres_embedded.recovers",
    "faults.postgres_embedded.exactly_once",
    "faults.sigkill.restarts",
    "faults.sigkill.exactly_once",
    "faults.sigkill.ingest_consistent",
    "faults.sigkill.budget_never_overspent",
    "faults.budget.never_overspent",
    "faults.budget.equals_ledger",
    "faults.audit.verifies",
)



def _stream(system: System, key: str, model: str, rid: str) -> tuple[int, bool, str]:
    """(status, ended cleanly, what ended it): a stream must end with [DONE] or an error event."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hello"}]}
    with httpx.stream("POST", f"{system.url}/v1/chat/completions", json=body, timeout=30,
                      headers={"authorization": f"Bearer {key}", "x-request-id": rid}) as r:
        if r.status_code != 200:
            r.read()
            return r.status_code, openai_error(r), r.text[:200]
        last = ""
        for line in r.iter_lines():
            if line.startswith("data: "):
                last = line[6:]
        clean = last == "[DONE]" or last.startswith('{"error"')
        return 200, clean, last[:200]


def providers(system: System, res: Results) -> None:
    key = system.key("faults-provider", "faults", user="fp")
    ids: list[str] = []
    for mode in FAULT_MODES:
        rid = f"fp-{mode}"
        ids.append(rid)
        t0 = time.monotonic()
        r = system.call("POST", "/v1/chat/completions", key, headers={"x-request-id": rid},
                        json={"model": f"fault-{mode}", "messages": [{"role": "user", "content": "hello"}]})
        took = time.monotonic() - t0
        ok = r.status_code in (429, 502, 503, 504) and openai_error(r) and took <= PROVIDER_BOUND_S
        if r.status_code == 429:
            ok = ok and "retry-after" in r.headers
        res.check(f"faults.provider.{mode}", ok, f"{r.status_code} in {took:.1f} s: {r.text[:160]}")
        rid = f"fp-{mode}-stream"
        ids.append(rid)
        t0 = time.monotonic()
        status, clean, end = _stream(system, key, f"fault-{mode}", rid)
        took = time.monotonic() - t0
        res.check(f"faults.provider.{mode}.stream", clean and status != 500 and took <= PROVIDER_BOUND_S,
                  f"{status} in {took:.1f} s, ended with {end!r}")
    r = system.call("POST", "/v1/chat/completions", key, headers={"x-request-id": "fp-fallback"},
                    json={"model": "resilient", "messages": [{"role": "user", "content": "hello"}]})
    ids.append("fp-fallback")
    res.check("faults.provider.fallback", r.status_code == 200 and r.headers.get("x-gureum-deployment", "").startswith("chat"),
              f"{r.status_code} via {r.headers.get('x-gureum-deployment')}")
    once = system.exactly_once("fp", ids)
    bad = {t: (len(o["missing"]), len(o["duplicated"])) for t, o in once.items() if o["missing"] or o["duplicated"]}
    res.check("faults.provider.accounted", not bad, f"(missing, duplicated) per table: {bad or 'none'}")


def _under_load(system: System, prefix: str, keys: list[str], seconds: float,
                fault: Any, restore: Any) -> dict[str, Any]:
    proc = system.load(prefix=prefix, seconds=seconds, concurrency=4, keys=keys, timeout=30)
    time.sleep(seconds / 3)
    fault()
    time.sleep(seconds / 3)
    restore()
    return system.load_result(prefix, proc, wait=seconds + 120)


def _after(system: System, res: Results, name: str, prefix: str, out: dict[str, Any]) -> None:
    once = system.exactly_once(prefix, out["answered"])
    bad = {t: (len(o["missing"]), len(o["duplicated"])) for t, o in once.items() if o["missing"] or o["duplicated"]}
    for t, o in once.items():
        res.lost.extend(f"{t}:{r}" for r in o["missing"])
    res.check(f"faults.{name}.exactly_once", not bad,
              f"{len(out['answered'])} answered; (missing, duplicated) per table: {bad or 'none'}")


def _recovers(system: System, key: str) -> tuple[bool, str]:
    deadline = time.monotonic() + 20
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            r = system.call("POST", "/v1/chat/completions", key, timeout=20,
                            json={"model": "chat", "messages": [{"role": "user", "content": "still there?"}]})
            if r.status_code == 200:
                return True, "200"
            last = str(r.status_code)
        except httpx.HTTPError as exc:  # still down: ask again until the deadline
            last = f"{type(exc).__name__}"
        time.sleep(0.5)
    return False, last


def redis_outage(system: System, res: Results, seconds: float) -> None:
    keys = [system.key(f"faults-redis-{i}", "faults", user=f"r{i}") and f"faults-redis-{i}" for i in range(2)]
    out = _under_load(system, "redis", keys, seconds, system.redis.kill, system.redis.start)
    statuses = set(out["statuses"])
    res.check("faults.redis.clear_503", statuses <= OUTAGE_STATUSES and not out["unknown"]
              and out["max_ms"] <= OUTAGE_BOUND_S * 1000,
              f"statuses {out['statuses']}, slowest {out['max_ms']} ms, {len(out['unknown'])} unseen")
    ok, detail = _recovers(system, system.keys[keys[0]])
    res.check("faults.redis.recovers", ok, detail)
    _after(system, res, "redis", "redis", out)


def postgres_restart(system: System, res: Results, seconds: float, name: str, restart: Any) -> None:
    keys = [system.key(f"{name}-{i}", "faults", user=f"{name}{i}") and f"{name}-{i}" for i in range(2)]
    out = _under_load(system, name.replace("_", ""), keys, seconds, restart, lambda: None)
    statuses = set(out["statuses"])
    res.check(f"faults.{name}.bounded", statuses <= OUTAGE_STATUSES and not out["unknown"]
              and out["max_ms"] <= OUTAGE_BOUND_S * 1000,
              f"statuses {out['statuses']}, slowest {out['max_ms']} ms, {len(out['unknown'])} unseen")
    ok, detail = _recovers(system, system.keys[keys[0]])
    res.check(f"faults.{name}.recovers", ok, detail)
    _after(system, res, name, name.replace("_", ""), out)


def embedded_postgres(system: System, res: Results, seconds: float) -> None:
    """The same restart against a second server that embeds its PostgreSQL (the default setup)."""
    cfg = gureum_config(system.upstream, redis_url=system.redis.url, database_url=None, port=free_port())
    # Its own counters: a store of its own, so budgets of the same tenant name must not add up.
    cfg["governance"]["redis_prefix"] = "gureum-embedded"
    srv = Server(system.root / "embedded-server", cfg)
    srv.start()
    try:
        pgdata = (srv.data_dir / "pg").resolve()
        other = System(system.root, system.upstream, system.redis, system.postgres, srv,
                       db_url=embedded_url(srv.data_dir))

        def bounce() -> None:
            pg_ctl(pgdata, "stop")
            time.sleep(1.0)
            pg_ctl(pgdata, "start")

        postgres_restart(other, res, seconds, "postgres_embedded", bounce)
    finally:
        srv.stop()


def _upload(system: System, key: str, n: int, stop: threading.Event) -> None:
    docs = [{"uri": f"doc-{i}.txt", "text": f"문서 {i}. 구름 플랫폼의 신뢰성 시험 문서입니다. " * 20} for i in range(n)]
    while not stop.is_set():
        try:
            system.call("POST", "/v1/collections/kill/documents", key, json={"documents": docs}, timeout=30)
        except httpx.HTTPError:
            time.sleep(0.2)


def tight_budget(system: System, res: Results, seconds: float) -> None:
    """A burst against a hard budget that it must exhaust: refused once full, never past it."""
    system.key("faults-tight", "tight", user="t0")
    out = system.load_result("tight", system.load(prefix="tight", seconds=seconds, concurrency=4,
                                                  keys=["faults-tight"]), wait=seconds + 120)
    spent = float(system.sql("SELECT coalesce(sum(cost), 0) FROM ledger WHERE tenant_id = 'tight'")[0][0])
    refused = system.sql("SELECT count(*) FROM ledger WHERE tenant_id = 'tight' AND error_code = 'budget_exceeded'")[0][0]
    res.check("faults.budget.never_overspent", spent <= TIGHT_BUDGET + 1e-9 and refused > 0,
              f"ledger spent {spent:.6f} of {TIGHT_BUDGET} (tenant budget, hard); {len(out['answered'])} answered, "
              f"{refused} refused for it")
    budget = system.budget_vs_ledger("tight")
    res.check("faults.budget.equals_ledger",
              budget["exists"] and abs(budget["counter"] - budget["ledger"]) <= budget["rows"] and budget["reserved"] == 0,
              f"counter {budget['counter']} µ, ledger {budget['ledger']} µ over {budget['rows']} rows, "
              f"{budget['reserved']} µ reserved")


def sigkill(system: System, res: Results, seconds: float) -> None:
    admin = system.key("faults-kill-admin", "faults", user="ka", role="admin")
    r = system.call("POST", "/v1/collections", admin, json={"name": "kill", "embedder": "embed"})
    keys = [system.key("faults-kill", "faults", user="k0") and "faults-kill", "faults-tight"]
    stop = threading.Event()
    uploader = threading.Thread(target=_upload, args=(system, admin, 12, stop), daemon=True)
    if r.status_code in (200, 201):
        uploader.start()
    # Long enough to go on after the restart, which takes seconds on a busy machine.
    proc = system.load(prefix="kill", seconds=3 * seconds + 20, concurrency=4, keys=keys, timeout=30)
    time.sleep(seconds)
    system.server.kill()
    system.server.start()
    out = system.load_result("kill", proc, wait=6 * seconds + 120)
    stop.set()
    uploader.join(40)
    after = [rid for rid in out["answered"] if int(rid.rsplit("-", 1)[1]) > 0]
    res.check("faults.sigkill.restarts", system.server.pid is not None and system.server.starts >= 2 and bool(after),
              f"started {system.server.starts} times; {len(out['answered'])} answered, statuses {out['statuses']}")
    _after(system, res, "sigkill", "kill", out)
    dup = system.sql("SELECT count(*) FROM (SELECT collection_id, uri FROM documents GROUP BY 1, 2 "
                     "HAVING count(*) > 1) d")[0][0]
    orphans = system.sql("SELECT count(*) FROM chunks c LEFT JOIN documents d ON d.id = c.document_id "
                         "WHERE d.id IS NULL")[0][0]
    docs = system.sql("SELECT count(*) FROM documents WHERE tenant_id = 'faults'")[0][0]
    res.check("faults.sigkill.ingest_consistent", r.status_code in (200, 201) and docs > 0 and dup == 0 and orphans == 0,
              f"collection {r.status_code}; {docs} documents, {dup} duplicated uris, {orphans} orphan chunks")
    spent = float(system.sql("SELECT coalesce(sum(cost), 0) FROM ledger WHERE tenant_id = 'tight'")[0][0])
    res.check("faults.sigkill.budget_never_overspent", spent <= TIGHT_BUDGET + 1e-9,
              f"tight tenant spent {spent:.6f} of {TIGHT_BUDGET} across the kill")


def run_part(system: System, res: Results, profile: Any) -> None:
    seconds = max(6.0, profile.fault_seconds)
    providers(system, res)
    redis_outage(system, res, seconds)
    postgres_restart(system, res, seconds, "postgres_external", lambda: system.postgres.restart(1.0))
    embedded_postgres(system, res, seconds)
    tight_budget(system, res, seconds)
    budget = system.budget_vs_ledger("faults")
    res.check("faults.provider.budget_equals_ledger",
              budget["exists"] and abs(budget["counter"] - budget["ledger"]) <= budget["rows"],
              f"counter {budget['counter']} µ, ledger {budget['ledger']} µ over {budget['rows']} rows (provider faults, "
              f"outages), {budget['reserved']} µ reserved")
    sigkill(system, res, seconds)
    ok, line = system.verify_audit()
    res.check("faults.audit.verifies", ok, line)
    res.figure("faults", seconds=seconds)


SYSTEM = {"tenants": {"tight": {"budgets": [{"scope": "tenant", "period": "month", "limit": TIGHT_BUDGET}]}}}
