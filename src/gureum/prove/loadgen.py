"""The load generator: a bounded async client in its own process (so its CPU is not the server's),
sending governed traffic for a fixed time at a fixed concurrency, optionally paced to a rate.

Every request carries its own `x-request-id` (`<prefix>-<n>`), so the suite can count each one in
the ledger and the audit log afterwards. The mix: chat with a Korean phone number in the prompt
(the PII guard masks it on the way out and restores it in the answer), streamed chat, embeddings.
Each prompt is unique, so nothing is a cache hit and every request reaches the provider.

    python -m gureum.prove.loadgen SPEC.json OUT.json

SPEC: {url, keys: [..], seconds, concurrency, rate (req/s, 0 = as fast as it goes), prefix,
timeout, models: {chat, embed}}. OUT: counts by status, latency percentiles, the ids of every
answered request and of every request whose outcome the client could not see (timeouts).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

PHONE = "010-{:04d}-{:04d}"


@dataclass
class Tally:
    statuses: dict[str, int] = field(default_factory=dict)
    answered: list[str] = field(default_factory=list)  # 2xx
    refused: list[str] = field(default_factory=list)  # a status other than 2xx: known outcome
    unknown: list[str] = field(default_factory=list)  # timeout / connection error: outcome unseen
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # first few problems, for the report
    leaked_placeholders: int = 0  # an answer that still shows <KR_PHONE_n> was not unmasked
    lost_pii: int = 0  # an answer that does not give the caller their own number back

    def note(self, problem: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(problem)


def _body(kind: str, n: int, models: dict[str, str]) -> dict[str, Any]:
    phone = PHONE.format(n // 10000 % 10000, n % 10000)
    if kind == "embed":
        return {"model": models["embed"], "input": [f"문서 {n}: 연락처 {phone}", f"passage {n}"]}
    return {"model": models["chat"], "stream": kind == "stream", "max_tokens": 64,
            "stream_options": {"include_usage": True} if kind == "stream" else None,
            "messages": [{"role": "user", "content": f"요청 {n}: 제 번호 {phone} 로 연락 주세요."}]}


def _text(resp_json: dict[str, Any]) -> str:
    try:
        return str(resp_json["choices"][0]["message"]["content"] or "")
    except (KeyError, IndexError, TypeError):
        return ""


async def _one(client: httpx.AsyncClient, spec: dict[str, Any], n: int, tally: Tally) -> None:
    kind = ("chat", "chat", "chat", "stream", "embed")[n % 5]
    rid = f"{spec['prefix']}-{n}"
    key = spec["keys"][n % len(spec["keys"])]
    body = _body(kind, n, spec["models"])
    body = {k: v for k, v in body.items() if v is not None}
    path = "/v1/embeddings" if kind == "embed" else "/v1/chat/completions"
    headers = {"authorization": f"Bearer {key}", "x-request-id": rid}
    t0 = time.perf_counter()
    try:
        if kind == "stream":
            status, text = await _stream(client, path, body, headers)
        else:
            r = await client.post(path, json=body, headers=headers)
            status = r.status_code
            text = _text(r.json()) if status == 200 and kind == "chat" else ""
            if status != 200:
                tally.note(f"{rid}: {status} {r.text[:200]}")
    except httpx.HTTPError as exc:
        tally.unknown.append(rid)
        tally.statuses[type(exc).__name__] = tally.statuses.get(type(exc).__name__, 0) + 1
        tally.note(f"{rid}: {type(exc).__name__}")
        return
    tally.latencies.append(time.perf_counter() - t0)
    tally.statuses[str(status)] = tally.statuses.get(str(status), 0) + 1
    (tally.answered if 200 <= status < 300 else tally.refused).append(rid)
    if status == 200 and kind != "embed":
        phone = PHONE.format(n // 10000 % 10000, n % 10000)
        if "<KR_PHONE" in text:
            tally.leaked_placeholders += 1
        elif phone not in text:
            tally.lost_pii += 1
            tally.note(f"{rid}: answer lacks the caller's own number: {text[:120]!r}")


async def _stream(client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
    parts: list[str] = []
    async with client.stream("POST", path, json=body, headers=headers) as r:
        if r.status_code != 200:
            await r.aread()
            return r.status_code, ""
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = orjson.loads(line[6:])
            if "error" in chunk:
                return 502, ""
            for choice in chunk.get("choices") or []:
                parts.append((choice.get("delta") or {}).get("content") or "")
    return 200, "".join(parts)


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    tally = Tally()
    limits = httpx.Limits(max_connections=spec["concurrency"], max_keepalive_connections=spec["concurrency"])
    timeout = httpx.Timeout(spec.get("timeout", 30.0))
    counter = itertools.count(spec.get("start", 0))
    stop_at = time.monotonic() + spec["seconds"]
    rate = float(spec.get("rate") or 0)
    interval = spec["concurrency"] / rate if rate else 0.0
    t_start = time.monotonic()

    async def worker(client: httpx.AsyncClient) -> None:
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            await _one(client, spec, next(counter), tally)
            if interval:
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async with httpx.AsyncClient(base_url=spec["url"], limits=limits, timeout=timeout) as client:
        await asyncio.gather(*(worker(client) for _ in range(spec["concurrency"])))
    wall = time.monotonic() - t_start
    lat = sorted(tally.latencies)

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2) if lat else 0.0

    return {
        "wall_seconds": round(wall, 2), "sent": len(tally.answered) + len(tally.refused) + len(tally.unknown),
        "statuses": tally.statuses, "answered": tally.answered, "refused": tally.refused, "unknown": tally.unknown,
        "rps": round(len(tally.answered) / wall, 1) if wall else 0.0,
        "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": round(lat[-1] * 1000, 1) if lat else 0.0,
        "errors": tally.errors, "leaked_placeholders": tally.leaked_placeholders, "lost_pii": tally.lost_pii,
    }


def main() -> None:
    spec = orjson.loads(Path(sys.argv[1]).read_bytes())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass  # asyncio's own loop is slower but measures the same thing (uvloop comes with uvicorn[standard])
    out = asyncio.run(run(spec))
    Path(sys.argv[2]).write_bytes(orjson.dumps(out))


if __name__ == "__main__":
    main()
