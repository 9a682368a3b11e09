"""The semantic cache's previous rule, kept as the baseline bench/cache_quality.py compares with
(it served until the equivalence model replaced it). The guard on top of embedding similarity: two requests may share an answer only if they talk
about the same things.

Sentence embeddings place "환불 기간은?" and "교환 기간은?" (refund vs exchange period) or "limit
for Gold card" and "limit for Platinum card" almost as close as true paraphrases: they share
everything but the one word that decides the answer. So a semantic hit also needs the two
requests' *signatures* to agree:

- the same script (a Korean question must get a Korean answer),
- the same numbers, with their units (3월 ≠ 4월, 100 ≠ 200),
- the same polarity (a negated question is a different question),
- no *substituted* key term: key content terms are nouns, names, foreign words, roots and main
  verbs after normalisation (Korean through kiwipiepy's morphemes, English through a light
  stemmer and phrasal-verb joining), minus a short list of words that only phrase a question
  ("알려주세요", "how", "please"). If each request has a key term the other lacks (환불 vs 교환,
  gold vs platinum, turn_on vs turn_off), they ask about different things, however close their
  embeddings are. A term on one side only (a qualifier added: "usually", "offer") is tolerated
  as long as the Jaccard overlap of the two term sets stays above a threshold. A Korean compound
  written with or without spaces (재택근무 / 재택 근무) counts as the same term.

All of it is deterministic and explainable: a refused candidate says which terms differed.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from gureum.cache.analysis import stem
from gureum.korean import analyser

_TOKENIZE_LOCK = threading.Lock()  # one analysis at a time (about 0.2 ms each)


def kiwi() -> Any:
    return analyser()


# What kind of answer a question asks for. Frame words are not key terms (시기 or 장소 added to
# "언제"/"어디" does not change a question), but two requests asking for different frames
# (환불 방법 vs 환불 기간: how vs how long) do not share an answer.
KO_FRAMES = {
    **dict.fromkeys("언제 시기 시점 날짜 일정 마감 마감일 기한 시각 시간".split(), "when"),
    **dict.fromkeys("기간 며칠 동안 주기 걸리 소요".split(), "duration"),
    **dict.fromkeys("어디 장소 위치 곳".split(), "where"),
    **dict.fromkeys("방법 절차 방식 과정 순서".split(), "how"),
    **dict.fromkeys("비용 가격 금액 요금 얼마".split(), "cost"),
    **dict.fromkeys("누구 누가 대상 대상자 담당자".split(), "who"),
    **dict.fromkeys("왜 이유 원인".split(), "why"),
}
EN_FRAMES = {
    **dict.fromkeys("when date deadline schedule time hour".split(), "when"),
    **dict.fromkeys("length period duration".split(), "duration"),
    **dict.fromkeys("where location".split(), "where"),
    **dict.fromkeys("way process procedure step".split(), "how"),
    **dict.fromkeys("cost price".split(), "cost"),
    **dict.fromkeys("who whom".split(), "who"),
    **dict.fromkeys("why reason".split(), "why"),
}
EN_HOW = {"long": "duration", "much": "cost", "often": "frequency", "far": "distance", "old": "age", "soon": "when",
          "many": ""}

# Korean morphemes that phrase a question rather than name its subject.
KO_STOP = frozenset(
    """것 수 때 경우 정도 얼마나 무엇 뭐 몇 어떻 어떠 어느 문의 질문 궁금 가능 여부 관련 내용 받 제공 허용
    부분 좀 혹시 저 제 나 우리 분 거 건 데 중 등 안내 이 그 저것 이것 그것 번 쪽 곳 게 점 알 주 보 싶 하 되 있 드리 주시 계시
    말씀 요 가요 정말 혹 대하 대한 대해 관하 통하 위하 필요 해주 알려주 알리 설명 부탁 감사 안녕 다 더 또 및 혹은 그리고 그런데 어떤
    궁금하 방식 절차 과정""".split()
)
# Adverbs and determiners that phrase rather than decide (other adverbs — 어제, 빨리, 다시 — count).
KO_STOP_MODIFIERS = frozenset(
    """어떻게 얼마나 얼마 좀 혹시 보통 주로 대개 많이 잘 너무 정말 진짜 그냥 이미 아직 바로 같이 함께 또 더 꼭 반드시 계속
    언제 왜 어디 가장 제일 특히 혹 한번 그럼 그러면 그래서 그런데 근데 또는 및 만약 대략 약 이렇게 그렇게 요즘 지금 현재
    이 그 저 어떤 무슨 어느 몇 모든 각 여러 이런 그런 저런""".split()
)
# Relational nouns written several ways.
KO_NORMAL = {"뒤": "후", "이후": "후", "다음": "후", "이전": "전", "앞": "전"}
KO_CONTENT_TAGS = ("NNG", "NNP", "XR", "SL", "SH", "VV", "VA", "W_")
KO_MODIFIER_TAGS = ("MAG", "MM")
KO_NEGATION = {("안", "MAG"), ("못", "MAG"), ("않", "VX"), ("못하", "VX"), ("말", "VX"), ("없", "VA"), ("아니", "VCN")}
KO_NUMERALS = {
    "한": "1", "하나": "1", "두": "2", "둘": "2", "세": "3", "셋": "3", "석": "3", "네": "4", "넷": "4", "다섯": "5",
    "여섯": "6", "일곱": "7", "여덟": "8", "아홉": "9", "열": "10", "스무": "20", "스물": "20",
}
KO_UNITS = frozenset(
    "월 일 년 시 분 초 시간 개월 주 주일 달 개 명 번 회 원 만원 천원 억 만 천 백 퍼센트 % 층 호 등 위 차 박 세 살 kg km GB MB TB".split()
)

EN_STOP = frozenset(
    """a an the is are was were be been being am do does did doing have has had having i me my mine we our you your he she it
    its they them their this that these those there here what which who whom whose when where why how can could would should
    will shall may might must to of in on at by for with from about into onto over as and or but if so than then too very
    just also any some all each every please tell know let get got want wanted need needed like up out off again still
    yet ever hi hello thanks thank kindly quick question wondering wonder help explain info information regarding
    anyone somebody someone way ok okay us much many long often one's whether possible able usually typically
    generally normally currently actually really exactly offer provide available availability allow allowed permit
    permitted require required""".split()
)
# Verbs whose particle decides the meaning (turn on / turn off, log in / log out).
EN_PHRASAL_VERBS = frozenset(
    "turn log sign check carry cash set opt back shut switch top pick drop look fill hand cut start take call".split()
)
EN_PARTICLES = frozenset("on off in out up down over away".split())
EN_NEGATION = frozenset({"not", "no", "never", "without", "cannot", "cant", "nor", "none", "nothing", "isnt", "arent",
                         "dont", "doesnt", "didnt", "wont", "wouldnt", "shouldnt", "couldnt", "wasnt", "werent",
                         "hasnt", "havent", "hadnt", "non", "except"})
EN_NUMBERS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "thirty": "30", "hundred": "100",
    "thousand": "1000", "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "once": "1x", "twice": "2x", "single": "1", "double": "2x", "half": "0.5",
}
_EN_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*")
_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])")
_CLITIC = re.compile(r"'(?:s|re|ll|ve|d|m)$")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_LETTER = re.compile(r"[A-Za-z\uac00-\ud7a3]")


@dataclass(frozen=True, slots=True)
class Signature:
    lang: str
    terms: frozenset[str]
    numbers: frozenset[str]
    negated: bool
    frames: frozenset[str] = frozenset()


def language(text: str) -> str:
    letters = len(_LETTER.findall(text))
    if not letters:
        return "none"
    return "ko" if len(_HANGUL.findall(text)) / letters >= 0.3 else "latin"


def _english(text: str, terms: set[str], numbers: set[str], frames: set[str]) -> bool:
    negated = False
    text = _HYPHEN.sub("", text.lower().replace("n't", " not").replace("’", "'"))  # e-mail → email
    tokens = [_CLITIC.sub("", t) for t in _EN_TOKEN.findall(text)]  # what's → what, card's → card
    for i, tok in enumerate(tokens):
        if tok[0].isdigit():
            numbers.add(tok.replace(",", ""))
        elif tok in EN_NEGATION:
            negated = True
        elif tok in EN_NUMBERS:
            numbers.add(EN_NUMBERS[tok])
        elif tok == "how":
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            frame = EN_HOW.get(nxt, "how")
            if frame:
                frames.add(frame)
        elif tok in EN_HOW and i > 0 and tokens[i - 1] == "how":
            continue
        elif tok in EN_PHRASAL_VERBS and i + 1 < len(tokens) and tokens[i + 1] in EN_PARTICLES:
            terms.add(f"{tok}_{tokens[i + 1]}")
        elif tok in EN_FRAMES or stem(tok) in EN_FRAMES:
            frames.add(EN_FRAMES.get(tok) or EN_FRAMES[stem(tok)])
        elif tok not in EN_STOP and len(tok) > 1:
            terms.add(stem(tok))
    return negated


def _korean(text: str, terms: set[str], numbers: set[str], frames: set[str]) -> bool:
    negated = False
    analyser = kiwi()
    with _TOKENIZE_LOCK:
        tokens = analyser.tokenize(text)
    prefix = ""
    for i, t in enumerate(tokens):
        tag = t.tag.split("-")[0]  # VV-R / VV-I → VV
        form = t.form
        if tag == "XPN":  # 재가입, 비대면: the prefix changes the noun it sticks to
            prefix = form
            continue
        form, prefix = prefix + form, ""
        if (form, tag) in KO_NEGATION:
            negated = True
            continue
        if tag == "SN":
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            unit = nxt.form if nxt is not None and nxt.start == t.start + t.len and nxt.form in KO_UNITS else ""
            numbers.add(form.replace(",", "") + unit)
            continue
        if tag in ("NR", "MM") and form in KO_NUMERALS:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            unit = nxt.form if nxt is not None and nxt.form in KO_UNITS else ""
            numbers.add(KO_NUMERALS[form] + unit)
            continue
        if tag == "SL":
            _english(form, terms, numbers, frames)
            continue
        if form in KO_FRAMES and tag not in ("MM", "SN"):
            frames.add(KO_FRAMES[form])
            continue
        if tag in KO_MODIFIER_TAGS:
            if form not in KO_STOP_MODIFIERS:
                terms.add(form)
            continue
        if tag.startswith(KO_CONTENT_TAGS) and form not in KO_STOP:
            if tag == "NNB" or (i > 0 and tokens[i - 1].tag == "SN" and form in KO_UNITS):
                continue
            terms.add(KO_NORMAL.get(form, form))
    return negated


def signature(text: str) -> Signature:
    terms: set[str] = set()
    numbers: set[str] = set()
    frames: set[str] = set()
    lang = language(text)
    negated = (_korean if lang == "ko" else _english)(text, terms, numbers, frames)
    return Signature(lang, frozenset(terms), frozenset(numbers), negated, frozenset(frames))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _join_compounds(a: set[str], b: set[str]) -> None:
    """A term on one side that is two terms of the other side written together (재택근무 vs
    재택 + 근무) is the same term: replace the parts by the compound, in place."""
    for whole, parts in ((a, b), (b, a)):
        for term in sorted(whole - parts):
            rest = parts - whole
            for x in sorted(rest):
                y = term[len(x) :] if term.startswith(x) else None
                if y and y in rest and y != x:
                    parts.difference_update({x, y})
                    parts.add(term)
                    break


def compatible(a: Signature, b: Signature, min_overlap: float) -> tuple[bool, str]:
    """May a request with signature `a` be answered by the stored one with signature `b`?"""
    if a.lang != b.lang:
        return False, f"language differs ({a.lang} vs {b.lang})"
    if a.numbers != b.numbers:
        return False, f"numbers differ ({sorted(a.numbers)} vs {sorted(b.numbers)})"
    if a.negated != b.negated:
        return False, "one request is negated"
    if a.frames and b.frames and not a.frames & b.frames:
        return False, f"they ask different things ({'/'.join(sorted(a.frames))} vs {'/'.join(sorted(b.frames))})"
    ta, tb = set(a.terms), set(b.terms)
    _join_compounds(ta, tb)
    only_a, only_b = ta - tb, tb - ta
    if only_a and only_b:
        return False, f"a key term was substituted ({sorted(only_a)} vs {sorted(only_b)})"
    j = overlap(frozenset(ta), frozenset(tb))
    if j < min_overlap:
        return False, f"content terms differ ({sorted(only_a or only_b)} on one side only, overlap {j:.2f})"
    return True, f"content terms agree (overlap {j:.2f})"
