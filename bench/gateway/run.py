#!/usr/bin/env python3
"""Gateway overhead benchmark: what does a request cost when it goes through the gateway?

Method (the same as the reference figures in shared/bench-kit/gateway/README.md):

* nginx serves a mock OpenAI-compatible upstream on 127.0.0.1:18080 (fixed bodies, ~free).
* Each server under test (``passthrough``, the FastAPI floor; ``litellm``, the peer; ``gureum``)
  is started fresh as a subprocess with one worker.  We time launch -> first 200 from
  ``GET /v1/models`` (with its bearer key), warm it up, then for each concurrency (1, 16, 64) run
  wrk straight at the mock and through the server back to back, non-streaming and streaming
  (``WRK_STREAM=1``), ``--reps`` times each; the table shows medians.
* Around every through-the-server run we read utime+stime (+ cutime+cstime, i.e. reaped
  children) of the server's whole process tree from /proc: **CPU ms per request** is the headline
  figure, because other work on a shared machine moves wall-clock figures (req/s, latency) by 2x.
  RSS is summed over the tree after each run.

Only 127.0.0.1 is ever contacted.  Every loop is bounded (fixed run list, deadlines on waits).

Usage (from the repository root):
    .venv/bin/python bench/gateway/run.py --servers passthrough,litellm --quick
    .venv/bin/python bench/gateway/run.py --servers passthrough,litellm,gureum      # 20 s x 3 reps
Results: Markdown table on stdout, JSON + Markdown under bench/.work/ (gitignored).
Dependencies: stdlib + httpx; wrk and nginx from Debian (apt-get install -y wrk nginx).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WORK = REPO / "bench" / ".work"
MAIN_VENV = REPO / ".venv"
LUA = HERE / "chat.lua"
NGINX_CONF = HERE / "nginx-mock.conf"
LITELLM_CONFIG = HERE / "litellm-config.yaml"
LITELLM_VENV = WORK / "litellm-venv"

HOST = "127.0.0.1"
MOCK_PORT = 18080  # fixed in nginx-mock.conf and in the server configs
MOCK = f"http://{HOST}:{MOCK_PORT}"
KEY = "sk-bench-master-0001"  # the bearer token every server under test accepts
CLK_TCK = os.sysconf("SC_CLK_TCK")

# LiteLLM install recipe (kit README).  litellm[proxy]==1.110.2 pins `litellm-proxy==1.110.2` and
# `litellm-proxy-extras==0.4.114.post1`, which this registry does not carry, so when the extra
# cannot resolve we install 1.110.2 plus the proxy extra's runtime requirements by hand (minus those
# two: litellm-proxy is a packaging shim, proxy-extras only holds Prisma DB migrations, and the
# benchmark runs LiteLLM without a database).
LITELLM_VERSION = "1.110.2"
LITELLM_BASE = [f"litellm=={LITELLM_VERSION}", "backports-zstd>=1.0.0,<2.0", "semver>=3.0.4,<4",
                "litellm-enterprise==0.1.83"]
LITELLM_PROXY_DEPS = [
    "gunicorn>=23.0.0,<24.0", "uvicorn>=0.33.0,<1.0", "granian>=2.7.4,<3.0", "uvloop>=0.22.1,<1.0",
    "fastapi>=0.136.3,<1.0", "starlette>=1.0.1,<2.0", "backoff>=2.2.1,<3.0", "rq>=2.7.0,<3.0",
    "orjson>=3.11.6,<4.0", "hiredis>=3.0.0,<4.0", "apscheduler>=3.11.2,<4.0", "fastapi-sso>=0.19.0,<1.0",
    "pyjwt>=2.13.0,<3.0", "python-multipart>=0.0.27,<1.0", "cryptography>=49.0.0,<51.0",
    "pynacl>=1.6.2,<2.0", "websockets>=15.0.1,<16.0", "azure-identity>=1.25.2,<2.0",
    "azure-storage-blob>=12.28.0,<13.0", "mcp>=2.3.0,<3", "httpx2>=2.10.0,<3",
    "restrictedpython>=8.5,<9.0", "rich>=13.9.4,<14.0", "inquirerpy>=0.3.4,<1.0",
    "tomlkit>=0.13.3,<1.0", "polars>=1.38.1,<2.0", "soundfile>=0.12.1,<1.0",
    "pyroscope-io>=0.8.16,<1.0", "expression>=5.6.0,<6.0",
]
LITELLM_RECIPES = [
    ("kit pins + litellm[proxy]", LITELLM_BASE + [f"litellm[proxy]=={LITELLM_VERSION}"]),
    ("kit pins + proxy extra's requirements", LITELLM_BASE + LITELLM_PROXY_DEPS),
    ("whatever litellm[proxy] resolves to", ["litellm[proxy]"]),
]
# Never let LiteLLM reach out: local cost map, no telemetry.
LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
               "TELEMETRY": "False"}


# --------------------------------------------------------------------------------------------
# gureum config: keep the whole schema in this one function so it is easy to adjust.
# --------------------------------------------------------------------------------------------
def gureum_config_yaml(governed: bool = False, redis: bool = False) -> str:
    """The plain variant sends to a `local`-region deployment, where the default PII policy allows
    everything and no budgets or limits are set: the floor of gureum's own flow (auth, routing,
    ledger, audit). The governed variant sends to a `kr` deployment, so every message is scanned
    and masked, and budgets plus RPM/TPM limits (set high enough never to refuse) are reserved
    and settled on every request — in-process, or in Redis for the multi-replica setup."""
    region = "kr" if governed else "local"
    text = f"""\
# generated by bench/gateway/run.py: two OpenAI-compatible providers on the nginx mock
providers:
  mock: {{kind: openai, base_url: "{MOCK}/v1", api_key: sk-mock-upstream}}
  mock-stream: {{kind: openai, base_url: "{MOCK}/stream/v1", api_key: sk-mock-upstream}}
deployments:
  - {{name: gpt-mock, provider: mock, model: gpt-4o-mini, price: {{input: 0.15, output: 0.6}}, region: {region}, tier: 1}}
  - {{name: gpt-mock-stream, provider: mock-stream, model: gpt-4o-mini, price: {{input: 0.15, output: 0.6}}, region: {region}, tier: 1}}
"""
    if governed:
        text += """\
governance:
  pii: {default: {"*": mask, KR_RRN: block}}
  defaults:
    rpm: 10000000
    tpm: 1000000000
    key_rpm: 10000000
    key_tpm: 1000000000
    budgets:
      - {scope: tenant, period: month, limit: 1000000}
      - {scope: key, period: day, limit: 100000}
      - {scope: user, period: day, limit: 100000, mode: soft}
"""
    if redis:
        text += "redis_url: redis://127.0.0.1:6379/0\n"
    return text


# --------------------------------------------------------------------------------------------
# /proc helpers: CPU seconds and RSS of a whole process tree
# --------------------------------------------------------------------------------------------
def _read_stat(pid: int) -> tuple[int, float, float] | None:
    """(ppid, cpu seconds = utime+stime+cutime+cstime, of which system time) or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    f = raw[raw.rindex(")") + 2:].split()  # f[0] = state (field 3)
    ppid = int(f[1])
    utime, stime, cutime, cstime = (int(x) for x in f[11:15])  # fields 14..17
    return ppid, (utime + stime + cutime + cstime) / CLK_TCK, (stime + cstime) / CLK_TCK


def tree_pids(root: int) -> list[int]:
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _read_stat(int(d))
            if st:
                parent[int(d)] = st[0]
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root] if root in parent else []
    while todo:  # bounded: each pid is visited once (a tree)
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def tree_cpu(root: int) -> tuple[float, float]:
    """(total CPU seconds, system CPU seconds) of root and all its descendants."""
    total = system = 0.0
    for pid in tree_pids(root):
        st = _read_stat(pid)
        if st:
            total += st[1]
            system += st[2]
    return total, system


def tree_cpu_s(root: int) -> float:
    return tree_cpu(root)[0]


def tree_rss_mb(root: int) -> float:
    kb = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kb += int(line.split()[1])
                    break
    return kb / 1024


def _hexaddr(h: str) -> str:
    ip, port = h.split(":")
    b = bytes.fromhex(ip)
    if len(b) == 4:
        addr = socket.inet_ntop(socket.AF_INET, b[::-1])
    else:  # /proc/net/tcp6 stores four little-endian 32-bit words
        addr = socket.inet_ntop(socket.AF_INET6, b"".join(b[i:i + 4][::-1] for i in range(0, 16, 4)))
    return f"{addr}:{int(port, 16)}"


def tree_peers(root: int, own_port: int) -> list[str]:
    """Remote ends of the tree's established outgoing TCP connections (not its own listener).

    Shows what else the server talks to: work done by a database or cache outside the tree is not
    in the CPU figure, and anything that is not loopback would break the benchmark's rules."""
    inodes = set()
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:["):
                        inodes.add(link[8:-1])
    peers = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                if f[3] == "01" and f[9] in inodes:  # ESTABLISHED and ours
                    local, remote = _hexaddr(f[1]), _hexaddr(f[2])
                    if int(local.rsplit(":", 1)[1]) != own_port:
                        peers.add(remote)
    return sorted(peers)


def _is_loopback(peer: str) -> bool:
    host = peer.rsplit(":", 1)[0]
    return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1") or host.startswith("::ffff:127.")


# --------------------------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def port_busy(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def safe_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def cmd_out(argv: list[str], env: dict | None = None, timeout: float = 60) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"


def pkg_version(python: Path, dist: str) -> str:
    return cmd_out([str(python), "-c",
                    f"import importlib.metadata as m; print(m.version({dist!r}))"]).splitlines()[-1]


def machine_info() -> dict:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    os_name = "?"
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_gib": round(mem_kb / 1024 / 1024, 1),
            "os": os_name, "kernel": platform.release(),
            "python": platform.python_version(),
            "wrk": cmd_out(["wrk", "--version"]).splitlines()[0] if shutil.which("wrk") else "missing",
            "nginx": cmd_out(["nginx", "-v"]) if shutil.which("nginx") else "missing"}


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------
class Proc:
    """A subprocess in its own session so its whole group can be stopped by our own pid."""

    def __init__(self, name: str, argv: list[str], env: dict, cwd: Path, logfile: Path):
        self.name = name
        self.logfile = logfile
        self._log = open(logfile, "wb")
        self.t_launch = time.monotonic()
        self.p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def tail(self, n: int = 30) -> str:
        self._log.flush()
        with contextlib.suppress(OSError):
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        return ""

    def stop(self, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.p.pid, sig)  # the group we created (pgid == our child's pid)
            try:
                self.p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=10)
        # stragglers that stayed in the group after the leader exited
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.p.pid, signal.SIGKILL)
        self._log.close()


def wait_ready(proc: Proc, url: str, headers: dict, timeout: float) -> float:
    """Seconds from launch to the first 200 on url; raises if the process dies or time runs out."""
    deadline = proc.t_launch + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as c:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise BenchError(f"{proc.name} exited with {proc.p.returncode} before it was ready:\n"
                                 f"{proc.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if c.get(url, headers=headers).status_code == 200:
                    return time.monotonic() - proc.t_launch
            time.sleep(0.05)
    raise BenchError(f"{proc.name} not ready after {timeout:.0f} s ({url}):\n{proc.tail()}")


# --------------------------------------------------------------------------------------------
# servers under test
# --------------------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    port: int
    label: str  # what it is, with versions (filled in by prepare())
    argv: Callable[[Path], list[str]]  # tmpdir -> argv
    env: Callable[[Path], dict]  # tmpdir -> extra env
    cwd: Path = REPO
    prepare: Callable[[], str] | None = None  # returns a version string; raises BenchError
    ready_timeout: float = 240.0
    models: dict = field(default_factory=lambda: {"chat": "gpt-mock", "stream": "gpt-mock-stream",
                                                   "embeddings": "emb-mock"})
    version: str = ""

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"


def _main_python() -> Path:
    py = MAIN_VENV / "bin" / "python"
    if not py.exists():
        raise BenchError(f"{py} not found: the pass-through runs from the project's virtualenv "
                         f"(python -m venv .venv && .venv/bin/pip install fastapi 'uvicorn[standard]' httpx)")
    return py


def _prepare_passthrough(h11: bool, client: str = "httpx") -> Callable[[], str]:
    def prep() -> str:
        py = _main_python()
        core = "httpcore2" if client == "httpx2" else "httpcore"
        v = {d: pkg_version(py, d) for d in ("fastapi", "uvicorn", client, core)}
        if v[client].startswith("unavailable") or "PackageNotFoundError" in v[client]:
            raise BenchError(f"{client} is not installed in {MAIN_VENV}")
        stack = "h11+asyncio" if h11 else (
            "httptools+uvloop" if "uvloop" in cmd_out([str(py), "-m", "pip", "list"]) else "auto")
        return (f"fastapi {v['fastapi']}, uvicorn {v['uvicorn']} ({stack}), "
                f"{client} {v[client]} ({core} {v[core]})")
    return prep


def ensure_litellm_venv() -> str:
    """Create bench/.work/litellm-venv on first use; return the installed LiteLLM version."""
    py = LITELLM_VENV / "bin" / "python"
    marker = LITELLM_VENV / ".bench-ready"
    if marker.exists() and (LITELLM_VENV / "bin" / "litellm").exists():
        return pkg_version(py, "litellm")
    WORK.mkdir(parents=True, exist_ok=True)
    base_python = getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable
    log(f"creating the LiteLLM virtualenv in {LITELLM_VENV} (first use; takes a few minutes)")
    shutil.rmtree(LITELLM_VENV, ignore_errors=True)
    subprocess.run([base_python, "-m", "venv", str(LITELLM_VENV)], check=True, timeout=300)
    pip_log = WORK / "litellm-venv-install.log"
    used = None
    with open(pip_log, "w") as fh:
        for what, reqs in LITELLM_RECIPES:
            log(f"pip install ({what})")
            fh.write(f"\n### {what}: {' '.join(reqs)}\n")
            fh.flush()
            try:
                rc = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", *reqs],
                                    stdout=fh, stderr=subprocess.STDOUT, timeout=1800).returncode
            except subprocess.TimeoutExpired:
                rc = -1
            if rc == 0:
                used = what
                break
            log(f"  -> failed (rc={rc}); see {pip_log}")
    if used is None or not (LITELLM_VENV / "bin" / "litellm").exists():
        raise BenchError(f"could not install LiteLLM; see {pip_log}")
    version = pkg_version(py, "litellm")
    if version != LITELLM_VERSION:
        log(f"NOTE: LiteLLM {version} installed instead of {LITELLM_VERSION} (recipe: {used})")
    marker.write_text(json.dumps({"litellm": version, "recipe": used}) + "\n")
    return version


def _prepare_litellm() -> str:
    v = ensure_litellm_venv()
    py = LITELLM_VENV / "bin" / "python"
    stack = f"uvicorn {pkg_version(py, 'uvicorn')}, fastapi {pkg_version(py, 'fastapi')}"
    return f"LiteLLM {v} ({stack})"


GUREUM_BIN = MAIN_VENV / "bin" / "gureum"


def _prepare_gureum() -> str:
    if not GUREUM_BIN.exists():
        raise BenchError(
            f"gureum is not installed: {GUREUM_BIN} does not exist.\n"
            f"  Install the project into its virtualenv first:  {MAIN_VENV}/bin/pip install -e {REPO}\n"
            f"  (or leave gureum out: --servers passthrough,litellm)")
    return f"gureum {pkg_version(MAIN_VENV / 'bin' / 'python', 'gureum')}"


def _gureum_argv(port: int, governed: bool = False, redis: bool = False) -> Callable[[Path], list[str]]:
    def argv(tmp: Path) -> list[str]:
        cfg = tmp / "gureum.yaml"
        cfg.write_text(gureum_config_yaml(governed, redis))
        data = tmp / "gureum-data"
        data.mkdir(exist_ok=True)
        return [str(GUREUM_BIN), "serve", "--host", HOST, "--port", str(port), "--config", str(cfg),
                "--data-dir", str(data)]
    return argv


def _uvicorn_argv(h11: bool, port: int) -> Callable[[Path], list[str]]:
    def argv(_tmp: Path) -> list[str]:
        a = [str(_main_python()), "-m", "uvicorn", "passthrough:app", "--app-dir", str(HERE),
             "--host", HOST, "--port", str(port), "--no-access-log"]
        return a + (["--http", "h11", "--loop", "asyncio"] if h11 else [])
    return argv


SERVERS: dict[str, Server] = {
    "passthrough": Server(
        "passthrough", 4100, "pass-through (FastAPI + httpx, uvicorn[standard])",
        argv=_uvicorn_argv(False, 4100),
        env=lambda tmp: {"UPSTREAM": MOCK, "PT_KEY": KEY},
        prepare=_prepare_passthrough(False), ready_timeout=60),
    "passthrough-h11": Server(
        "passthrough-h11", 4101, "pass-through, h11 + asyncio loop (the kit's reference variant)",
        argv=_uvicorn_argv(True, 4101),
        env=lambda tmp: {"UPSTREAM": MOCK, "PT_KEY": KEY},
        prepare=_prepare_passthrough(True), ready_timeout=60),
    "passthrough-httpx2": Server(
        "passthrough-httpx2", 4102, "pass-through on httpx2 (fork with the linear connection-pool fix)",
        argv=_uvicorn_argv(False, 4102),
        env=lambda tmp: {"UPSTREAM": MOCK, "PT_KEY": KEY, "PT_CLIENT": "httpx2"},
        prepare=_prepare_passthrough(False, "httpx2"), ready_timeout=60),
    "litellm": Server(
        "litellm", 4000, "LiteLLM proxy",
        argv=lambda tmp: [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(LITELLM_CONFIG),
                          "--host", HOST, "--port", "4000", "--num_workers", "1"],
        env=lambda tmp: dict(LITELLM_ENV), prepare=_prepare_litellm, ready_timeout=240),
    "gureum": Server(
        "gureum", 4200, "gureum: auth, routing, ledger, audit (local region: PII allowed, no limits)",
        argv=_gureum_argv(4200),
        env=lambda tmp: {"GUREUM_ADMIN_KEY": KEY},
        prepare=_prepare_gureum, ready_timeout=300),
    "gureum-governed": Server(
        "gureum-governed", 4201, "gureum, full governed flow: PII mask, budgets, RPM/TPM (in-process)",
        argv=_gureum_argv(4201, governed=True),
        env=lambda tmp: {"GUREUM_ADMIN_KEY": KEY},
        prepare=_prepare_gureum, ready_timeout=300),
    "gureum-governed-redis": Server(
        "gureum-governed-redis", 4202, "gureum, full governed flow with limits and budgets in Redis",
        argv=_gureum_argv(4202, governed=True, redis=True),
        env=lambda tmp: {"GUREUM_ADMIN_KEY": KEY},
        prepare=_prepare_gureum, ready_timeout=300),
}


# --------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------
MODES = {  # mode -> (mock path for the direct run, wrk env)
    "chat": ("/v1/chat/completions", {"WRK_KIND": "chat", "WRK_STREAM": "0"}),
    "stream": ("/stream/v1/chat/completions", {"WRK_KIND": "chat", "WRK_STREAM": "1"}),
    "embeddings": ("/v1/embeddings", {"WRK_KIND": "embeddings", "WRK_STREAM": "0"}),
}
SERVER_PATH = {"chat": "/v1/chat/completions", "stream": "/v1/chat/completions",
               "embeddings": "/v1/embeddings"}


def run_wrk(base: str, path: str, conc: int, duration: float, env_extra: dict, label: str) -> dict:
    env = safe_env({**env_extra, "WRK_PATH": path, "WRK_LABEL": label})
    argv = ["wrk", "-t", "1", "-c", str(conc), "-d", f"{int(duration)}s", "--timeout", "30s",
            "-s", str(LUA), base]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=duration + 90)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"wrk hung: {' '.join(argv)}") from e
    for line in reversed(p.stdout.splitlines()):
        if line.startswith('{"label"'):
            r = json.loads(line)
            r["errors"] = sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_status",
                                             "err_timeout"))
            return r
    raise BenchError(f"wrk gave no result (rc={p.returncode}): {p.stdout[-800:]} {p.stderr[-800:]}")


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def _body(model: str, stream: bool) -> dict:
    b = {"model": model, "max_tokens": 32,
         "messages": [{"role": "system", "content": "You are a helpful assistant."},
                      {"role": "user", "content": "Hello, how are you today? Please answer briefly."}]}
    if stream:
        b["stream"] = True
    return b


def check_responses(base: str, srv: Server | None, modes: list[str]) -> None:
    """One request of each mode must come back 200 with the mock's content."""
    hdr = {"Authorization": f"Bearer {KEY}"} if srv else {}
    with httpx.Client(base_url=base, timeout=30.0, trust_env=False) as c:
        for mode in modes:
            path = SERVER_PATH[mode] if srv else MODES[mode][0]
            model = srv.models[mode] if srv else "gpt-mock"
            if mode == "embeddings":
                r = c.post(path, headers=hdr, json={"model": model, "input": "hello"})
                ok = r.status_code == 200 and "0.0123" in r.text
            elif mode == "stream":
                r = c.post(path, headers=hdr, json=_body(model, True))
                ok = r.status_code == 200 and "streamed reply" in r.text and "[DONE]" in r.text
            else:
                r = c.post(path, headers=hdr, json=_body(model, False))
                ok = r.status_code == 200 and "fixed reply from the mock" in r.text
            if not ok:
                who = srv.name if srv else "nginx mock"
                raise BenchError(f"{who}: {mode} check failed: HTTP {r.status_code} {r.text[:600]!r}")


# --------------------------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------------------------
def start_mock(tmp: Path) -> Proc:
    if not shutil.which("nginx") or not shutil.which("wrk"):
        raise BenchError("nginx and wrk are required: apt-get update && apt-get install -y wrk nginx")
    if port_busy(MOCK_PORT):
        raise BenchError(f"port {MOCK_PORT} is already in use (another mock or benchmark running?)")
    prefix = tmp / "nginx"
    prefix.mkdir()
    mock = Proc("nginx-mock", ["nginx", "-e", str(prefix / "error.log"), "-c", str(NGINX_CONF),
                               "-p", f"{prefix}/"], safe_env(), prefix, tmp / "nginx.out")
    wait_ready(mock, f"{MOCK}/v1/models", {}, 15)
    check_responses(MOCK, None, ["chat", "stream", "embeddings"])
    return mock


def bench_server(srv: Server, args, tmp: Path, logdir: Path) -> dict:
    if port_busy(srv.port):
        raise BenchError(f"{srv.name}: port {srv.port} is already in use")
    stmp = tmp / srv.name
    stmp.mkdir()
    argv = srv.argv(stmp)
    env = safe_env(srv.env(stmp))
    logfile = logdir / f"{srv.name}.log"
    log(f"{srv.name}: starting {' '.join(argv)}")
    proc = Proc(srv.name, argv, env, srv.cwd, logfile)
    out: dict = {"server": srv.name, "label": srv.label, "version": srv.version, "argv": argv,
                 "port": srv.port, "log": str(logfile), "runs": []}
    try:
        hdr = {"Authorization": f"Bearer {KEY}"}
        out["ready_s"] = round(wait_ready(proc, f"{srv.base}/v1/models", hdr, srv.ready_timeout), 2)
        out["rss_ready_mb"] = round(tree_rss_mb(proc.pid), 1)
        log(f"{srv.name}: ready in {out['ready_s']} s, RSS {out['rss_ready_mb']} MB")
        check_responses(srv.base, srv, args.modes)
        # warm-up: split over the modes, through the server only
        per = max(1, round(args.warmup / len(args.modes)))
        for mode in args.modes:
            run_wrk(srv.base, SERVER_PATH[mode], 16, per,
                    {**MODES[mode][1], "WRK_KEY": KEY, "WRK_MODEL": srv.models[mode]}, "warmup")
        # idle cost: CPU burnt with no traffic (background tasks), over a short window
        c0, t0 = tree_cpu_s(proc.pid), time.monotonic()
        time.sleep(args.idle)
        out["idle_cpu_pct"] = round(100 * (tree_cpu_s(proc.pid) - c0) / (time.monotonic() - t0), 2)
        out["tree_pids_after_warmup"] = len(tree_pids(proc.pid))
        for mode in args.modes:
            mock_path, wenv = MODES[mode]
            for conc in args.concurrency:
                for rep in range(args.reps):
                    if not proc.alive():
                        raise BenchError(f"{srv.name} died:\n{proc.tail()}")
                    load0 = os.getloadavg()[0]
                    direct = run_wrk(MOCK, mock_path, conc, args.duration, wenv,
                                     f"direct {mode} c={conc}")
                    (cpu0, sys0), t0 = tree_cpu(proc.pid), time.monotonic()
                    via = run_wrk(srv.base, SERVER_PATH[mode], conc, args.duration,
                                  {**wenv, "WRK_KEY": KEY, "WRK_MODEL": srv.models[mode]},
                                  f"{srv.name} {mode} c={conc}")
                    (cpu1, sys1), wall = tree_cpu(proc.pid), time.monotonic() - t0
                    cpu_s = cpu1 - cpu0
                    run = {"mode": mode, "c": conc, "rep": rep, "loadavg1_before": load0,
                           "direct": direct, "via": via, "cpu_s": round(cpu_s, 3),
                           "cpu_sys_s": round(sys1 - sys0, 3),
                           "cpu_cores": round(cpu_s / wall, 3),
                           "cpu_ms_per_req": round(1000 * cpu_s / via["requests"], 4) if via["requests"] else None,
                           "rss_mb": round(tree_rss_mb(proc.pid), 1),
                           "added_p50_ms": round(via["p50_ms"] - direct["p50_ms"], 3)}
                    out["runs"].append(run)
                    log(f"{srv.name} {mode:6} c={conc:<3} rep {rep + 1}/{args.reps}: "
                        f"{via['rps']:8.1f} req/s (direct {direct['rps']:8.0f}), "
                        f"p50 +{run['added_p50_ms']:.2f} ms, CPU {run['cpu_ms_per_req']} ms/req, "
                        f"{run['cpu_cores']:.2f} cores, RSS {run['rss_mb']} MB, errors {via['errors']}")
            peers = tree_peers(proc.pid, srv.port)
            out.setdefault("peers", {})[mode] = peers
            others = sorted({p for p in peers if not p.endswith(f":{MOCK_PORT}")})
            if others:
                log(f"{srv.name}: also connected to {', '.join(others)} -- CPU spent there is NOT in "
                    f"CPU ms/req")
            if any(not _is_loopback(p) for p in peers):
                log(f"{srv.name}: WARNING: non-loopback connection(s): {peers}")
        out["rss_final_mb"] = round(tree_rss_mb(proc.pid), 1)
    finally:
        proc.stop()
    return out


def summarize(result: dict) -> list[dict]:
    rows = []
    for s in result["servers"]:
        groups: dict[tuple, list] = {}
        for r in s.get("runs", []):
            groups.setdefault((r["mode"], r["c"]), []).append(r)
        for (mode, conc), runs in groups.items():
            med = lambda f: statistics.median(f(r) for r in runs)  # noqa: E731
            rows.append({
                "server": s["server"], "version": s.get("version", ""), "mode": mode, "c": conc,
                "n": len(runs),
                "rps": med(lambda r: r["via"]["rps"]),
                "direct_rps": med(lambda r: r["direct"]["rps"]),
                "direct_p50_ms": med(lambda r: r["direct"]["p50_ms"]),
                "p50_ms": med(lambda r: r["via"]["p50_ms"]),
                "added_p50_ms": med(lambda r: r["added_p50_ms"]),
                "p99_ms": med(lambda r: r["via"]["p99_ms"]),
                "cpu_ms_per_req": med(lambda r: r["cpu_ms_per_req"] or 0.0),
                "cpu_ms_per_req_range": [min(r["cpu_ms_per_req"] or 0 for r in runs),
                                         max(r["cpu_ms_per_req"] or 0 for r in runs)],
                "cpu_cores": med(lambda r: r["cpu_cores"]),
                "rss_mb": med(lambda r: r["rss_mb"]),
                "errors": sum(r["via"]["errors"] for r in runs),
                "ready_s": s.get("ready_s"),
            })
    return rows


def cpu_cell(r: dict) -> str:
    lo, hi = r["cpu_ms_per_req_range"]
    return f"**{r['cpu_ms_per_req']:.2f}**" + (f" ({lo:.2f}–{hi:.2f})" if r["n"] > 1 else "")


def markdown(result: dict, rows: list[dict]) -> str:
    a = result["args"]
    lines = [f"Gateway overhead, {a['duration']} s per run, median of {a['reps']} rep(s), one worker; "
             f"machine: {result['machine']['nproc']} vCPU {result['machine']['cpu_model']}, "
             f"{result['machine']['mem_gib']} GiB",
             "",
             "| server | mode | c | req/s | direct req/s | p50 ms | added p50 ms | p99 ms "
             "| CPU ms/req (min–max) | CPU cores | RSS MB | errors |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['server']} | {r['mode']} | {r['c']} | {r['rps']:.0f} | {r['direct_rps']:.0f} "
                     f"| {r['p50_ms']:.2f} | +{r['added_p50_ms']:.2f} | {r['p99_ms']:.1f} "
                     f"| {cpu_cell(r)} | {r['cpu_cores']:.2f} | {r['rss_mb']:.0f} "
                     f"| {r['errors']} |")
    lines += ["", "| server | version | ready s | RSS at ready MB | idle CPU % | other TCP peers |",
              "| --- | --- | --- | --- | --- | --- |"]
    for s in result["servers"]:
        if "error" in s:
            lines.append(f"| {s['server']} | {s.get('version', '')} | FAILED: {s['error'].splitlines()[0]} | | | |")
        else:
            peers = sorted({p for ps in s.get("peers", {}).values() for p in ps
                            if not p.endswith(f":{MOCK_PORT}")})
            lines.append(f"| {s['server']} | {s.get('version', '')} | {s.get('ready_s')} "
                         f"| {s.get('rss_ready_mb')} | {s.get('idle_cpu_pct')} | {', '.join(peers) or 'none'} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="passthrough,litellm,gureum",
                    help=f"comma-separated, from: {', '.join(SERVERS)} (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="5 s runs, 1 repetition, 5 s warm-up")
    ap.add_argument("--duration", type=int, help="seconds per wrk run (default 20; 5 with --quick)")
    ap.add_argument("--reps", type=int, help="repetitions per point, median reported (default 3; 1 with --quick)")
    ap.add_argument("--warmup", type=int, help="warm-up seconds per server (default 10; 5 with --quick)")
    ap.add_argument("--idle", type=float, default=3.0, help="seconds of idle-CPU sampling after warm-up")
    ap.add_argument("--concurrency", default="1,16,64", help="wrk connections (default %(default)s)")
    ap.add_argument("--modes", default="chat,stream",
                    help="chat, stream, embeddings (gureum needs an 'emb-mock' deployment for the last)")
    ap.add_argument("--out", type=Path, help="JSON output path (default bench/.work/gateway-<time>.json)")
    a = ap.parse_args(argv)
    a.duration = a.duration or (5 if a.quick else 20)
    a.reps = a.reps or (1 if a.quick else 3)
    a.warmup = a.warmup if a.warmup is not None else (5 if a.quick else 10)
    a.servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    a.concurrency = [int(c) for c in a.concurrency.split(",")]
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    for s in a.servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s!r}; choose from {', '.join(SERVERS)}")
    for m in a.modes:
        if m not in MODES:
            ap.error(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
    if not (1 <= a.duration <= 600 and 1 <= a.reps <= 20 and all(1 <= c <= 1024 for c in a.concurrency)):
        ap.error("duration 1..600 s, reps 1..20, concurrency 1..1024")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Fail fast and clearly on anything missing, before any server starts.
    try:
        for name in args.servers:
            srv = SERVERS[name]
            srv.version = srv.prepare() if srv.prepare else ""
            log(f"{name}: {srv.version}")
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    per_server = len(args.modes) * len(args.concurrency) * args.reps * 2 * args.duration + args.warmup + args.idle
    log(f"plan: {', '.join(args.servers)}; modes {args.modes}; c {args.concurrency}; {args.duration} s x "
        f"{args.reps} reps -> ~{per_server / 60:.1f} min per server plus start-up")

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    WORK.mkdir(parents=True, exist_ok=True)
    logdir = WORK / f"gateway-{stamp}-logs"
    logdir.mkdir()
    out_path = args.out or WORK / f"gateway-{stamp}.json"
    result = {"started": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(),
              "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "command": " ".join([Path(sys.executable).name, *sys.argv]), "servers": []}

    def _term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _term)

    rc = 0
    with tempfile.TemporaryDirectory(prefix="gw-bench-") as td:
        tmp = Path(td)
        mock = None
        try:
            mock = start_mock(tmp)
            log(f"nginx mock up on {MOCK}")
            for name in args.servers:
                srv = SERVERS[name]
                try:
                    result["servers"].append(bench_server(srv, args, tmp, logdir))
                except BenchError as e:
                    log(f"{name}: FAILED: {e}")
                    result["servers"].append({"server": name, "version": srv.version, "error": str(e)})
                    rc = 1
        except BenchError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            log("interrupted; stopping")
            rc = 130
        finally:
            if mock:
                mock.stop(signal.SIGQUIT, grace=10)
    result["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    rows = summarize(result)
    result["summary"] = rows
    md = markdown(result, rows)
    out_path.write_text(json.dumps(result, indent=1) + "\n")
    out_path.with_suffix(".md").write_text(md)
    print(md)
    log(f"wrote {out_path} and {out_path.with_suffix('.md')}; server logs in {logdir}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
