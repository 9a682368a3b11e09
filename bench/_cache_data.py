"""Labelled request pairs for the semantic cache's equivalence model, and their fixed split.

Sources (a pair is `same`: one answer serves both, or `different`: a near miss):

- `bench/data/cache_pairs.jsonl` and `bench/data/cache_pairs_written.jsonl`: hand-written
  Korean, English and mixed pairs, each with a `kind` (paraphrase classes: synonym, register,
  spacing, typo, filler, abbreviation, cross_lingual, …; near-miss classes: direction,
  conversion, role_swap, possessive, quantity, date, negation, substitution, …);
- KLUE STS dev (CC BY-SA 4.0, read in place from shared/data/cache): similarity ≥ 4.0 is
  `same`, < 2.5 is `different`, the ambiguous middle is left out;
- KLUE NLI dev: contradictions are `different` (same topic and words, another meaning).

The split is fixed before anything is fitted: pairs that share a sentence form one group (so no
sentence is on both sides of a split), and each group goes to train / calibration / test by a
seeded hash of its smallest id — 60 / 20 / 20. The test fold is read only by
`bench/cache_quality.py`. So is the `fresh` fold: `bench/data/cache_pairs_fresh.jsonl`, written
after the first held-out run and before the calibration was revised (cross-fitted), all of it
held out.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GUREUM_SHARED_DIR", ROOT.parents[1] / "shared"))
WRITTEN = (ROOT / "bench/data/cache_pairs.jsonl", ROOT / "bench/data/cache_pairs_written.jsonl")
# Written after the first held-out run, to check the revised calibration on pairs nothing saw.
FRESH = ROOT / "bench/data/cache_pairs_fresh.jsonl"
SEED = "gureum-cache-2026-12"
FOLDS = (("train", 0.6), ("calibration", 0.2), ("test", 0.2))
STS_SAME, STS_DIFFERENT = 4.0, 2.5


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def written(paths: tuple[Path, ...] = WRITTEN, source: str = "written") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append({**json.loads(line), "source": source})
    return rows


def klue(shared: Path = SHARED) -> list[dict[str, Any]]:
    base = shared / "data" / "cache"
    rows: list[dict[str, Any]] = []
    for r in json.loads((base / "klue-sts-v1.1_dev.json").read_text(encoding="utf-8")):
        score = float(r["labels"]["label"])
        if STS_DIFFERENT <= score < STS_SAME:
            continue
        label = "same" if score >= STS_SAME else "different"
        rows.append({"id": r["guid"], "a": r["sentence1"], "b": r["sentence2"], "label": label, "lang": "ko",
                     "kind": f"klue_sts_{r['source'].split('-')[0]}", "source": "klue"})
    for r in json.loads((base / "klue-nli-v1.1_dev.json").read_text(encoding="utf-8")):
        if r["gold_label"] == "contradiction":
            rows.append({"id": r["guid"], "a": r["premise"], "b": r["hypothesis"], "label": "different", "lang": "ko",
                         "kind": "klue_nli_contradiction", "source": "klue"})
    return rows


def unit(key: str, salt: str = "") -> float:
    """A seeded hash of `key` in [0, 1]."""
    return int(hashlib.sha256(f"{SEED}{salt}|{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _fold(key: str) -> str:
    x = unit(key)
    edge = 0.0
    for name, share in FOLDS:
        edge += share
        if x < edge:
            return name
    return FOLDS[-1][0]


def assign_folds(rows: list[dict[str, Any]]) -> None:
    """Union-find over sentences: pairs that share a sentence land in one fold."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r in rows:
        a, b = find("t:" + _norm(r["a"])), find("t:" + _norm(r["b"]))
        if a != b:
            parent[max(a, b)] = min(a, b)
    first: dict[str, str] = {}
    for r in rows:
        root = find("t:" + _norm(r["a"]))
        first[root] = min(first.get(root, r["id"]), r["id"])
    for r in rows:
        r["group"] = first[find("t:" + _norm(r["a"]))]
        r["fold"] = _fold(r["group"])


def load(shared: Path = SHARED) -> list[dict[str, Any]]:
    rows = written() + klue(shared)
    assign_folds(rows)
    fresh = written((FRESH,), "fresh")
    for r in fresh:
        r["fold"] = "fresh"
    rows += fresh
    ids = [r["id"] for r in rows]
    if len(ids) != len(set(ids)):
        raise SystemExit("duplicate pair ids in the cache pair files")
    return rows
