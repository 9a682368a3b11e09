"""What one request says, in the parts that decide its answer: content terms with their roles and
order, numbers with units, negation, the question frame and the language.

Korean goes through kiwipiepy: a run of content morphemes (nouns, names, roots, foreign words)
takes the role of the particle after it — 에서/부터 (source), 로/으로/에/에게/한테/께/까지 (goal),
의 (possessor), 을/를 (object), 이/가 (subject), 와/과/랑/하고 (with); 은/는/도/만
and no particle are `core`. "X를 위한/위해" is a beneficiary. English has no particles, so the
preposition before a phrase gives its role (from, to, for, of, with, in/at/on; "father's" is a
possessor) and word order is kept for the rest.

An `Analysis` is plain data and round-trips through JSON, so the stored side of every cache
entry is analysed once, when it is written (`to_json`), and a lookup analyses only the new
request. `VERSION` changes whenever the output would: entries analysed by another version are
analysed again at lookup.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gureum.cache.lexicon import GROUPS
from gureum.korean import analyser

VERSION = 1

_TOKENIZE_LOCK = threading.Lock()  # kiwipiepy's tokenize is not re-entrant on one instance

# What kind of answer a question asks for. Frame words are not terms (시기 added to 언제 does not
# change a question), but two requests asking for different frames (방법 vs 기간) do not share one.
KO_FRAMES = {
    **dict.fromkeys("언제 시기 시점 날짜 일정 마감 마감일 기한 시각".split(), "when"),
    **dict.fromkeys("기간 며칠 동안 주기 걸리 소요".split(), "duration"),
    **dict.fromkeys("어디 장소 위치 곳".split(), "where"),
    **dict.fromkeys("방법 절차 방식 과정 순서 법 어떻게".split(), "how"),
    **dict.fromkeys("비용 가격 금액 요금 얼마".split(), "cost"),
    **dict.fromkeys("누구 누가 대상 대상자 담당자".split(), "who"),
    **dict.fromkeys("왜 이유 원인".split(), "why"),
}
EN_FRAMES = {
    **dict.fromkeys("when date deadline schedule".split(), "when"),
    **dict.fromkeys("length period duration".split(), "duration"),
    **dict.fromkeys("where location".split(), "where"),
    **dict.fromkeys("way process procedure step steps".split(), "how"),
    **dict.fromkeys("cost price".split(), "cost"),
    **dict.fromkeys("who whom".split(), "who"),
    **dict.fromkeys("why reason".split(), "why"),
}
EN_HOW = {"long": "duration", "much": "cost", "often": "frequency", "far": "distance", "old": "age", "soon": "when",
          "many": ""}

# Korean morphemes that phrase a question rather than name its subject (greetings and filler too).
KO_STOP = frozenset(
    """것 수 때 경우 정도 얼마나 무엇 뭐 몇 어떻 어떠 어느 문의 질문 궁금 가능 여부 관련 내용 받 제공 허용
    부분 좀 혹시 저 제 나 너 우리 분 거 건 데 중 등 안내 이 그 저것 이것 그것 번 쪽 게 점 알 주 싶 하 되 있 드리 주시 계시
    말씀 요 가요 정말 혹 대하 대한 대해 관하 통하 위하 필요 해주 알려주 알리 설명 부탁 감사 안녕 다 더 또 및 혹은 그리고 그런데 어떤
    궁금하 하나 고맙 실례 죄송 여쭈 묻 물 어케 어떡 뭘 무슨 님 씨 생각 가르치 말 모르 되나 이거 그거 저거 여기 거기 저기""".split()
)
KO_STOP_MODIFIERS = frozenset(
    """어떻게 얼마나 얼마 좀 혹시 보통 주로 대개 많이 잘 너무 정말 진짜 그냥 이미 아직 바로 같이 함께 또 더 꼭 반드시 계속
    언제 왜 어디 가장 제일 특히 혹 한번 그럼 그러면 그래서 그런데 근데 또는 및 만약 대략 약 이렇게 그렇게 요즘 지금 현재
    이 그 저 어떤 무슨 어느 몇 모든 각 여러 이런 그런 저런 혹시나 대체 도대체 일단 우선 빨리 그거""".split()
)
KO_NORMAL = {"뒤": "후", "이후": "후", "다음": "후", "이전": "전", "앞": "전"}
KO_NOUN_TAGS = ("NNG", "NNP", "XR", "SL", "SH")
KO_PRED_TAGS = ("VV", "VA")
KO_NEGATION = {("안", "MAG"), ("못", "MAG"), ("않", "VX"), ("못하", "VX"), ("말", "VX"), ("없", "VA"), ("아니", "VCN"),
               ("없이", "MAG")}
KO_NEGATED_WORDS = frozenset({"불가능", "불가", "불허", "미포함", "비허용"})
KO_ROLES = {
    **dict.fromkeys("에서 에서부터 부터 로부터 으로부터 에게서 한테서".split(), "src"),
    **dict.fromkeys("로 으로 에게 한테 께 까지 에게로 으로까지 로까지".split(), "goal"),
    **dict.fromkeys(["에"], "goal"),
    **dict.fromkeys(["의"], "poss"),
    **dict.fromkeys("을 를 ᆯ".split(), "obj"),
    **dict.fromkeys("이 가 께서".split(), "subj"),
    **dict.fromkeys("와 과 랑 이랑 하고".split(), "with"),
}
KO_DIGITS = {"영": 0, "공": 0, "일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "칠": 7, "팔": 8, "구": 9}
KO_POWERS = {"십": 10, "백": 100, "천": 1000}
KO_BIG = {"만": 10_000, "억": 100_000_000, "조": 1_000_000_000_000}
KO_NATIVE = {
    "한": 1, "하나": 1, "두": 2, "둘": 2, "세": 3, "셋": 3, "석": 3, "네": 4, "넷": 4, "다섯": 5, "여섯": 6, "일곱": 7,
    "여덟": 8, "아홉": 9, "열": 10, "스무": 20, "스물": 20,
}
# Units, written several ways in both languages, to one spelling: "3월" and "March" agree.
UNITS = {
    **dict.fromkeys("월 month months".split(), "month"), **dict.fromkeys("일 day days".split(), "day"),
    **dict.fromkeys("년 year years yr".split(), "year"), **dict.fromkeys("시 o'clock oclock".split(), "oclock"),
    **dict.fromkeys("시간 hour hours hr hrs".split(), "hour"), **dict.fromkeys("분 minute minutes min".split(), "minute"),
    **dict.fromkeys("초 second seconds sec".split(), "second"), **dict.fromkeys("개월 달".split(), "months"),
    **dict.fromkeys("주 주일 week weeks".split(), "week"), **dict.fromkeys("원 won krw".split(), "won"),
    **dict.fromkeys("달러 불 dollar dollars usd $".split(), "usd"), **dict.fromkeys("엔 yen".split(), "yen"),
    **dict.fromkeys("유로 euro euros".split(), "eur"), **dict.fromkeys("% 퍼센트 프로 percent".split(), "pct"),
    **dict.fromkeys("명 people persons person".split(), "person"), **dict.fromkeys("개 items item".split(), "item"),
    **dict.fromkeys("번 회 times".split(), "times"), **dict.fromkeys("층 floor".split(), "floor"),
    **dict.fromkeys("살 세 years_old".split(), "age"), **dict.fromkeys("박 nights night".split(), "night"),
    **dict.fromkeys("도 degree degrees".split(), "degree"),
    **{u: u.lower() for u in "kg km GB MB TB cm mm ml g m kb".split()},
}
_TIME_UNITS = frozenset({"day", "hour", "minute", "week", "month", "months", "year", "second", "night"})
MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}
MONTHS |= {m[:3]: i for m, i in list(MONTHS.items()) if m != "may"}

EN_STOP = frozenset(
    """a an the is are was were be been being am do does did doing have has had having i me my mine we our you your he she it
    its they them their this that these those there here what which who whom whose when where why how can could would should
    will shall may might must and or but if so than then too very just also any some all each every please tell know let
    get got want wanted need needed like again still yet ever hi hello hey thanks thank kindly quick question wondering
    wonder help explain info information regarding anyone somebody someone way ok okay us much many long often whether
    possible able usually typically generally normally currently actually really exactly offer provide available
    availability allow allowed permit permitted require required sir madam dear guys pls plz thx u ur im idk does
    there's here's what's ya yeah well um uh so""".split()
)
EN_PREPOSITIONS = {
    **dict.fromkeys("from".split(), "src"), **dict.fromkeys("to into toward towards onto".split(), "goal"),
    **dict.fromkeys("for".split(), "ben"), **dict.fromkeys("of".split(), "poss"),
    **dict.fromkeys("with".split(), "with"), **dict.fromkeys("in on at".split(), "at"),
    **dict.fromkeys("by via through".split(), "by"), **dict.fromkeys("about over under".split(), "core"),
}
EN_TIME_RELATIONS = {"before": "전", "after": "후", "prior": "전", "until": "까지"}
# Verbs end a prepositional phrase ("to convert Celsius to Fahrenheit": convert is no goal).
EN_VERBS = frozenset(
    """convert change send transfer move get go book cancel reset install uninstall return refund exchange buy sell pay
    open close apply submit renew upgrade downgrade switch delete remove add update make take give owe sue acquire
    buy bought sold sent moved write email forward migrate ship deliver travel fly drive carry receive use work
    sign log create set find see check track claim order reserve call contact report replace repair fix join leave
    print download upload share turn transfer gift lend borrow approve reject hire fire pick drop enter withdraw
    deposit earn charge bill compare translate ask asks interview invite meet visit teach beat follow own owns hired
    acquired paid emailed invited met visited taught beat followed pays sends sells buys""".split()
)
EN_DETERMINERS = frozenset("a an the my our your his her their its this that these those some any".split())
EN_PHRASAL_VERBS = frozenset(
    "turn log sign check carry cash set opt back shut switch top pick drop look fill hand cut start take call".split()
)
EN_PARTICLES = frozenset("on off in out up down over away".split())
EN_NEGATION = frozenset({"not", "no", "never", "without", "cannot", "cant", "nor", "none", "nothing", "isnt", "arent",
                         "dont", "doesnt", "didnt", "wont", "wouldnt", "shouldnt", "couldnt", "wasnt", "werent",
                         "hasnt", "havent", "hadnt", "non", "except"})
EN_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "fifty": 50, "hundred": 100,
    "thousand": 1000, "million": 1_000_000, "once": 1, "twice": 2, "single": 1, "double": 2, "half": 0.5,
}
_EN_TOKEN = re.compile(r"\$|%|[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*(?:st|nd|rd|th)?")
_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])")
_CLITIC = re.compile(r"'(?:re|ll|ve|d|m)$")
_ORDINAL = re.compile(r"(?<=\d)(?:st|nd|rd|th)$")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_LETTER = re.compile(r"[A-Za-z\uac00-\ud7a3]")


@dataclass(frozen=True, slots=True)
class Term:
    keys: frozenset[str]  # lexicon groups (or the lemma itself): two terms align when these meet
    form: str  # the lemma, for fuzzy matching and explanations
    role: str  # src goal at poss obj subj with ben by core pred
    pos: int  # order of appearance
    entity: bool  # a name: proper noun, foreign word in Korean text, capitalised English word


@dataclass(frozen=True, slots=True)
class Analysis:
    lang: str  # "ko", "en" or "none"
    terms: tuple[Term, ...]
    numbers: frozenset[str]
    negated: bool
    frames: frozenset[str]
    chars: int

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION, "lang": self.lang, "numbers": sorted(self.numbers), "negated": self.negated,
            "frames": sorted(self.frames), "chars": self.chars,
            "terms": [[sorted(t.keys), t.form, t.role, t.pos, t.entity] for t in self.terms],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Analysis | None:
        """None when `d` was written by another version of the analysis."""
        if not isinstance(d, dict) or d.get("v") != VERSION:
            return None
        terms = tuple(Term(frozenset(k), f, r, int(p), bool(e)) for k, f, r, p, e in d["terms"])
        return cls(d["lang"], terms, frozenset(d["numbers"]), bool(d["negated"]), frozenset(d["frames"]),
                   int(d["chars"]))


def stem(word: str) -> str:
    """A light English stemmer: enough to meet plural, -ing and -ed forms, never clever."""
    w = word.removesuffix("'s")
    if w.endswith("ly") and len(w) >= 7:
        w = w[:-2]
    for suffix, repl, min_len in (("ies", "y", 5), ("sses", "ss", 5), ("ches", "ch", 5), ("shes", "sh", 5),
                                  ("xes", "x", 4), ("ing", "", 6), ("ed", "", 5), ("s", "", 4)):
        if w.endswith(suffix) and len(w) >= min_len and not (suffix == "s" and w.endswith(("ss", "us", "is"))):
            w = w[: len(w) - len(suffix)] + repl
            if suffix in ("ing", "ed") and len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]  # shipping → shipp → ship
            break
    if w.endswith("e") and len(w) >= 5:
        w = w[:-1]  # include / included → includ
    return w


def _lexicon() -> dict[str, frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for line in GROUPS.splitlines():
        words = line.split()
        for w in words:
            form = w if _HANGUL.search(w) else stem(w.replace("-", ""))
            groups.setdefault(form, set()).add(words[0])
    return {w: frozenset(g) for w, g in groups.items()}


LEXICON = _lexicon()


def keys_of(form: str) -> frozenset[str]:
    return LEXICON.get(form) or frozenset({form})


def language(text: str) -> str:
    letters = len(_LETTER.findall(text))
    if not letters:
        return "none"
    return "ko" if len(_HANGUL.findall(text)) / letters >= 0.3 else "en"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _ko_number(forms: list[str]) -> float | None:
    """The value of a run of Sino-Korean numerals and digits: 백만 → 1000000, 3천 → 3000, 이십오 → 25
    (kiwi gives 이십오 as one token or three)."""
    total, section, digit = 0.0, 0.0, None
    for f in forms:
        plain = f.replace(",", "")
        if plain.replace(".", "", 1).isdigit():
            digit = float(plain)
            continue
        for ch in f:
            if ch in KO_DIGITS:
                digit = float(KO_DIGITS[ch])
            elif ch in KO_POWERS:
                section += (digit if digit is not None else 1) * KO_POWERS[ch]
                digit = None
            elif ch in KO_BIG:
                total += (section + (digit or 0) or 1) * KO_BIG[ch]
                section, digit = 0.0, None
            else:
                return None
    return total + section + (digit or 0) if forms else None


class _Builder:
    def __init__(self) -> None:
        self.terms: list[Term] = []
        self.pending: list[tuple[str, bool]] = []
        self.numbers: set[str] = set()
        self.frames: set[str] = set()
        self.negated = False

    def noun(self, form: str, entity: bool, glued: bool = False) -> None:
        """`glued`: written right after the previous noun, without a space. Kiwi cuts some words
        it does not know (로그+아웃, 법+카); such a pair is joined again when the whole is a known
        word or a piece is a single syllable."""
        if glued and self.pending:
            prev, prev_entity = self.pending[-1]
            whole = prev + form
            if whole in LEXICON or len(prev) == 1 or len(form) == 1:
                self.pending[-1] = (whole, prev_entity or entity)
                return
        self.pending.append((form, entity))

    def flush(self, role: str) -> None:
        for form, entity in self.pending:
            self.terms.append(Term(keys_of(form), form, role, len(self.terms), entity))
        self.pending.clear()

    def pred(self, form: str) -> None:
        self.flush("core")
        self.terms.append(Term(keys_of(form), form, "pred", len(self.terms), False))

    def number(self, value: float, unit: str) -> None:
        """A number is also a term, so it takes a role: 1층에서 3층으로 is not 3층에서 1층으로."""
        number = _num(value) + (UNITS.get(unit, unit) if unit else "")
        self.numbers.add(number)
        self.pending.append((number, True))

    def build(self, lang: str, chars: int) -> Analysis:
        self.flush("core")
        return Analysis(lang, tuple(self.terms), frozenset(self.numbers), self.negated, frozenset(self.frames), chars)


def _korean(text: str, b: _Builder) -> None:
    analyser_ = analyser()
    with _TOKENIZE_LOCK:
        tokens = analyser_.tokenize(text)
    prefix = ""
    i = 0
    while i < len(tokens):
        t = tokens[i]
        tag, form = t.tag.split("-")[0], t.form
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tag == "XPN":  # 재가입, 비대면: the prefix changes the noun it sticks to
            prefix = form
            i += 1
            continue
        form, prefix = prefix + form, ""
        if form == "아니" and i > 1 and tokens[i - 2].form in ("다름", "다르"):
            pass  # 다름이 아니라: "the thing is", a filler, not a negation
        elif (form, tag) in KO_NEGATION or form in KO_NEGATED_WORDS:
            b.negated = True
        elif form == "어떻" and i + 2 < len(tokens) and tokens[i + 2].form == "하" and tokens[i + 2].tag == "VV":
            b.frames.add("how")  # 어떻게 하나요 asks how; 어떻게 되나요 only asks what
        elif tag == "MM" and form in ("이", "가") and b.pending and t.start == tokens[i - 1].start + tokens[i - 1].len:
            b.flush("subj")  # kiwi reads the subject particle after some nouns (을이) as a determiner
        elif tag in ("SN", "NR") or (tag == "MM" and form in KO_NATIVE):
            run = [form]
            while i + 1 < len(tokens) and tokens[i + 1].tag in ("SN", "NR") and tag != "MM":
                i += 1
                run.append(tokens[i].form)
            value = float(KO_NATIVE[form]) if tag == "MM" else _ko_number(run)
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            unit = nxt.form if nxt is not None and (nxt.form in UNITS or nxt.tag == "SL" and nxt.form in UNITS) else ""
            if unit:
                i += 1
            if value is not None:
                b.number(value, unit)
        elif tag.startswith("J"):
            role = KO_ROLES.get(form, "core")
            if role == "obj" and nxt is not None and nxt.form == "위하":
                role = "ben"  # X를 위한 / 위해: for X
            b.flush(role)
        elif tag == "SL":
            b.noun(form.lower(), True)
        elif tag in KO_NOUN_TAGS or tag == "MAG" and form not in KO_STOP_MODIFIERS or tag == "MM" and form not in KO_STOP_MODIFIERS:
            if form in KO_FRAMES and tag not in ("MM",):
                b.frames.add(KO_FRAMES[form])
            elif form not in KO_STOP and form not in KO_STOP_MODIFIERS:
                prev = tokens[i - 1] if i > 0 else None
                glued = prev is not None and prev.tag in KO_NOUN_TAGS and prev.start + prev.len == t.start
                b.noun(KO_NORMAL.get(form, form), tag in ("NNP", "SH"), glued)
        elif form in KO_FRAMES:
            b.frames.add(KO_FRAMES[form])
        elif tag in KO_PRED_TAGS:
            if form not in KO_STOP:
                b.pred(form)
            else:
                b.flush("core")
        elif tag in ("XSN", "XSV", "XSA"):
            pass  # 팀장님, 예약하다: the noun before it stays the term
        elif tag in ("SF", "SP", "SS", "SE", "SO", "SW", "EC", "EF", "ETM", "ETN", "VCP", "VX", "NP", "NNB"):
            b.flush("core")
        i += 1


def _english(text: str, b: _Builder) -> None:
    raw = unicodedata.normalize("NFKC", text).replace("’", "'")
    caps = {w.lower() for j, w in enumerate(re.findall(r"[A-Za-z]+", raw)) if j > 0 and w[:1].isupper()}
    low = _HYPHEN.sub("", raw.lower().replace("n't", " not"))
    tokens = [_CLITIC.sub("", t) for t in _EN_TOKEN.findall(low)]
    role = "core"
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok[0].isdigit() or tok == "$" or tok in EN_NUMBERS or tok in MONTHS:
            unit = ""
            if tok == "$" and nxt[:1].isdigit():
                value, unit = float(_ORDINAL.sub("", nxt).replace(",", "")), "usd"
                i += 1
            elif tok in MONTHS and nxt[:1].isdigit():  # March 15 → 3month + 15day
                b.number(MONTHS[tok], "month")
                value, unit = float(_ORDINAL.sub("", nxt).replace(",", "")), "day"
                i += 1
            elif tok in MONTHS:
                value, unit = float(MONTHS[tok]), "month"
            elif tok == "$":
                i += 1
                continue
            else:
                value = float(EN_NUMBERS[tok]) if tok in EN_NUMBERS else float(_ORDINAL.sub("", tok).replace(",", ""))
                if nxt in UNITS:
                    unit = nxt
                    i += 1
                elif nxt == "of" and i + 2 < len(tokens) and tokens[i + 2] in MONTHS:  # 15th of March
                    b.number(MONTHS[tokens[i + 2]], "month")
                    unit = "day"
                    i += 2
            b.number(value, unit)
        elif tok in EN_NEGATION:
            b.negated = True
        elif tok == "how":
            after = tokens[i + 2] if i + 2 < len(tokens) else ""
            frame = "duration" if nxt == "many" and UNITS.get(after) in _TIME_UNITS else EN_HOW.get(nxt, "how")
            if frame:
                b.frames.add(frame)
            if nxt in EN_HOW:
                i += 1
                if frame == "duration" and nxt == "many":
                    i += 1  # how many days: the unit is the frame, not a term
        elif tok in EN_TIME_RELATIONS:
            b.flush(role)
            b.noun(EN_TIME_RELATIONS[tok], False)  # before/after meals: 전/후, as in Korean
            role = "core"
        elif tok in EN_PREPOSITIONS:
            b.flush(role)
            role = EN_PREPOSITIONS[tok]
        elif tok in EN_PHRASAL_VERBS and nxt in EN_PARTICLES:
            b.flush(role)
            b.pred(f"{tok}_{nxt}")
            role = "core"
            i += 1
        elif tok in EN_FRAMES or stem(tok) in EN_FRAMES:
            b.frames.add(EN_FRAMES.get(tok) or EN_FRAMES[stem(tok)])
        elif (tok in EN_VERBS or stem(tok) in EN_VERBS) and _is_verb(tokens, i):
            b.flush(role)
            b.pred(stem(tok))
            role = "core"
        elif tok in EN_DETERMINERS:
            pass  # inside a phrase: the role of "to my father" reaches father
        elif tok.endswith("'s") and tok[:-2] in EN_STOP:
            b.flush(role)  # what's, it's, that's: the clitic is "is"
            role = "core"
        elif tok.endswith("'s") and len(tok) > 2:
            b.flush(role)
            b.noun(stem(tok[:-2]), tok[:-2] in caps)
            b.flush("poss")
            role = "core"
        elif tok not in EN_STOP and len(tok) > 1 and i > 0 and tokens[i - 1] == "to" and nxt in EN_DETERMINERS:
            b.flush(role)
            b.pred(stem(tok))  # "the way to sort a list": an infinitive, whatever the verb
            role = "core"
        elif tok not in EN_STOP and len(tok) > 1:
            b.noun(stem(tok), tok in caps)
        else:
            b.flush(role)
            role = "core"
        i += 1
    b.flush(role)


def _is_verb(tokens: list[str], i: int) -> bool:
    """Many request verbs are also nouns (refund, order, transfer, check): after a determiner or
    a preposition they are nouns, except "to" + a word that takes an object (to convert X)."""
    prev = tokens[i - 1] if i > 0 else ""
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    if prev in EN_DETERMINERS or (prev in EN_PREPOSITIONS and prev != "to"):
        return False
    if prev == "to":
        return bool(nxt) and nxt not in EN_PREPOSITIONS
    return True


# Greetings, thanks and apologies around a question: they never change its answer, and their
# words (bug, bother, morning) would otherwise count as terms.
_FILLER = re.compile(
    r"(?i)\b(?:hi|hello|hey|yo|dear)(?: there| team| all| guys)?\b[,!.]*"
    r"|\b(?:good (?:morning|afternoon|evening))\b[,!.]*"
    r"|\bsorry (?:to (?:bother|bug|trouble|disturb) you|for (?:the|this) (?:trouble|bother))\b[,!.]*"
    r"|\bhope (?:you(?:'re| are)|all is) (?:well|doing well|good)\b[,!.]*"
    r"|\b(?:thanks|thank you)(?: so much| a lot| in advance)?\b[,!.]*"
    r"|\bquick question\b[:,!.]*|\bjust wondering\b[,!.]*|\bi was wondering\b"
    r"|안녕하세요|안녕하십니까|안녕|수고하십니다|수고하세요|수고 많으십니다|감사합니다|고맙습니다|감사해요|고마워요?"
    r"|실례지만|실례합니다|죄송하지만|죄송한데요?|바쁘신데|다름이 아니라|문의드립니다|문의 드립니다|좋은 아침입니다?"
)


@lru_cache(maxsize=4096)
def analyse(text: str) -> Analysis:
    """The analysis of one request (its normalised last user turn). Memoised: a lookup that
    misses analyses the same text again when its answer is stored."""
    text = unicodedata.normalize("NFC", text).strip()
    lang = language(text)
    text = _FILLER.sub(" ", text).strip() or text
    b = _Builder()
    if lang == "ko":
        _korean(text, b)
    else:
        _english(text, b)
    return b.build(lang, len(text))


def kiwi() -> Any:
    return analyser()
