"""Helpers for the governance tests: keys through the admin API, chat calls, and gureum as a real
subprocess (`gureum serve --config`) for the multi-replica and crash tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import ADMIN_KEY
from tests.support.keys import make_key
from tests.support.servers import free_port

GUREUM = str(Path(sys.executable).parent / "gureum")


def chat(base: str, key: str, content: Any = "hi", model: str = "gpt-test", **body: Any) -> httpx.Response:
    messages = content if isinstance(content, list) else [{"role": "user", "content": content}]
    return httpx.post(f"{base}/v1/chat/completions", headers={"authorization": f"Bearer {key}", **body.pop("headers", {})},
                      json={"model": model, "messages": messages, **body}, timeout=30)


async def achat(client: httpx.AsyncClient, base: str, key: str, content: str = "hi", model: str = "gpt-test",
                **body: Any) -> httpx.Response:
    return await client.post(f"{base}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                             json={"model": model, "messages": [{"role": "user", "content": content}], **body})


class GureumProcess:
    """`gureum serve --config FILE` in its own process group."""

    def __init__(self, config: dict[str, Any], workdir: Path, name: str = "gw") -> None:
        self.port = free_port()
        self.path = workdir / f"{name}.yaml"
        self.path.write_text(yaml.safe_dump({**config, "host": "127.0.0.1", "port": self.port}), encoding="utf-8")
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> GureumProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUREUM_")}
        env["PYTHONUNBUFFERED"] = "1"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [GUREUM, "serve", "--config", str(self.path)],
                cwd=self.path.parent, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gureum exited with {self.proc.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"gureum did not start:\n{self.log.read_text()[-4000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

__all__ = ["GUREUM", "GureumProcess", "achat", "chat", "make_key"]
