"""Response caches: exact (normalised request) and semantic (meaning of the last turn, with a
term guard), shared through PostgreSQL/pgvector or Redis with an in-process LRU in front.

The knowledge layer calls `await bump_collection(collection_id)` whenever a collection's
documents change; cached answers of `rag/<collection_id>` are never served after that."""

from gureum.cache.service import Decision, Hit, Miss, ResponseCache, bump_collection, decide, storable
from gureum.cache.settings import CacheSettings

__all__ = ["CacheSettings", "Decision", "Hit", "Miss", "ResponseCache", "bump_collection", "decide", "storable"]
