"""Collections: a named set of documents with one embedding model, one chunking policy, a
residency tag, a default ACL, a PII policy and (optionally) the model that answers from it and
the rerank model that reorders what retrieval finds.

Reranking settings live in the row's `settings` object, which holds the settings a collection
may leave unset (their defaults are here, not in the table)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.cache import bump_collection
from gureum.config import Settings
from gureum.errors import InvalidRequest, NotFound
from gureum.knowledge import index
from gureum.knowledge.embedders import embedding_deployment

# Chunks are sized below what e5-small reads (512 tokens), leaving room for the title line
# that is embedded with every chunk.
DEFAULT_CHUNK_TOKENS = 400
DEFAULT_CHUNK_OVERLAP = 50
PiiPolicy = Literal["mask", "exclude", "allow"]
PII_POLICIES = ("mask", "exclude", "allow")
RERANK_CANDIDATES = 20  # fused hits a reranker scores by default
MAX_RERANK_CANDIDATES = 100  # the most hits one retrieval fetches (retrieve.MAX_K)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PRINCIPAL = re.compile(r"^(\*|user:[^\s,]+|group:[^\s,]+)$")


@dataclass(frozen=True, slots=True)
class Collection:
    id: str
    tenant_id: str
    name: str
    description: str
    embedder: str
    dimensions: int
    chunk_max_tokens: int
    chunk_overlap: int
    residency: str
    default_acl: tuple[str, ...]
    pii_policy: str
    answer_model: str | None
    created_at: datetime | None = None
    reranker: str | None = None
    rerank_candidates: int = RERANK_CANDIDATES

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Collection:
        extra = row.get("settings") or {}
        return cls(
            id=row["id"], tenant_id=row["tenant_id"], name=row["name"], description=row.get("description") or "",
            embedder=row["embedder"], dimensions=int(row["dimensions"]), chunk_max_tokens=int(row["chunk_max_tokens"]),
            chunk_overlap=int(row["chunk_overlap"]), residency=row["residency"],
            default_acl=tuple(row["default_acl"] or ()), pii_policy=row["pii_policy"],
            answer_model=row.get("answer_model"), created_at=row.get("created_at"), reranker=extra.get("reranker"),
            rerank_candidates=int(extra.get("rerank_candidates") or RERANK_CANDIDATES),
        )

    def public(self, **extra: Any) -> dict[str, Any]:
        return {
            "id": self.id, "object": "collection", "name": self.name, "tenant_id": self.tenant_id,
            "description": self.description, "embedder": self.embedder, "dimensions": self.dimensions,
            "chunking": {"max_tokens": self.chunk_max_tokens, "overlap": self.chunk_overlap},
            "residency": self.residency, "default_acl": list(self.default_acl), "pii_policy": self.pii_policy,
            "answer_model": self.answer_model, "reranker": self.reranker, "rerank_candidates": self.rerank_candidates,
            "model": f"rag/{self.name}",
            "created_at": self.created_at.isoformat() if self.created_at else None, **extra,
        }


def check_acl(acl: list[str] | tuple[str, ...], param: str = "acl") -> list[str]:
    """Principal names: `*` (everyone in the tenant), `user:<id>`, `group:<name>`."""
    out = []
    for a in acl:
        a = a.strip()
        if not _PRINCIPAL.match(a):
            raise InvalidRequest(f"'{a}' is not a principal: use '*', 'user:<id>' or 'group:<name>'", param=param)
        out.append(a)
    return index.normalise_acl(out)


def default_embedder(settings: Settings) -> str:
    names = [d.name for d in settings.deployments if d.kind == "embedding"]
    if not names:
        raise InvalidRequest("the catalog has no embedding model; add a deployment with kind: embedding")
    return "local-embed" if "local-embed" in names else names[0]


def check_reranker(settings: Settings, name: str) -> str:
    """`name`, if the catalog has it as a rerank model (a name or deployment id of kind `rerank`)."""
    deps = [d for d in settings.deployments if d.kind == "rerank"]
    if not any(name in (d.name, d.deployment_id) for d in deps):
        known = ", ".join(sorted({d.name for d in deps})) or "none; add a deployment with kind: rerank"
        raise InvalidRequest(f"'{name}' is not a rerank model in the catalog (rerank models: {known})",
                             param="reranker")
    return name


def _rerank_settings(settings: Settings, values: dict[str, Any]) -> dict[str, Any]:
    """The checked reranking entries of `values` for the row's `settings` object; an explicit
    None for `reranker` (an update) turns reranking off."""
    out: dict[str, Any] = {}
    if "reranker" in values:
        out["reranker"] = None if values["reranker"] is None else check_reranker(settings, values["reranker"])
    candidates = values.get("rerank_candidates")
    if candidates is not None:
        if not 1 <= candidates <= MAX_RERANK_CANDIDATES:
            raise InvalidRequest(f"rerank_candidates must be between 1 and {MAX_RERANK_CANDIDATES}",
                                 param="rerank_candidates")
        out["rerank_candidates"] = candidates
    return out


async def create(
    engine: AsyncEngine,
    settings: Settings,
    tenant_id: str,
    name: str,
    *,
    description: str = "",
    embedder: str | None = None,
    chunk_max_tokens: int | None = None,
    chunk_overlap: int | None = None,
    residency: str | None = None,
    default_acl: list[str] | None = None,
    pii_policy: str = "mask",
    answer_model: str | None = None,
    reranker: str | None = None,
    rerank_candidates: int | None = None,
    exist_ok: bool = False,
) -> Collection:
    if not _NAME.match(name):
        raise InvalidRequest("collection names are 1-64 letters, digits, '.', '_' or '-'", param="name")
    if pii_policy not in PII_POLICIES:
        raise InvalidRequest(f"pii_policy must be one of {', '.join(PII_POLICIES)}", param="pii_policy")
    embedder = embedder or default_embedder(settings)
    dep = embedding_deployment(settings, embedder)
    max_tokens = chunk_max_tokens or min(DEFAULT_CHUNK_TOKENS, max(64, dep.context_window - 64))
    overlap = DEFAULT_CHUNK_OVERLAP if chunk_overlap is None else chunk_overlap
    if not 0 <= overlap < max_tokens:
        raise InvalidRequest("chunk overlap must be >= 0 and smaller than the chunk size", param="chunk_overlap")
    extra = _rerank_settings(settings, {"reranker": reranker, "rerank_candidates": rerank_candidates})
    row = {
        "tenant_id": tenant_id, "name": name, "description": description, "embedder": embedder,
        "dimensions": dep.dimensions, "chunk_max_tokens": max_tokens, "chunk_overlap": overlap,
        "residency": residency or dep.region, "default_acl": check_acl(default_acl or ["*"], "default_acl"),
        "pii_policy": pii_policy, "answer_model": answer_model, "settings": orjson.dumps(extra).decode(),
    }
    got = await index.insert_collection(engine, row)
    if got is None:
        if exist_ok:
            return await get(engine, tenant_id, name)
        raise InvalidRequest(f"collection '{name}' already exists", code="already_exists", param="name")
    return Collection.from_row(got)


async def get(engine: AsyncEngine, tenant_id: str, name: str) -> Collection:
    row = await index.get_collection(engine, tenant_id, name)
    if row is None:
        raise NotFound(f"no collection '{name}'", param="collection")
    return Collection.from_row(row)


async def find(engine: AsyncEngine, tenant_id: str, name: str) -> Collection | None:
    row = await index.get_collection(engine, tenant_id, name)
    return Collection.from_row(row) if row else None


async def list_all(engine: AsyncEngine, tenant_id: str) -> list[dict[str, Any]]:
    out = []
    for row in await index.list_collections(engine, tenant_id):
        out.append(Collection.from_row(row).public(documents=int(row["documents"]), chunks=int(row["chunks"])))
    return out


async def of_tenant(engine: AsyncEngine, tenant_id: str) -> list[Collection]:
    return [Collection.from_row(row) for row in await index.list_collections(engine, tenant_id)]


async def update(engine: AsyncEngine, settings: Settings, col: Collection, changes: dict[str, Any]) -> Collection:
    rerank: dict[str, Any] = {k: changes.pop(k) for k in ("reranker", "rerank_candidates") if k in changes}
    if rerank:
        changes["settings"] = orjson.dumps(_rerank_settings(settings, rerank)).decode()
    if "default_acl" in changes:
        changes["default_acl"] = check_acl(changes["default_acl"], "default_acl")
    if "pii_policy" in changes and changes["pii_policy"] not in PII_POLICIES:
        raise InvalidRequest(f"pii_policy must be one of {', '.join(PII_POLICIES)}", param="pii_policy")
    await index.update_collection(engine, col.id, changes)
    # A new default ACL or policy changes what answers may hold.
    await bump_collection(col.tenant_id, col.name, engine)
    return await get(engine, col.tenant_id, col.name)


async def delete(engine: AsyncEngine, col: Collection) -> None:
    await index.delete_collection(engine, col.id)
    await documents_changed(engine, col)


async def documents_changed(engine: AsyncEngine, col: Collection,
                            on_build: Callable[[int, int], None] | None = None, *,
                            maintain_indexes: bool = True) -> None:
    """After documents or their ACLs changed: cached answers that may quote them are void, and
    the ACL sets' own indexes converge on the sets' new sizes (`on_build` as in
    `index.maintain_set_indexes`) — unless the caller hands that to a job (`maintain_indexes`)."""
    await bump_collection(col.tenant_id, col.name, engine)
    if maintain_indexes:
        await index.maintain_set_indexes(engine, on_build=on_build)


def scope(col: Collection, principals: list[str] | tuple[str, ...]) -> index.Scope:
    return index.Scope(col.tenant_id, col.id, tuple(principals), col.dimensions)
