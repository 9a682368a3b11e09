"""The one Korean morphological analyser (kiwipiepy) shared by every feature of a process.

Each `Kiwi()` costs about 0.25–0.5 GB and a second or two to load, so PII name detection, cache
term matching, lexical search and chunking all use this instance instead of their own. The typo
dictionary (about 0.25 GB of the default load) is left out: it corrects misspellings in
informal text, which none of these uses needs. It is loaded on first use unless the platform
preloads it (`preload_models`).
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_kiwi: Any = None


def analyser() -> Any:  # kiwipiepy ships no type information
    global _kiwi
    if _kiwi is None:
        with _lock:
            if _kiwi is None:
                from kiwipiepy import Kiwi  # type: ignore[import-untyped]

                _kiwi = Kiwi(num_workers=-1, load_typo_dict=False)
    return _kiwi


def loaded() -> bool:
    return _kiwi is not None
