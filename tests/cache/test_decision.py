"""The equivalence decision on pairs the model never saw (none of these sentences is in the
training, calibration or test pair files — asserted below), at the shipped threshold of the
default 1% false-hit budget, with real e5 cosines: each failure mode of issue 18.

Near misses must be refused, every one. Paraphrases must be served; those are asserted as a
rate per group with a stated bound, since a paraphrase refused costs a model call, not a wrong
answer. (Honest note: the first version of these pairs showed that greetings and apologies
counted as terms; the filler rule that fixed it was then checked on pairs added afterwards —
the cafeteria, 법인차량 and 충전기 pairs — run once, not adjusted.)"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from gureum.cache.analysis import Analysis, analyse
from gureum.cache.decision import EquivalenceModel, shipped
from gureum.cache.keys import normalise_text

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"

NEAR_MISSES = {
    "direction": [
        ("대구에서 울산으로 가는 고속버스 시간표", "울산에서 대구로 가는 고속버스 시간표"),
        ("수원역에서 광교까지 버스로 얼마나 걸려요?", "광교에서 수원역까지 버스로 얼마나 걸려요?"),
        ("판교에서 분당으로 셔틀버스 있어요?", "분당에서 판교로 셔틀버스 있어요?"),
        ("How long is the ferry from Busan to Fukuoka?", "How long is the ferry from Fukuoka to Busan?"),
        ("Can I move stock from the Daejeon warehouse to the Ulsan warehouse?",
         "Can I move stock from the Ulsan warehouse to the Daejeon warehouse?"),
    ],
    "conversion": [
        ("위안화를 원화로 바꾸면 수수료가 얼마예요?", "원화를 위안화로 바꾸면 수수료가 얼마예요?"),
        ("HWP 파일을 PDF로 바꾸는 법", "PDF 파일을 HWP로 바꾸는 법"),
        ("How do I convert pounds to kilograms?", "How do I convert kilograms to pounds?"),
    ],
    "role_swap": [
        ("임대인이 임차인에게 수리비를 청구할 수 있나요?", "임차인이 임대인에게 수리비를 청구할 수 있나요?"),
        ("Can the contractor charge the client for delays?", "Can the client charge the contractor for delays?"),
    ],
    "possessive": [
        ("할머니의 치아보험 보장 내용이 궁금해요", "할머니를 위한 제 치아보험 보장 내용이 궁금해요"),
        ("What does my daughter's dental plan cover?", "What does my dental plan for my daughter cover?"),
    ],
    "quantity": [
        ("모니터 3대 주문하면 배송비 무료예요?", "모니터 30대 주문하면 배송비 무료예요?"),
        ("적금 월 20만원 넣으면 만기에 얼마예요?", "적금 월 50만원 넣으면 만기에 얼마예요?"),
        ("Is there a discount for 3 tickets?", "Is there a discount for 8 tickets?"),
        ("Can I rent 2 cars for the weekend?", "Can I rent 4 cars for the weekend?"),
    ],
    "date": [
        ("8월 15일에 택배 받을 수 있어요?", "8월 16일에 택배 받을 수 있어요?"),
        ("Is the clinic open on March 3?", "Is the clinic open on March 13?"),
    ],
    "negation": [
        ("카드 명세서가 우편으로 오나요?", "카드 명세서가 우편으로 안 오나요?"),
        ("세일 상품도 환불돼요?", "세일 상품은 환불 안 돼요?"),
        ("법인차량으로 출퇴근해도 되나요?", "법인차량으로 출퇴근하면 안 되나요?"),
        ("Can I bring food into the stadium?", "Can't I bring food into the stadium?"),
    ],
    "cross_lingual": [
        ("헬스장은 몇 시에 열어요?", "What time does the gym close?"),
        ("택시비 영수증은 어디서 출력하나요?", "Where can I print a hotel receipt?"),
    ],
    "substitution": [
        ("현대카드 포인트 사용처 알려줘", "삼성카드 포인트 사용처 알려줘"),
        ("How do I enable Bluetooth on my tablet?", "How do I disable Bluetooth on my tablet?"),
    ],
}

PARAPHRASES = {
    "synonym_loanword": [
        ("멤버십 등급 업그레이드 하려면 얼마나 써야 해요?", "멤버십 등급 승급하려면 얼마나 써야 해요?"),
        ("월세 송금할 때 수수료 붙어요?", "월세 이체할 때 수수료 붙어요?"),
        ("휴대폰 요금 미납하면 어떻게 돼요?", "핸드폰 요금 미납하면 어떻게 돼요?"),
        ("How do I modify my billing address?", "How do I change my billing address?"),
        ("노트북 충전기 분실하면 어떻게 해요?", "노트북 충전기 잃어버리면 어떻게 해요?"),
    ],
    "register": [
        ("택시비 영수증 어디서 뽑아?", "택시비 영수증은 어디서 출력하나요?"),
        ("점심시간 몇 시부터야", "점심시간은 몇 시부터입니까?"),
        ("yo when does the gym open", "When does the gym open?"),
        ("법인차량 예약 어디서 함?", "법인차량 예약은 어디에서 하면 되나요?"),
    ],
    "spacing_typo": [
        ("사내메신저설치방법", "사내 메신저 설치 방법"),
        ("주차권 발급은어디서 해요?", "주차권 발급은 어디서 해요?"),
        ("사내 메신저 설치 방볍", "사내 메신저 설치 방법"),
        ("How do I reset the routr?", "How do I reset the router?"),
    ],
    "filler": [
        ("안녕하세요! 주차권 발급은 어디서 해요? 감사합니다", "주차권 발급은 어디서 해요?"),
        ("Hi! Sorry to bug you — when does the gym open?", "When does the gym open?"),
        ("Good afternoon! Is the cafeteria open on Saturdays?", "Is the cafeteria open on Saturdays?"),
        ("수고 많으십니다~ 법인차량 예약은 어디서 하나요?", "법인차량 예약은 어디서 하나요?"),
    ],
    "abbreviation": [
        ("카톡 선물하기 환불 방법", "카카오톡 선물하기 환불 방법"),
    ],
}
# Korean ↔ English paraphrases: the model rates them likely the same, but across languages the
# threshold is its own and much stricter (0.96 at 1%: the calibration's cross-language near
# misses score high), so at the default budget these are refused — a known gap, asserted as such.
CROSS_LINGUAL = [
    ("택시비 영수증은 어디서 출력하나요?", "Where can I print a taxi receipt?"),
    ("헬스장은 몇 시에 열어요?", "What time does the gym open?"),
]
# At least this share of each paraphrase group is served (and at least 60% of all of them).
MIN_SERVED = 0.5


@lru_cache(maxsize=1)
def _embedder():  # type: ignore[no-untyped-def]
    from gureum.providers.local.embed import E5Embedder

    return E5Embedder(threads=2)


def probability(model: EquivalenceModel, a: str, b: str) -> float:
    va, vb = (np.asarray(v) for v in _embedder().encode([normalise_text(a), normalise_text(b)], kind="query"))
    cos = float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))
    return model.decide(analyse(normalise_text(a)), analyse(normalise_text(b)), cos, model.thresholds(0.01)).probability


def threshold_for(model: EquivalenceModel, a: str, b: str) -> float:
    cross = analyse(normalise_text(a)).lang != analyse(normalise_text(b)).lang
    return model.threshold(0.01, cross=cross)


def test_these_pairs_are_unseen() -> None:
    seen: set[str] = set()
    for path in DATA.glob("cache_pairs*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                seen |= {normalise_text(row["a"]), normalise_text(row["b"])}
    groups = (*NEAR_MISSES.values(), *PARAPHRASES.values(), CROSS_LINGUAL)
    mine = {normalise_text(t) for group in groups for p in group for t in p}
    assert not mine & seen


@pytest.mark.parametrize(("kind", "a", "b"), [(k, a, b) for k, ps in NEAR_MISSES.items() for a, b in ps])
def test_near_misses_are_refused(kind: str, a: str, b: str) -> None:
    model = shipped()
    threshold = threshold_for(model, a, b)
    assert probability(model, a, b) < threshold, kind
    assert probability(model, b, a) < threshold, kind


def test_paraphrases_are_served() -> None:
    model = shipped()
    served: dict[str, list[bool]] = {
        kind: [probability(model, a, b) >= threshold_for(model, a, b) for a, b in pairs]
        for kind, pairs in PARAPHRASES.items()
    }
    for kind, hits in served.items():
        assert sum(hits) / len(hits) >= MIN_SERVED, (kind, hits)
    everything = [h for hits in served.values() for h in hits]
    assert sum(everything) / len(everything) >= 0.6, served


def test_cross_lingual_paraphrases_rank_as_likely_the_same() -> None:
    model = shipped()
    for a, b in CROSS_LINGUAL:
        p = probability(model, a, b)
        assert p >= 0.5, (a, b, p)
    assert model.threshold(0.01, cross=True) >= model.threshold(0.01)


def test_analysis_round_trips_and_version_is_checked() -> None:
    a = analyse("서울에서 부산으로 가는 KTX 3월 5일 표 안 팔아요?")
    assert Analysis.from_json(json.loads(json.dumps(a.to_json()))) == a
    assert Analysis.from_json({**a.to_json(), "v": -1}) is None
    roles = {t.form: t.role for t in a.terms}
    assert roles["서울"] == "src" and roles["부산"] == "goal"
    assert a.negated and {"3month", "5day"} <= a.numbers


def test_verdict_explains_and_gives_its_margin() -> None:
    model = shipped()
    t = model.thresholds(0.01)
    assert t.cross >= t.same
    refused = model.decide(analyse("달러를 엔화로 환전"), analyse("엔화를 달러로 환전"), 0.99, t)
    assert not refused.served and refused.margin < 0 and "roles" in refused.reason
    low = model.decide(analyse("환불"), analyse("날씨"), model.min_cosine - 0.01, t)
    assert low.probability == 0.0 and "below" in low.reason
    same = analyse("회의실 예약은 어떻게 하나요?")
    assert model.decide(same, same, 1.0, t).served
    assert not model.decide(same, same, 1.0, t._replace(same=1.0)).served  # a fixed 1.0 never serves
