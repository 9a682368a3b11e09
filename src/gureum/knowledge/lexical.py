"""Lexical terms for BM25: Korean morphemes (kiwipiepy) and English words, from one tokenizer.

Kiwi segments mixed Korean/English text and tags every morpheme. We keep the content-bearing
ones — nouns (NNG, NNP, NR), roots (XR), verb and adjective stems (VV, VA), foreign words (SL),
hanja (SH) and numbers (SN) — and drop particles, endings, suffixes and punctuation, which carry
no topic. English words (kiwi tags them SL) are lower-cased, stop words removed, and reduced with
the Porter stemmer so that "represented" and "representing" meet. Verb/adjective stems are kept
with a `다` suffix so that the stem 가 (to go) never collides with the noun 가 (edge).

Queries and documents go through the same function; the index stores term frequencies per chunk
(`chunk_terms`) and BM25 is computed in PostgreSQL from them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_KEEP = frozenset({"NNG", "NNP", "NR", "XR", "SL", "SH", "SN", "VV", "VA"})
_STEM_TAGS = frozenset({"VV", "VA"})
# Very frequent verb stems that behave like function words.
_KO_STOP = frozenset({"있다", "없다", "하다", "되다", "않다", "같다", "이다", "아니다"})
_EN_STOP = frozenset(
    ["a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "s", "t", "don"]
)
_WORD = re.compile(r"[0-9a-z]+")

def _tokenizer():  # type: ignore[no-untyped-def]
    from gureum.korean import analyser

    return analyser()


def _latin(form: str) -> list[str]:
    out = []
    for w in _WORD.findall(form.lower()):
        if w in _EN_STOP:
            continue
        out.append(w if w.isdigit() else stem(w))
    return out


def _terms_of(tokens: Iterable) -> list[str]:  # type: ignore[type-arg]
    out: list[str] = []
    for tok in tokens:
        tag = tok.tag.split("-")[0]  # kiwi marks irregular conjugations as VV-I / VA-R
        if tag not in _KEEP:
            continue
        if tag == "SL" or tag == "SN":
            out.extend(_latin(tok.form))
        elif tag in _STEM_TAGS:
            form = tok.form + "다"
            if form not in _KO_STOP:
                out.append(form)
        else:
            out.append(tok.form.lower())
    return out


def terms(text: str) -> list[str]:
    """Index terms of `text`, in order (repeats kept: their count is the term frequency)."""
    if not text or not text.strip():
        return []
    return _terms_of(_tokenizer().tokenize(text))


_HANGUL = re.compile(r"[\uac00-\ud7a3]")
# A Latin-script sentence ends at . ! or ? (and closing quotes/brackets) before a capital or digit.
_LATIN_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


def sentences(text: str) -> list[str]:
    """Sentences: kiwi's split (Korean endings and punctuation), then pieces without Hangul split
    again at Latin sentence ends, which kiwi leaves joined. Empty pieces dropped."""
    if not text or not text.strip():
        return []
    return analyze(text)[0]


def analyze(text: str) -> tuple[list[str], list[str]]:
    """Sentences and index terms of `text` from one kiwi analysis (ingestion needs both)."""
    if not text or not text.strip():
        return [], []
    out: list[str] = []
    words: list[str] = []
    for s in _tokenizer().split_into_sents(text, return_tokens=True):
        words.extend(_terms_of(s.tokens or ()))
        piece = s.text.strip()
        if not piece:
            continue
        if _HANGUL.search(piece):
            out.append(piece)
        else:
            out.extend(p.strip() for p in _LATIN_END.split(piece) if p.strip())
    return out or [text.strip()], words


def term_counts(text: str) -> Counter[str]:
    return Counter(terms(text))


def batch_terms(texts: Iterable[str]) -> list[list[str]]:
    return [terms(t) for t in texts]


# --- Porter stemmer (M. F. Porter, 1980), the classic English suffix stripper --------------------

_VOWELS = frozenset("aeiou")


def _cons(w: str, i: int) -> bool:
    c = w[i]
    if c in _VOWELS:
        return False
    if c == "y":
        return i == 0 or not _cons(w, i - 1)
    return True


def _m(stem_: str) -> int:
    """The number of vowel-consonant sequences in `stem_` ([C](VC)^m[V])."""
    n, i, L = 0, 0, len(stem_)
    while i < L and _cons(stem_, i):
        i += 1
    while i < L:
        while i < L and not _cons(stem_, i):
            i += 1
        if i >= L:
            break
        n += 1
        while i < L and _cons(stem_, i):
            i += 1
    return n


def _has_vowel(s: str) -> bool:
    return any(not _cons(s, i) for i in range(len(s)))


def _double_cons(s: str) -> bool:
    return len(s) >= 2 and s[-1] == s[-2] and _cons(s, len(s) - 1)


def _cvc(s: str) -> bool:
    if len(s) < 3:
        return False
    return _cons(s, len(s) - 3) and not _cons(s, len(s) - 2) and _cons(s, len(s) - 1) and s[-1] not in "wxy"


_STEP2 = (
    ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("bli", "ble"),
    ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"),
    ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"),
    ("iviti", "ive"), ("biliti", "ble"), ("logi", "log"),
)
_STEP3 = (("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", ""))
_STEP4 = (
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism", "ate",
    "iti", "ous", "ive", "ize",
)


def stem(w: str) -> str:
    if len(w) <= 2:
        return w
    # 1a
    if w.endswith(("sses", "ies")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    # 1b
    extra = False
    if w.endswith("eed"):
        if _m(w[:-3]) > 0:
            w = w[:-1]
    elif w.endswith("ed") and _has_vowel(w[:-2]):
        w, extra = w[:-2], True
    elif w.endswith("ing") and _has_vowel(w[:-3]):
        w, extra = w[:-3], True
    if extra:
        if w.endswith(("at", "bl", "iz")):
            w += "e"
        elif _double_cons(w) and w[-1] not in "lsz":
            w = w[:-1]
        elif _m(w) == 1 and _cvc(w):
            w += "e"
    # 1c
    if w.endswith("y") and _has_vowel(w[:-1]):
        w = w[:-1] + "i"
    # 2, 3
    for table in (_STEP2, _STEP3):
        for suf, rep in table:
            if w.endswith(suf):
                if _m(w[: -len(suf)]) > 0:
                    w = w[: -len(suf)] + rep
                break
    # 4
    for suf in _STEP4:
        if w.endswith(suf):
            base = w[: -len(suf)]
            if _m(base) > 1 and (suf != "ion" or base.endswith(("s", "t"))):
                w = base
            break
    # 5
    if w.endswith("e"):
        base = w[:-1]
        if _m(base) > 1 or (_m(base) == 1 and not _cvc(base)):
            w = base
    if _double_cons(w) and w.endswith("l") and _m(w) > 1:
        w = w[:-1]
    return w


__all__ = ["analyze", "batch_terms", "sentences", "stem", "term_counts", "terms"]
