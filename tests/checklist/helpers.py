"""A clean declared platform the rule tests start from, and running the check on a real file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from gureum.checklist import engine, load
from gureum.checklist.model import Finding

BASE: dict[str, Any] = {
    "database_url": "postgresql://gureum@db.kr.internal:5432/gureum",
    "redis_url": "redis://cache.kr.internal:6379/0",
    "providers": {
        "bedrock": {"kind": "bedrock", "region": "ap-northeast-2"},
        "openai": {"kind": "openai", "api_key": "${OPENAI_API_KEY}"},
        "local": {"kind": "local"},
    },
    "deployments": [
        {"name": "claude", "provider": "bedrock", "model": "anthropic.claude", "price": {"input": 3, "output": 15},
         "region": "kr", "tier": 4},
        {"name": "haiku", "provider": "bedrock", "model": "anthropic.haiku", "price": {"input": 0.8, "output": 4},
         "region": "kr", "tier": 2},
        {"name": "gpt-4o", "provider": "openai", "model": "gpt-4o", "price": {"input": 2.5, "output": 10},
         "region": "us", "tier": 4},
        {"name": "oa-embed", "provider": "openai", "model": "text-embedding-3-small", "kind": "embedding",
         "region": "us", "dimensions": 1536, "price": {"input": 0.02}},
        {"name": "kr-embed", "provider": "bedrock", "model": "cohere.embed", "kind": "embedding",
         "region": "kr", "dimensions": 1024, "price": {"input": 0.1}},
        {"name": "local-embed", "provider": "local", "model": "e5", "kind": "embedding", "region": "local",
         "dimensions": 384},
    ],
    "virtual_models": {"smart": {"candidates": ["claude", "haiku"], "strategy": "cost"}},
    "routing": {"fallbacks": {"claude": ["haiku"]}},
    "governance": {
        "defaults": {"tpm": 100000, "budgets": [{"scope": "tenant", "period": "month", "limit": 500}]},
        "tenants": {
            "acme": {"residency": ["kr-only"], "allowed_models": ["smart", "claude", "haiku"]},
            "globex": {"allowed_models": ["gpt-4o", "smart"]},
        },
    },
    "collections": [{"name": "handbook", "tenant": "acme", "embedder": "local-embed",
                     "default_acl": ["group:staff"], "answer_model": "smart"}],
    "check": {"regions": {"database": "kr", "redis": "kr"}},
}


def config(**changes: Any) -> dict[str, Any]:
    """BASE with dotted-path changes (`governance.tenants.acme.residency=[...]`); None deletes."""
    out = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(last)] = value
        elif value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return out


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "gureum.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def check(tmp_path: Path, data: dict[str, Any] | str) -> list[Finding]:
    return engine.run(load.from_file(write(tmp_path, data)))


def of(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """The 1-based line of the nth line containing `needle`."""
    hits = [i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in text]
    return hits[nth - 1]
