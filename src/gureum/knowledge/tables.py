"""Knowledge tables: collections, documents, chunks with their vectors and lexical postings, and
the per-ACL statistics BM25 needs.

ACL model. A document's ACL is a list of principal names (`*`, `user:<id>`, `group:<g>`); every
chunk carries a copy (`chunks.acl`, GIN-indexed) so the index query filters with one array
overlap, `acl && :principals`. Chunks with the same ACL in a collection share an `acl_sets` row
that keeps their count and total length, and `term_stats` keeps document frequencies per ACL set:
BM25's N, avgdl and df are summed over the sets the caller may read, so a score never depends on
a chunk the caller cannot see.

Vectors live in one `vector` column of any dimension (each collection fixes its embedder); an
HNSW index per dimension is a partial expression index created when a collection of that
dimension first appears (`hnsw_index_ddl`); a large ACL set also gets one of its own
(`index/set_indexes.py`), searched unfiltered by the callers who may read it. A chunk's vector is the mean of its sentences'
vectors (`chunk_sentences`), which score the candidates.

Only the `knowledge/index/` package queries these tables.
"""

from __future__ import annotations

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from gureum.store.tables import metadata

collections = Table(
    "collections",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("embedder", Text, nullable=False),
    Column("dimensions", Integer, nullable=False),
    Column("chunk_max_tokens", Integer, nullable=False),
    Column("chunk_overlap", Integer, nullable=False),
    Column("residency", Text, nullable=False, server_default="local"),
    Column("default_acl", ARRAY(Text), nullable=False),
    Column("pii_policy", Text, nullable=False, server_default="mask"),
    Column("answer_model", Text),
    Column("settings", JSONB, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "name", name="collections_tenant_name"),
)

acl_sets = Table(
    "acl_sets",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("collection_id", Text, ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
    Column("acl", ARRAY(Text), nullable=False),  # sorted, distinct
    Column("n_chunks", BigInteger, nullable=False, server_default="0"),
    Column("total_len", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("collection_id", "acl", name="acl_sets_collection_acl"),
    Index("acl_sets_acl", "acl", postgresql_using="gin"),
)

documents = Table(
    "documents",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("collection_id", Text, ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("uri", Text, nullable=False),
    Column("title", Text, nullable=False, server_default=""),
    Column("media_type", Text),
    Column("content_hash", Text, nullable=False),
    Column("acl", ARRAY(Text), nullable=False),
    Column("acl_source", Text, nullable=False, server_default="default"),  # source | default | admin
    Column("acl_set_id", BigInteger, nullable=False),
    Column("residency", Text),
    Column("pii_types", ARRAY(Text), nullable=False, server_default="{}"),
    Column("n_chunks", Integer, nullable=False, server_default="0"),
    Column("tokens", Integer, nullable=False, server_default="0"),
    Column("metadata", JSONB, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("collection_id", "uri", name="documents_collection_uri"),
    Index("documents_acl", "acl", postgresql_using="gin"),
)

chunks = Table(
    "chunks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("document_id", BigInteger, ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
    Column("collection_id", Text, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("acl", ARRAY(Text), nullable=False),
    Column("acl_set_id", BigInteger, nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("heading_path", ARRAY(Text), nullable=False, server_default="{}"),
    Column("page", Integer),
    Column("start_offset", Integer, nullable=False, server_default="0"),
    Column("end_offset", Integer, nullable=False, server_default="0"),
    Column("tokens", Integer, nullable=False, server_default="0"),
    Column("length", Integer, nullable=False, server_default="0"),  # lexical terms (BM25 dl)
    Column("pii_types", ARRAY(Text), nullable=False, server_default="{}"),
    Column("dims", SmallInteger, nullable=False),
    Column("embedding", Vector(), nullable=False),
    Index("chunks_collection", "collection_id"),
    Index("chunks_document", "document_id"),
    Index("chunks_acl", "acl", postgresql_using="gin"),
    Index("chunks_acl_set", "acl_set_id"),  # the rows of small readable sets, scored exactly
)

# Sentence vectors of each chunk ("small-to-big"): a question usually targets one sentence, and
# one vector for a whole chunk dilutes it. The chunk's own vector (for the HNSW index) is the
# normalised mean of these; the dense score of a candidate chunk is its best sentence.
chunk_sentences = Table(
    "chunk_sentences",
    metadata,
    Column("chunk_id", BigInteger, primary_key=True),
    Column("ord", SmallInteger, primary_key=True),
    Column("collection_id", Text, nullable=False),
    Column("embedding", Vector(), nullable=False),
)

# Lexical postings: term frequency per chunk, with the chunk's length and ACL set copied in, so
# BM25 reads postings through one covering index (an index-only scan, no chunk lookups) and
# filters them by the caller's readable ACL sets. Kept in step with `chunks` by index/write.py's
# transactions (an ACL change rewrites `acl_set_id` in the same transaction).
chunk_terms = Table(
    "chunk_terms",
    metadata,
    Column("collection_id", Text, nullable=False),
    Column("term", Text, nullable=False),
    Column("chunk_id", BigInteger, nullable=False),
    Column("tf", SmallInteger, nullable=False),
    Column("dl", Integer, nullable=False),
    Column("acl_set_id", BigInteger, nullable=False),
    Index("chunk_terms_postings", "collection_id", "term", postgresql_include=["chunk_id", "tf", "dl", "acl_set_id"]),
    Index("chunk_terms_chunk", "chunk_id"),
)

term_stats = Table(
    "term_stats",
    metadata,
    Column("collection_id", Text, primary_key=True),
    Column("term", Text, primary_key=True),
    Column("acl_set_id", BigInteger, primary_key=True),
    Column("df", BigInteger, nullable=False),
)


# Graph parameters of every HNSW index (pgvector's defaults).
HNSW_WITH = "m = 16, ef_construction = 64"


def hnsw_index_ddl(dimensions: int) -> str:
    """The partial HNSW index for one vector size (cosine distance)."""
    d = int(dimensions)
    return (
        f"CREATE INDEX IF NOT EXISTS chunks_embedding_hnsw_{d} ON chunks "
        f"USING hnsw ((embedding::vector({d})) vector_cosine_ops) WITH ({HNSW_WITH}) "
        f"WHERE dims = {d}"
    )


__all__ = [
    "HNSW_WITH", "acl_sets", "chunk_sentences", "chunk_terms", "chunks", "collections", "documents", "hnsw_index_ddl",
    "term_stats",
]
