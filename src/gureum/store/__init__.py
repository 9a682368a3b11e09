"""The one store: PostgreSQL with pgvector, embedded or external by URL."""

from gureum.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
