"""The index: every SQL statement that reads or writes collections, documents, chunks, vectors,
postings and their statistics lives in this package, and nowhere else.

* `scope` — `Scope` and `readable_chunks()`, THE ACL base query every read for a caller starts
  from, inside the same SQL statement;
* `dense` — the per-query plan of where ANN candidates come from (own set indexes, exact
  scoring, the shared index);
* `read` — hybrid search, the exact/ANN dense helpers, readable documents;
* `write` — collection rows, document replacement and deletion, ACL changes, statistics upkeep;
* `set_indexes` — own HNSW indexes for large ACL sets, built and dropped concurrently.
"""

from gureum.knowledge.index.dense import DensePlan
from gureum.knowledge.index.read import (
    Hit,
    ann_dense,
    dense_plan,
    exact_dense,
    managed_document,
    readable_chunk_count,
    readable_document,
    readable_documents,
    search,
)
from gureum.knowledge.index.scope import Scope, readable_chunks, vector_literal
from gureum.knowledge.index.set_indexes import Maintained
from gureum.knowledge.index.set_indexes import maintain as maintain_set_indexes
from gureum.knowledge.index.set_indexes import pending as set_indexes_pending
from gureum.knowledge.index.write import (
    ChunkRow,
    DocumentRow,
    delete_collection,
    delete_document,
    delete_documents_by_uri,
    document_hashes,
    ensure_vector_index,
    get_collection,
    insert_collection,
    list_collections,
    normalise_acl,
    replace_documents,
    set_document_acl,
    update_collection,
)

__all__ = [
    "ChunkRow",
    "DensePlan",
    "DocumentRow",
    "Hit",
    "Maintained",
    "Scope",
    "ann_dense",
    "delete_collection",
    "delete_document",
    "delete_documents_by_uri",
    "dense_plan",
    "document_hashes",
    "ensure_vector_index",
    "exact_dense",
    "get_collection",
    "insert_collection",
    "list_collections",
    "maintain_set_indexes",
    "managed_document",
    "normalise_acl",
    "readable_chunk_count",
    "readable_chunks",
    "readable_document",
    "readable_documents",
    "replace_documents",
    "search",
    "set_document_acl",
    "set_indexes_pending",
    "update_collection",
    "vector_literal",
]
