"""Embedders: the one small interface through which the knowledge layer turns text into vectors.
The platform implements it on the governed flow (`gureum.flow.embedder`), so ingestion and
retrieval embeddings are accounted, audited and held to residency like every model call."""

from gureum.knowledge.embedders.base import Embedder, embedding_deployment, normalise

__all__ = ["Embedder", "embedding_deployment", "normalise"]
