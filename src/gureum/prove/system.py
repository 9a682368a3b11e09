"""One running system for the parts of a run: the failing upstream, a Redis and a PostgreSQL of
the suite's own, and `gureum serve` on them, plus what every part needs to look at it from the
outside — an admin client, tenants and keys, the database (ledger, audit), the budget counters in
Redis, `gureum audit verify`, and the load generator as a separate process."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from gureum.prove.harness import (
    ADMIN_KEY,
    Postgres,
    Redis,
    Server,
    Upstream,
    free_port,
    gureum_config,
    scratch,
)


@dataclass
class System:
    root: Path
    upstream: Upstream
    redis: Redis
    postgres: Postgres
    server: Server
    keys: dict[str, str] = field(default_factory=dict)  # label -> secret
    key_ids: dict[str, str] = field(default_factory=dict)  # label -> key id
    db_url: str | None = None  # the server's store when it is not the suite's PostgreSQL (embedded)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def database_url(self) -> str:
        return self.db_url or str(self.server.config.get("database_url") or self.postgres.url)

    # --- the API, as an admin -----------------------------------------------------------------
    def call(self, method: str, path: str, key: str | None = ADMIN_KEY, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=kw.pop("timeout", 60.0), **kw)

    def tenant(self, tenant: str) -> None:
        r = self.call("POST", "/v1/admin/tenants", json={"id": tenant})
        if r.status_code not in (200, 201, 409):
            raise RuntimeError(f"creating tenant {tenant}: {r.status_code} {r.text}")

    def key(self, label: str, tenant: str, *, user: str | None = None, role: str = "member",
            groups: list[str] | None = None) -> str:
        """Create a key (its tenant first) and remember it under `label`."""
        self.tenant(tenant)
        r = self.call("POST", "/v1/admin/keys", json={"tenant_id": tenant, "user_id": user, "role": role,
                                                      "groups": groups or [], "name": label})
        if r.status_code != 201:
            raise RuntimeError(f"creating key {label}: {r.status_code} {r.text}")
        self.keys[label] = r.json()["key"]
        self.key_ids[label] = r.json()["id"]
        return self.keys[label]

    # --- what the store says ------------------------------------------------------------------
    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=10) as conn:
            return list(conn.execute(query, params).fetchall())

    def counts(self, table: str, prefix: str) -> dict[str, int]:
        """request id -> rows, for the requests whose id starts with `prefix-` (sub-calls excluded)."""
        rows = self.sql(f"SELECT request_id, count(*) FROM {table} WHERE request_id LIKE %s "  # noqa: S608 — table is ours
                        "AND request_id NOT LIKE %s GROUP BY request_id", (f"{prefix}-%", f"{prefix}-%:%"))
        return {r[0]: int(r[1]) for r in rows}

    def exactly_once(self, prefix: str, answered: list[str]) -> dict[str, Any]:
        """For every answered request: one ledger row and one audit event; nothing twice."""
        out: dict[str, Any] = {}
        for table in ("ledger", "audit_events"):
            counts = self.counts(table, prefix)
            out[table] = {
                "missing": [r for r in answered if r not in counts],
                "duplicated": [r for r, n in counts.items() if n > 1],
                "rows": sum(counts.values()),
            }
        return out

    def budget_vs_ledger(self, tenant: str) -> dict[str, Any]:
        """The tenant's monthly budget counter in Redis against the ledger's sum for the month."""
        import redis

        label = datetime.now(UTC).strftime("%Y-%m")
        key = f"gureum:{{t:{tenant}}}:b:tenant:{tenant}:month:{label}"
        h = redis.Redis.from_url(self.redis.url).hgetall(key)
        spent = int(h.get(b"spent", 0))
        reserved = int(h.get(b"reserved", 0))
        start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        rows = self.sql("SELECT coalesce(sum(cost), 0), count(*) FROM ledger WHERE tenant_id = %s AND ts >= %s",
                        (tenant, start))
        ledger_units = round(float(rows[0][0]) * 1_000_000)
        return {"counter": spent, "reserved": reserved, "ledger": ledger_units, "rows": int(rows[0][1]),
                "exists": bool(h)}

    def verify_audit(self) -> tuple[bool, str]:
        """`gureum audit verify` against the server's store, as an operator runs it."""
        cfg = self.server.write_config()
        exe = Path(sys.executable).with_name("gureum")
        p = subprocess.run([str(exe), "audit", "verify", "--config", str(cfg), "--data-dir", str(self.server.data_dir)],
                           capture_output=True, text=True, timeout=300, cwd=self.server.root)
        return p.returncode == 0, (p.stdout + p.stderr).strip().splitlines()[-1] if (p.stdout + p.stderr).strip() else ""

    def upstream_stats(self) -> dict[str, int]:
        return dict(httpx.get(f"http://127.0.0.1:{self.upstream.port}/stats", timeout=5).json())

    # --- load from another process --------------------------------------------------------------
    def load(self, *, prefix: str, seconds: float, concurrency: int, keys: list[str], rate: float = 0.0,
             timeout: float = 30.0, models: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        spec = {"url": self.url, "keys": [self.keys[k] for k in keys], "seconds": seconds,
                "concurrency": concurrency, "rate": rate, "prefix": prefix, "timeout": timeout,
                "models": models or {"chat": "chat", "embed": "embed"}}
        spec_path = self.root / f"load-{prefix}.json"
        spec_path.write_bytes(orjson.dumps(spec))
        return subprocess.Popen([sys.executable, "-m", "gureum.prove.loadgen", str(spec_path),
                                 str(self.root / f"load-{prefix}.out.json")])

    def load_result(self, prefix: str, proc: subprocess.Popen[bytes], wait: float) -> dict[str, Any]:
        proc.wait(wait)
        return dict(orjson.loads((self.root / f"load-{prefix}.out.json").read_bytes()))


@contextlib.contextmanager
def running(keep: bool = False, *, semantic: bool = False, tenants: dict[str, Any] | None = None,
            budget: float = 1000.0) -> Iterator[System]:
    """Start the whole system; stop every process it started, whatever happens."""
    with scratch(keep=keep) as root:
        up = Upstream()
        red = Redis()
        pg: Postgres | None = None
        srv: Server | None = None
        try:
            up.start()
            red.start()
            pg = Postgres(root / "pg")
            cfg = gureum_config(up, redis_url=red.url, database_url=pg.url, port=free_port(), semantic=semantic,
                                extra_tenants=tenants, budget=budget)
            srv = Server(root / "server", cfg)
            srv.start()
            yield System(root, up, red, pg, srv)
        finally:
            if srv is not None:
                srv.stop()
            red.stop()
            up.stop()
            if pg is not None:
                pg.close()


def wait_until(pred: Any, seconds: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if pred():
                return True
        time.sleep(step)
    return False
