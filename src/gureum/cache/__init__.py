"""Response caches: exact (normalised request) and semantic (meaning of the last turn, decided by
a learned, calibrated equivalence model), shared through PostgreSQL/pgvector or Redis with an in-process LRU in front.

The knowledge layer calls `await bump_collection(tenant_id, name, engine)` whenever a collection's
documents change; cached answers of that tenant's `rag/<name>` are never served after that. `DELETE /v1/cache`
(`gureum.api.cache`) purges by tenant, model or collection."""

from gureum.cache.service import Decision, Hit, Miss, ResponseCache, bump_collection, decide, storable
from gureum.cache.settings import CacheSettings

__all__ = ["CacheSettings", "Decision", "Hit", "Miss", "ResponseCache", "bump_collection", "decide", "storable"]
