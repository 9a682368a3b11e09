"""The features of a (new request, stored request) pair that the equivalence model weighs.

The two requests' content terms are aligned — same lexicon group or lemma, a compound written
with or without a space (재택근무 / 재택 근무), or a typo (jamo-level similarity) — and the
alignment is read for what changes an answer:

- a term on each side that the other lacks (a substitution: 환불 → 교환, Gold → Platinum),
  or on one side only (a qualifier added);
- aligned terms whose roles differ: source vs goal, possessor vs beneficiary, and pairs of
  terms that exchanged roles (서울에서 부산으로 vs 부산에서 서울로, dollars to won vs won to dollars);
- English word order of the aligned bare terms (Samsung bought Harman vs Harman bought Samsung);
- numbers with units, negation, question frame, language and length.

Every feature is a float, named in `NAMES`; the model file stores its weights by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gureum.cache.analysis import LEXICON, Analysis, Term
from gureum.cache.lexicon import OPPOSITES

NAMES: tuple[str, ...] = (
    "cos", "cos_hi", "cross_lang", "shared_frac", "unmatched_q", "unmatched_s", "substitution", "sub_entity",
    "sub_pred_only", "sub_known", "opposite", "extra_noun", "extra_pred", "extra_entity", "sub_nouns",
    "typo", "abbrev", "compound", "num_same", "num_diff", "num_one",
    "neg_diff", "frame_conflict", "frame_one", "role_change", "modifier_added", "role_soft", "order_inv", "len_ratio",
    "few_terms", "clean", "cos_clean", "cross_sub", "cross_sub_known", "cross_cos",
)

_MARKED = frozenset({"src", "goal", "at", "poss", "ben", "with", "by"})
# Roles one term cannot trade without changing the question (prepositions such as on/for/in vary
# freely between paraphrases; from/to and of/for do not).
_CONFLICTING = frozenset({frozenset({"src", "goal"}), frozenset({"poss", "ben"})})
_CHO = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_JUNG = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_JONG = " ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"


_OPPOSITE = frozenset(frozenset(line.split()) for line in OPPOSITES.splitlines() if line.strip())
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)(\D*)$")


def _number(form: str) -> tuple[str, str] | None:
    m = _NUMBER.match(form)
    return (m.group(1), m.group(2)) if m else None


def known(t: Term) -> bool:
    return t.form in LEXICON


def same_number(a: str, b: str) -> bool:
    """2 and "2 people" agree (a unit left out); 3월 and 3일 do not."""
    na, nb = _number(a), _number(b)
    return na is not None and nb is not None and na[0] == nb[0] and (na[1] == nb[1] or not na[1] or not nb[1])


def _numbers(q: frozenset[str], s: frozenset[str]) -> tuple[bool, bool]:
    """(a number was changed, a number is on one side only)."""
    only_q = [a for a in q if not any(same_number(a, b) for b in s)]
    only_s = [b for b in s if not any(same_number(a, b) for a in q)]
    return bool(only_q and only_s), bool(only_q) != bool(only_s)


def jamo(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch) - 0xAC00
        if 0 <= code < 11172:
            out += [_CHO[code // 588], _JUNG[(code % 588) // 28], _JONG[code % 28].strip()]
        else:
            out.append(ch)
    return "".join(out)


def edits(a: str, b: str) -> int:
    """Optimal-string-alignment distance (insert, delete, substitute, swap neighbours)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def typo(a: str, b: str) -> bool:
    """The same word misspelt: one edit in at least five letters or jamo (환뷸 / 환불, cancle /
    cancel; four letters in English: rooom / room), two in at least nine. Never for numbers."""
    if a[:1].isdigit() or b[:1].isdigit():
        return False
    ja, jb = jamo(a), jamo(b)
    n = min(len(ja), len(jb))
    if n < (4 if a.isascii() else 5) or abs(len(ja) - len(jb)) > 2:
        return False
    return edits(ja, jb) <= (2 if n >= 9 else 1)


def abbreviation(short: str, long: str) -> bool:
    """A Korean clipped word: 법카 / 법인카드, 카톡 / 카카오톡 — the same first syllable, and the
    short form's syllables in order inside the long one."""
    if not (2 <= len(short) <= 3 and len(long) > len(short)) or short[0] != long[0] or not short[0] >= "\uac00":
        return False
    return _subsequence(short[1:], long[1:])


@dataclass(slots=True)
class Alignment:
    pairs: list[tuple[Term, Term, str]]  # (new, stored, how: "same" | "compound" | "typo" | "abbrev")
    only_q: list[Term]
    only_s: list[Term]


def _take(rest_q: list[Term], rest_s: list[Term], pairs: list[tuple[Term, Term, str]], how: str,
          match: object) -> None:
    for tq in list(rest_q):
        ts = next((t for t in rest_s if match(tq, t)), None)  # type: ignore[operator]
        if ts is not None:
            pairs.append((tq, ts, how))
            rest_q.remove(tq)
            rest_s.remove(ts)


def _subsequence(short: str, long: str) -> bool:
    rest = iter(long)
    return all(ch in rest for ch in short)


def _acronyms(rest_q: list[Term], rest_s: list[Term], pairs: list[tuple[Term, Term, str]]) -> None:
    """MFA / multi-factor authentication, WFH / working from home: an acronym stands for the
    terms of the other side whose first letters spell it, in order (prepositions may be skipped)."""
    for acro_side, words_side, flip in ((rest_q, rest_s, False), (rest_s, rest_q, True)):
        for a in list(acro_side):
            if not (a.entity and 2 <= len(a.form) <= 5 and a.form.isascii() and a.form.isalpha()):
                continue
            words = sorted(words_side, key=lambda t: t.pos)
            for start in range(len(words)):
                run = words[start : start + len(a.form)]
                letters = "".join(t.form[:1] for t in run)
                if len(run) >= 2 and letters[0] == a.form[0] and _subsequence(letters, a.form) \
                        and len(letters) >= len(a.form) - 1:
                    acro_side.remove(a)
                    for t in run:
                        words_side.remove(t)
                        pairs.append((t, a, "abbrev") if flip else (a, t, "abbrev"))
                    break


def align(q: Analysis, s: Analysis) -> Alignment:
    rest_q, rest_s = list(q.terms), list(s.terms)
    pairs: list[tuple[Term, Term, str]] = []
    _take(rest_q, rest_s, pairs, "same",
          lambda a, b: bool(a.keys & b.keys) or a.form == b.form or same_number(a.form, b.form))
    # A compound on one side written as two terms on the other (재택근무 vs 재택 + 근무).
    for whole, parts, flip in ((rest_q, rest_s, False), (rest_s, rest_q, True)):
        for w in list(whole):
            for x in list(parts):
                tail = w.form[len(x.form) :] if w.form.startswith(x.form) and w.form != x.form else None
                y = next((p for p in parts if p is not x and p.form == tail), None) if tail else None
                if y is not None:
                    whole.remove(w)
                    parts.remove(x)
                    parts.remove(y)
                    pairs.append((x, w, "compound") if flip else (w, x, "compound"))
                    break
    _take(rest_q, rest_s, pairs, "typo", lambda a, b: typo(a.form, b.form))
    _take(rest_q, rest_s, pairs, "abbrev",
          lambda a, b: abbreviation(a.form, b.form) or abbreviation(b.form, a.form))
    _acronyms(rest_q, rest_s, pairs)
    return Alignment(pairs, rest_q, rest_s)


def _swaps(pairs: list[tuple[Term, Term, str]]) -> int:
    """Roles that moved from one aligned term to another: in one request X has the role (from,
    to, of, for, object, subject…), in the other Y has it and X does not. Particles can drop in
    a paraphrase, but a role that reappears on another term is a change of who does what."""
    n = 0
    for role in _MARKED | {"obj", "subj"}:
        had = {id(a) for a, b, _ in pairs if a.role == role and b.role != role}
        got = {id(a) for a, b, _ in pairs if b.role == role and a.role != role}
        if had and got and had != got:
            n += 1
    return n


def _verb_swaps(pairs: list[tuple[Term, Term, str]]) -> int:
    """English only: two aligned nouns on opposite sides of an aligned verb in one request, and
    on the swapped sides in the other (Google bought YouTube / YouTube bought Google)."""
    verbs = [(a.pos, b.pos) for a, b, _ in pairs if a.role == b.role == "pred"]
    nouns = [(a.pos, b.pos) for a, b, _ in pairs if a.role != "pred" and b.role != "pred"]
    n = 0
    for va, vb in verbs:
        for i, (x1, x2) in enumerate(nouns):
            for y1, y2 in nouns[i + 1 :]:
                if (x1 - va) * (y1 - va) < 0 and (x1 - va) * (x2 - vb) < 0 and (y1 - va) * (y2 - vb) < 0:
                    n += 1
    return n


def _modifiers_added(al: Alignment, q: Analysis, s: Analysis) -> int:
    """Extra nouns that qualify an aligned noun of the same phrase (해외 배송 vs 배송, admin
    password vs password): the request was specialised, not rephrased."""
    aligned = {id(t) for pair in al.pairs for t in pair[:2]}
    n = 0
    for side, extra in ((q, al.only_q), (s, al.only_s)):
        by_pos = {t.pos: t for t in side.terms}
        for t in extra:
            head = by_pos.get(t.pos + 1)
            if t.role != "pred" and head is not None and id(head) in aligned and head.role == t.role != "pred":
                n += 1
    return n


def _inversions(pairs: list[tuple[Term, Term, str]]) -> int:
    """English only: aligned bare nouns that appear in the opposite order (who did what to whom)."""
    core = [(a.pos, b.pos) for a, b, _ in pairs if a.role == "core" and b.role == "core"]
    return sum(1 for i, (a1, b1) in enumerate(core) for a2, b2 in core[i + 1 :] if (a1 - a2) * (b1 - b2) < 0)


def features(q: Analysis, s: Analysis, cos: float) -> dict[str, float]:
    al = align(q, s)
    cross = float(q.lang != s.lang)
    nq, ns = len(q.terms), len(s.terms)
    shared = len(al.pairs)
    substitution = bool(al.only_q and al.only_s)
    only_preds = all(t.role == "pred" for t in al.only_q + al.only_s)
    role_conflict = sum(1 for a, b, _ in al.pairs if frozenset({a.role, b.role}) in _CONFLICTING)
    role_soft = sum(1 for a, b, _ in al.pairs if (a.role in _MARKED) != (b.role in _MARKED))
    swaps = _swaps(al.pairs)
    inversions = _inversions(al.pairs) if q.lang == s.lang == "en" else 0
    verb_swaps = _verb_swaps(al.pairs) if q.lang == s.lang == "en" else 0
    num_diff, num_one = _numbers(q.numbers, s.numbers)
    neg_diff = q.negated != s.negated
    frame_conflict = bool(q.frames and s.frames and not q.frames & s.frames)
    # A word the lexicon knows that found no partner is a real substitution, not a gap in the
    # lexicon (which matters most across languages).
    f_sub_known = float(any(known(t) for t in al.only_q) and any(known(t) for t in al.only_s))
    clean = not (substitution or num_diff or num_one or neg_diff or frame_conflict or swaps or role_conflict
                 or verb_swaps)
    f = {
        "cos": cos,
        "cos_hi": max(0.0, cos - 0.9) * 10,
        "cross_lang": cross,
        "shared_frac": shared / max(1, nq, ns),
        "unmatched_q": float(min(3, len(al.only_q))),
        "unmatched_s": float(min(3, len(al.only_s))),
        "substitution": float(substitution),
        "sub_entity": float(any(t.entity for t in al.only_q) and any(t.entity for t in al.only_s)),
        "sub_pred_only": float(substitution and only_preds),
        "sub_known": f_sub_known,
        "opposite": float(any(frozenset({x, y}) in _OPPOSITE for a in al.only_q for b in al.only_s
                              for x in a.keys for y in b.keys)),
        "extra_noun": float(0 if substitution else min(3, sum(t.role != "pred" for t in al.only_q + al.only_s))),
        "extra_pred": float(0 if substitution else min(3, sum(t.role == "pred" for t in al.only_q + al.only_s))),
        "extra_entity": float(not substitution and any(t.entity for t in al.only_q + al.only_s)),
        "sub_nouns": float(min(len([t for t in al.only_q if t.role != "pred"]),
                               len([t for t in al.only_s if t.role != "pred"]), 2)),
        "typo": float(sum(1 for *_, how in al.pairs if how == "typo")),
        "abbrev": float(sum(1 for *_, how in al.pairs if how == "abbrev")),
        "compound": float(sum(1 for *_, how in al.pairs if how == "compound")),
        "num_same": float(bool(q.numbers) and not num_diff and not num_one),
        "num_diff": float(num_diff),
        "num_one": float(num_one),
        "neg_diff": float(neg_diff),
        "frame_conflict": float(frame_conflict),
        "frame_one": float(bool(q.frames) != bool(s.frames)),
        "role_change": float(min(2, swaps + role_conflict + verb_swaps)),
        "modifier_added": float(min(2, _modifiers_added(al, q, s))),
        "role_soft": float(min(3, role_soft)),
        "order_inv": float(min(2, inversions)),
        "len_ratio": min(q.chars, s.chars) / max(1, q.chars, s.chars),
        "few_terms": float(min(nq, ns) <= 1),
        "clean": float(clean),
        "cos_clean": cos * clean,
        "cross_sub": cross * substitution,
        "cross_sub_known": cross * f_sub_known,
        "cross_cos": cross * cos,
    }
    return f


def vector(f: dict[str, float]) -> list[float]:
    return [f[n] for n in NAMES]
