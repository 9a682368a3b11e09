"""Embedders: one small interface for every way of turning text into vectors.

`resolve(settings, name, providers)` maps a collection's `embedder` (a catalog model name of kind
`embedding`) to an implementation: the in-process e5 for the embedded local model, or the
provider adapter (OpenAI-compatible `/v1/embeddings`, Bedrock, Gemini, …) for anything else.
"""

from gureum.knowledge.embedders.base import Embedder, resolve

__all__ = ["Embedder", "resolve"]
