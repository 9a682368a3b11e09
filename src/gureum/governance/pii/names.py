"""PERSON: Korean and English personal names from gazetteers, context cues and kiwipiepy.

There is no offline NER model, so a name is a shape plus evidence. Korean: a known surname
followed by one or two syllables that occur in given names, ending at a word boundary or a
particle; evidence is a known given name, a cue before it (성명, 고객, 담당), a title or
honorific after it (님, 씨, 대리, 드림), or standing alone among non-Hangul text (a CSV cell, an
English sentence). Only candidates that are still ambiguous after that are sent to kiwipiepy,
with a few words either side, to ask whether the span is a proper noun (NNP) or a common word;
morphological analysis of all text would cost twenty times the rest of the engine.
English: a known given name, optionally with the capitalised surname after it, or capitalised
words right after a title (Dr.) or a cue word (cardholder, manager, Hi).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from gureum.governance.pii.entity import Entity
from gureum.governance.pii.gazetteers import (
    EN_AMBIGUOUS_GIVEN,
    EN_GIVEN_NAMES,
    EN_PERSON_CUES,
    EN_PLACE_PREFIXES,
    EN_SURNAMES,
    EN_TITLES,
    EN_WORD_GIVEN,
    KO_DISTINCT_SURNAMES,
    KO_DOUBLE_SURNAMES,
    KO_GIVEN_COMMON_WORDS,
    KO_GIVEN_NAMES,
    KO_NAME_SYLLABLES,
    KO_PARTICLES,
    KO_PERSON_CUES_BEFORE,
    KO_SURNAMES,
    KO_TITLES_AFTER,
    NOT_NAME_WORDS,
    ROMANIZED_KO_SURNAMES,
)
from gureum.korean import analyser

TYPE = "PERSON"
# Candidates below the engine's default threshold are not worth building Entities for.
_FLOOR = 0.5

_KO_GIVEN = KO_GIVEN_NAMES - KO_GIVEN_COMMON_WORDS


def _alternation(words: frozenset[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _charset(chars: frozenset[str]) -> str:
    return "[" + "".join(sorted(chars)) + "]"


# Every pattern opens with a character class and checks the character before it afterwards
# (`X(?<!Y.)`), which lets the regex engine skip straight to candidate characters.
_HONORIFICS = frozenset(t for t in KO_TITLES_AFTER if t[0] in "님씨")
_PARTICLES = frozenset(KO_PARTICLES)
_PARTICLE_ENDINGS = frozenset(p for p in KO_PARTICLES if len(p) == 1)
_SYL = _charset(KO_NAME_SYLLABLES)
_TITLES = _alternation(KO_TITLES_AFTER)
# Surname + two syllables (double surname + one or two); a one-syllable given name ("김구")
# only right before an honorific or title, since most such pairs are ordinary words.
_KO_CANDIDATE = re.compile(
    rf"(?P<name>(?:{_alternation(KO_DOUBLE_SURNAMES)})(?<![가-힣]..){_SYL}{{1,2}}"
    rf"|{_charset(KO_SURNAMES)}(?<![가-힣].){_SYL}(?:{_SYL}|(?=\s?(?:{_TITLES})(?![가-힣]))))"
    rf"(?P<suffix>{_alternation(_HONORIFICS | _PARTICLES)})?(?![가-힣])"
)
# A given name alone, called (진우야, 소연아) or addressed (민수 씨, 지훈님).
_KO_GIVEN_ONLY = re.compile(
    rf"{_charset(frozenset(n[0] for n in _KO_GIVEN))}(?<![가-힣].){_charset(frozenset(n[1] for n in _KO_GIVEN))}"
    rf"(?P<tail>아|야|\s?[님씨](?:{_alternation(_PARTICLES)})?)(?![가-힣])"
)
# A title only counts as a whole word, optionally with a particle: "대리님께", not "앞으로".
_KO_TITLE_AFTER = re.compile(
    rf"\s?(?:{_TITLES})(?:님)?(?:{_alternation(_PARTICLES)})?(?![가-힣])"
)
_KO_CUE_BEFORE = re.compile(rf"(?:{_alternation(KO_PERSON_CUES_BEFORE)})\s*[:：]?\s*['\"]?$")

# A capitalised word, also "O'Connor", "McDonald" and "Ji-hoon"; a run is up to six of them.
_EN_TAIL = r"(?:'[A-Z])?[a-z]+(?:[A-Z][a-z]+)?(?:-[A-Za-z][a-z]+)*"
_EN_RUN = re.compile(
    rf"[A-Z](?<![A-Za-z0-9_@.'-].){_EN_TAIL}(?: [A-Z]{_EN_TAIL}){{0,5}}(?![A-Za-z0-9_@])"
)
_EN_GIVEN = EN_GIVEN_NAMES | EN_AMBIGUOUS_GIVEN
_NEXT_PERSON = EN_GIVEN_NAMES - EN_SURNAMES  # "Cathy" starts a new name; "Martin" may end one
# Tokens that can open a name without a cue; runs without one are skipped cheaply.
_EN_ANCHORS = _EN_GIVEN | ROMANIZED_KO_SURNAMES
_EN_TITLE_CUES = frozenset(t.lower() for t in EN_TITLES)
_EN_CUES = frozenset(EN_PERSON_CUES) | _EN_TITLE_CUES
_EN_CUE_TAILS = frozenset(c.rsplit(" ", 1)[1] for c in _EN_CUES if " " in c)
_CUE_SEPARATORS = frozenset(" \t\n\"':=(,")
_CLAUSE_END = frozenset(",)/]·:;.!?\"'\n|")
_NOUN_TAGS = frozenset({"NNG", "NNP", "NNB", "NR", "NP", "XR"})


def find_names(text: str) -> Iterator[Entity]:
    """PERSON candidates in `text` (possibly overlapping; the engine resolves overlaps)."""
    yield from _korean_full_names(text)
    yield from _korean_given_names(text)
    yield from _english_names(text)


def _korean_full_names(text: str) -> Iterator[Entity]:
    for m in _KO_CANDIDATE.finditer(text):
        name, suffix = m["name"], m["suffix"] or ""
        given = name[2:] if name[:2] in KO_DOUBLE_SURNAMES else name[1:]
        known = given in _KO_GIVEN or name[:2] in KO_DISTINCT_SURNAMES
        # "진영은", "성함이": a word plus a particle, or a name ending in 은/이 ("김가은")? A topic
        # or subject particle is rarely followed by punctuation, so "정하은," is a name.
        particle_reading = (
            not suffix and len(given) == 2 and given[1] in _PARTICLE_ENDINGS and not _ends_clause(text, m.end())
        )
        if particle_reading and not known:
            name, suffix, given, particle_reading = name[:-1], name[-1], given[:1], False
        start, end = m.start(), m.start() + len(name)
        score = 0.25 if len(name) >= 3 else 0.05
        score += 0.3 * known
        if suffix in _HONORIFICS or (not suffix and _KO_TITLE_AFTER.match(text, end)):
            score += 0.35
        elif suffix:
            score += 0.05
        if _KO_CUE_BEFORE.search(text, max(0, start - 12), start) or _en_cue(text, start):
            score += 0.3
        if _stands_alone(text, start, m.end()):
            score += 0.2
        if particle_reading and score < 0.8:
            score += _kiwi_evidence(text, start, end, whole=True)
        elif not known and 0.35 <= score < 0.8:
            score += _kiwi_evidence(text, start, end, whole=False)
        if score >= _FLOOR:
            yield Entity(start, end, TYPE, round(min(score, 0.95), 2))


def _korean_given_names(text: str) -> Iterator[Entity]:
    for m in _KO_GIVEN_ONLY.finditer(text):
        if m.group()[:2] in _KO_GIVEN:
            score = 0.75 if m["tail"] in ("아", "야") else 0.7
            yield Entity(m.start(), m.start() + 2, TYPE, score)


def _ends_clause(text: str, end: int) -> bool:
    return end == len(text) or text[end] in _CLAUSE_END


def _stands_alone(text: str, start: int, end: int) -> bool:
    """The nearest letters on both sides are not Hangul: a table cell, a quoted SQL value, a
    Korean name inside English text. Commas alone do not separate: "A, B, C" is still prose."""
    before, after = reversed(text[max(0, start - 4) : start]), text[end : end + 4]
    return not _hangul_near(before) and not _hangul_near(after)


def _hangul_near(chars: Iterable[str]) -> bool:
    for ch in chars:
        if ch.isalnum():
            return "가" <= ch <= "힣"
    return False


def _kiwi_evidence(text: str, start: int, end: int, *, whole: bool) -> float:
    """+0.25 if kiwipiepy reads a proper noun starting at `start` (spanning the whole
    candidate if `whole`), -0.3 if it reads a common noun there, 0 for other readings (a
    verb or determiner reading of a rare name is kiwipiepy being unsure, not a counter-sign)."""
    lo, hi = max(0, start - 8), min(len(text), end + 8)
    needed = end - start if whole else 2
    for form_start, length, tag in _analyse(text[lo:hi]):
        if form_start == start - lo:
            if tag == "NNP" and length >= needed:
                return 0.25
            return -0.3 if tag in _NOUN_TAGS or length >= end - start else 0.0
    return -0.3


def _analyse(snippet: str) -> list[tuple[int, int, str]]:
    # Deliberately not cached: a cache would keep fragments of callers' text (names) alive
    # across requests, and the few calls per text cost little.
    return [(t.start, t.len, t.tag) for t in _kiwi().tokenize(snippet)]


def _kiwi() -> Any:
    # Loaded on first use: most texts never need it.
    return analyser()


def warm_up() -> None:
    """Load kiwipiepy's model now instead of inside the first request that needs it."""
    _analyse("받는 분 홍길동")


def _english_names(text: str) -> Iterator[Entity]:
    for m in _EN_RUN.finditer(text):
        run = m.group()
        tokens = run.split(" ")
        cue = _en_cue(text, m.start())
        if not cue and "-" not in run and _EN_ANCHORS.isdisjoint(tokens):
            continue
        pos, i = m.start(), 0
        while i < len(tokens):
            j, score = _english_name_at(tokens, i, cue)
            if j > i:
                end = pos + sum(len(t) + 1 for t in tokens[i:j]) - 1
                yield Entity(pos, end, TYPE, score)
                pos, i, cue = end + 1, j, _NO_CUE
                continue
            # A greeting or title inside the run ("Hi Natalie", "Dr Kim") cues the next token.
            cue = _cue_strength(tokens[i].lower())
            pos += len(tokens[i]) + 1
            i += 1


_NO_CUE, _CUE_WORD, _TITLE = 0, 1, 2


def _cue_strength(word: str) -> int:
    if word in _EN_TITLE_CUES:
        return _TITLE
    return _CUE_WORD if word in _EN_CUES else _NO_CUE


def _en_cue(text: str, start: int) -> int:
    """How strongly the word (or two) before `start` announces a name: a title ("Dr.") more
    than a cue word ("cardholder", "new hire"); 0 if neither."""
    i = start
    while i > 0 and start - i < 4 and text[i - 1] in _CUE_SEPARATORS:
        i -= 1
    j = _word_start(text, i)
    word = text[j:i].lower().rstrip(".")
    strength = _cue_strength(word)
    if not strength and word in _EN_CUE_TAILS and j > 1 and text[j - 1] == " ":
        strength = _cue_strength(f"{text[_word_start(text, j - 1) : j - 1].lower()} {word}")
    return strength


def _word_start(text: str, end: int) -> int:
    start = end
    while start > 0 and end - start < 16 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    return start


def _english_name_at(tokens: list[str], i: int, cue: int) -> tuple[int, float]:
    """(end index, score) of a name starting at tokens[i], or (i, 0) if none starts there."""
    first = tokens[i]
    if first in NOT_NAME_WORDS or (i and tokens[i - 1] in EN_PLACE_PREFIXES):
        return i, 0.0
    # The surname: up to two more capitalised words, stopping before a word that is not a
    # name or that starts the next person ("Frank Farian Cathy Bartney", a list without commas).
    j = i + 1
    while j < len(tokens) and j - i < 3 and tokens[j] not in NOT_NAME_WORDS and tokens[j] not in _NEXT_PERSON:
        j += 1
    rest = tokens[i + 1 : j]
    surname_known = bool(rest) and rest[-1] in EN_SURNAMES
    if first.split("-", 1)[0] in EN_GIVEN_NAMES and first not in EN_AMBIGUOUS_GIVEN:
        score = 0.75
    elif first in EN_AMBIGUOUS_GIVEN and (surname_known or cue or (rest and first not in EN_WORD_GIVEN)):
        score = 0.7
    elif first in ROMANIZED_KO_SURNAMES and rest and (rest[0] in EN_GIVEN_NAMES or "-" in rest[0]):
        score = 0.75
    elif "-" in first and rest and rest[0] in ROMANIZED_KO_SURNAMES:
        score = 0.7
    elif cue == _TITLE or (cue == _CUE_WORD and (rest or first in EN_SURNAMES)):
        # After a cue word an unknown single capitalised word is too often a thing
        # ("manager Approval"); after a title it is a surname ("Dr. Ahmed").
        score = 0.6
    else:
        return i, 0.0
    if surname_known:
        score += 0.15
    if cue:
        score += 0.1
    return j, round(min(score, 0.95), 2)
