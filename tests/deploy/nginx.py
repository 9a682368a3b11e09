"""Debian's nginx as a round-robin load balancer on loopback, in front of gureum replicas, run in
the foreground of its own process group with every path under one temp directory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port

# What nginx answers itself when a replica dies under a request: OpenAI's error shape, so a
# client sees a clear, retryable error instead of an HTML page.
DOWN = ('{"error":{"message":"The replica serving this request went away before answering; retry it.",'
        '"type":"server_error","param":null,"code":"replica_unavailable"}}')

CONF = """
{user}
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  log_format lb '$upstream_addr $status $request_method $uri';
  access_log {dir}/access.log lb;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  client_max_body_size 16m;
  upstream gureum {{
{servers}
    keepalive 32;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://gureum;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 60s;
      # A refused connection (a dead replica) is retried on the next one; a request a replica
      # already took is never sent twice (POST is not idempotent).
      proxy_next_upstream error timeout;
    }}
    error_page 502 503 504 = @down;
    location @down {{
      default_type application/json;
      return 502 '{down}';
    }}
  }}
}}
"""


class Nginx:
    def __init__(self, workdir: Path, upstreams: list[int]) -> None:
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.dir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstreams)
        user = "user root;" if os.geteuid() == 0 else ""  # workers must read the temp dirs
        (workdir / "nginx.conf").write_text(
            CONF.format(user=user, dir=workdir, servers=servers, port=self.port, down=DOWN), encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        log = (self.dir / "nginx.out").open("ab")
        self.proc = subprocess.Popen([self.binary, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.dir / 'error.log').read_text(errors='replace')[-2000:]}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError("nginx did not start")

    def upstreams(self) -> list[str]:
        """The replica (host:port) that served each request so far, in order."""
        lines = (self.dir / "access.log").read_text(encoding="utf-8").splitlines()
        return [line.split()[0] for line in lines if line and line.split()[0] != "-"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
