"""TCP servers that misbehave at the socket: a provider resetting connections, one that never
answers, one that sends the start of an answer and then drops or stalls. Clients meet them over
real sockets, so what they raise is what they raise in production."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

_RST = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # SO_LINGER on, 0 s: close() sends a reset, not a FIN


def _read_request(conn: socket.socket) -> None:
    """Read one HTTP request (headers and a Content-Length body), so an answer never races the
    client still writing."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            return
        body += piece


@contextmanager
def raw_server(answer: bytes = b"", then: Literal["reset", "hang"] = "reset", after: float = 0.0) -> Iterator[str]:
    """Accept connections, read the request, send `answer` (raw bytes: an HTTP response or the
    start of one), then reset the connection (`after` seconds later, so the client has read the
    answer first) or hold it open without a further byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            conn.settimeout(5)
            try:
                _read_request(conn)
                if answer:
                    conn.sendall(answer)
            except OSError:
                pass
            if then == "hang":
                held.append(conn)
                continue
            stop.wait(after)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST)
            conn.close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        t.join(2)
        for conn in held:
            conn.close()
        sock.close()


@contextmanager
def resetting_server() -> Iterator[str]:
    """A provider resetting every connection."""
    with raw_server() as url:
        yield url


@contextmanager
def refusing_port() -> Iterator[str]:
    """A loopback address nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield f"http://127.0.0.1:{port}"
