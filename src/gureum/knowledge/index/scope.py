"""The ACL base query every read of chunks or documents made for a caller starts from.

`readable_chunks()` is THE base query — "the chunks of this collection, in this tenant, whose
ACL overlaps the caller's principals" — and dense search, lexical (BM25) search, their fusion and
every chunk or document lookup made for a caller start from it, inside the same SQL statement. A
chunk the caller may not read is never a row any later step sees: top-k is filled from readable
chunks only, BM25 statistics (N, avgdl, df) are summed over the ACL sets the caller may read, and
a document id the caller may not read is indistinguishable from one that does not exist. (BM25
reads postings, which carry their chunk's ACL set, through the same `acl && :principals`
predicate applied to `acl_sets` — `readable_sets()`; every candidate is then joined to
`readable_chunks()` before it is scored or returned. The ANN search is planned over the same
readable sets — `dense.py` — and every part of the plan selects from `readable_chunks()`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Scope:
    """Who is asking, about which collection."""

    tenant_id: str
    collection_id: str
    principals: tuple[str, ...]
    dims: int

    def params(self) -> dict[str, Any]:
        return {"tenant": self.tenant_id, "collection": self.collection_id, "principals": list(self.principals)}


def may_read(alias: str) -> str:
    """The ACL predicate on the row `alias` (a chunk or an ACL set): its ACL names one of `:principals`."""
    return f"{alias}.acl && CAST(:principals AS text[])"


def readable_chunks(scope: Scope) -> str:
    """THE base query: the chunks `scope.principals` may read in `scope.collection_id`.

    Parameters `:tenant`, `:collection` and `:principals` (from `Scope.params()`). The vector
    is cast to the collection's dimension so the planner can use that dimension's HNSW index;
    used as a `NOT MATERIALIZED` CTE, it is inlined into each search that starts from it.
    """
    d = int(scope.dims)
    return (
        f"SELECT c.id, c.document_id, c.acl_set_id, c.length, c.embedding::vector({d}) AS embedding FROM chunks c "
        f"WHERE c.tenant_id = :tenant AND c.collection_id = :collection AND c.dims = {d} AND {may_read('c')}"
    )


def readable_sets() -> str:
    """The ACL sets (with their chunk counts and lengths) `:principals` may read: BM25's statistics."""
    return f"SELECT s.id, s.n_chunks, s.total_len FROM acl_sets s WHERE s.collection_id = :collection AND {may_read('s')}"


def vector_literal(vec: Sequence[float] | np.ndarray) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vec) + "]"
