"""`gureum serve` and the embedded PostgreSQL it starts, as real processes: every way of stopping
the server (SIGTERM from systemd, Docker or Kubernetes; Ctrl-C) lets the request in flight finish
and stops the embedded server; a server killed outright leaves its PostgreSQL behind, and the next
start reuses it and stops it when it is done."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gureum.prove.harness import ADMIN_KEY, Server, Upstream, free_port, gureum_config, postmaster_pid, scratch


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    up.start()
    yield up
    up.stop()


@pytest.fixture()
def server(upstream: Upstream) -> Iterator[Server]:
    with scratch() as root:
        srv = Server(root / "srv", gureum_config(upstream, redis_url=None, database_url=None, port=free_port()))
        yield srv
        srv.kill()
        pid = postmaster_pid((srv.data_dir / "pg").resolve())
        if pid is not None:  # a failed test must not leave its server behind either
            from gureum.prove.harness import pg_ctl

            pg_ctl((srv.data_dir / "pg").resolve(), "stop")


def _pgdata(srv: Server) -> Path:
    return (srv.data_dir / "pg").resolve()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_drains_the_request_in_flight_and_stops_postgres(server: Server, sig: int) -> None:
    server.start()
    assert postmaster_pid(_pgdata(server)) is not None
    answers: list[httpx.Response] = []

    def call() -> None:  # the `delayed` model answers after 2 s: still in flight at the signal
        answers.append(httpx.post(f"{server.url}/v1/chat/completions", timeout=30,
                                  headers={"authorization": f"Bearer {ADMIN_KEY}"},
                                  json={"model": "delayed", "messages": [{"role": "user", "content": "hi"}]}))

    t = threading.Thread(target=call)
    t.start()
    threading.Event().wait(0.7)
    code = server.signal(sig, wait=60)
    t.join(30)
    assert code is not None, "the server did not exit"
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    assert postmaster_pid(_pgdata(server)) is None, "the embedded PostgreSQL was left running"


def test_a_killed_servers_postgres_is_reused_then_stopped(server: Server) -> None:
    server.start()
    left = postmaster_pid(_pgdata(server))
    server.kill()
    assert postmaster_pid(_pgdata(server)) == left  # SIGKILL runs no cleanup: it is orphaned
    server.start()
    assert postmaster_pid(_pgdata(server)) == left  # reused, not a second server on the same data
    r = httpx.get(f"{server.url}/v1/models", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
    assert r.status_code == 200
    assert server.signal(signal.SIGTERM, wait=60) is not None
    assert postmaster_pid(_pgdata(server)) is None, "the reused server was not stopped by its new user"
