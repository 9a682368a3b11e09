"""PERSON: Korean and English names in context, without titles, honorifics or particles."""

from __future__ import annotations

import pytest

from gureum.governance.pii import detect


def persons(text: str) -> list[str]:
    return [text[e.start : e.end] for e in detect(text) if e.type == "PERSON"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("김유진님 안녕하세요", ["김유진"]),
        ("담당 양영희 드림", ["양영희"]),
        ("[본인확인] 성명 남궁나연 / 운전면허", ["남궁나연"]),
        ("이 건은 전민수 책임님께 보내주세요", ["전민수"]),
        ("수신: 김민수 과장님 / 작성자 : 박지훈", ["김민수", "박지훈"]),
        ("대표이사 정몽구 명의", ["정몽구"]),
        ("박지은이 왔다고 전해 주세요", ["박지은"]),
        ("연락 주세요 - 김가은", ["김가은"]),
        ("[신원확인] 정하은, RRN 130901-3758669", ["정하은"]),
        ("[신원확인] 남궁민, RRN 701104-2139040", ["남궁민"]),
        ("고객 임건우의 주민번호는", ["임건우"]),
        ("cc: 김태리", ["김태리"]),
        ("진우야 오늘 저녁 어때?", ["진우"]),
        ("민지님 안녕하세요. 서연 씨도 오세요.", ["민지", "서연"]),
        ("Traveler 이주원 (Korean passport)", ["이주원"]),
        ("name,passport_no\n최하은,M34005717\n", ["최하은"]),
        ("VALUES ('남궁수아', '17-09-170471-87');", ["남궁수아"]),
        ("Hi Natalie, your password was reset.", ["Natalie"]),
        ("cardholder Yuki Thompson, card ending 0431", ["Yuki Thompson"]),
        ("Elena, 이 건은 확인 부탁해요", ["Elena"]),
        ("Reminder: Grace Taylor will join the call", ["Grace Taylor"]),
        ("Patient Olivia Bennett was seen by Dr. Ahmed.", ["Olivia Bennett", "Ahmed"]),
        ("account holder: Lee Ji-eun", ["Lee Ji-eun"]),
        ("John Smith and Mary-Jane Watson met Kim Min-su.", ["John Smith", "Mary-Jane Watson", "Kim Min-su"]),
        ("Attendees Sarah Lee Emily Chen", ["Sarah Lee", "Emily Chen"]),
        ("Harper Okafor and Ava Martin joined", ["Harper Okafor", "Ava Martin"]),
        ('{"user":"Zoe Stewart","mobile":"01064096902"}', ["Zoe Stewart"]),
        ("cardholder Ngozi Adeyemi disputed it", ["Ngozi Adeyemi"]),
    ],
)
def test_names_found(text: str, names: list[str]) -> None:
    assert persons(text) == names


@pytest.mark.parametrize(
    "text",
    [
        "이번 주 정보를 공유합니다.",
        "이용자님께서 신청하신 내역입니다.",
        "최대한 빨리 처리하겠습니다. 하나님께 감사.",
        "고객님 성함이 확인되었습니다.",
        "양측의 진영은 크게 나뉜다.",
        "조명 설치 문의드립니다. 정부는 발표했다.",
        "(주)새빛유통 사업자번호 273-79-34235 로 발행 요청",
        "Will you come? May is fine. June works too.",
        "The Rose Gold edition ships from San Jose and North Carolina in Art Deco boxes.",
        "Dear Customer, the Support Team will reply.",
        "manager Approval is pending; user Admin logged in.",
        "Purchase order for Korean passport holders",
        "김 부장님, 박 과장님 회의 참석 바랍니다.",
    ],
)
def test_no_names(text: str) -> None:
    assert persons(text) == []


def test_name_inside_an_email_is_part_of_the_email() -> None:
    text = "write to natalie.kim@corp.com"
    assert [(e.type, text[e.start : e.end]) for e in detect(text)] == [("EMAIL", "natalie.kim@corp.com")]
