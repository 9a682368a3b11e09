"""Structured identifiers: each type's positives in several layouts, and look-alikes that
must not fire. The cases are written from the rules, not from the public sample's templates."""

from __future__ import annotations

import pytest

from gureum.governance.pii import detect
from gureum.governance.pii.validators import rrn_checksum_ok


def structured(text: str) -> set[tuple[str, str]]:
    return {(e.type, text[e.start : e.end]) for e in detect(text) if e.type != "PERSON"}


POSITIVES = [
    # KR_PHONE: mobile, landline, VoIP, every separator, and the +82 forms
    ("연락처 010-1234-5678 로 주세요", {("KR_PHONE", "010-1234-5678")}),
    ("휴대폰: 010 1234 5678", {("KR_PHONE", "010 1234 5678")}),
    ("tel. 02.123.4567 (대표)", {("KR_PHONE", "02.123.4567")}),
    ("핸드폰 01098765432", {("KR_PHONE", "01098765432")}),
    ("구형 번호 011-123-4567 도 있음", {("KR_PHONE", "011-123-4567")}),
    ("인터넷전화 070-2688-3106", {("KR_PHONE", "070-2688-3106")}),
    ("Please call (031) 123-4567 tomorrow", {("KR_PHONE", "(031) 123-4567")}),
    ("전화 0212345678 로 연락", {("KR_PHONE", "0212345678")}),
    ("reach me at +82 10-7798-7828.", {("KR_PHONE", "+82 10-7798-7828")}),
    ("mobile +821097314228", {("KR_PHONE", "+821097314228")}),
    ("+82 10 8670 1094 is mine", {("KR_PHONE", "+82 10 8670 1094")}),
    ("Seoul office +82-2-555-1234", {("KR_PHONE", "+82-2-555-1234")}),
    ("with trunk zero +82 (0)10-1234-5678", {("KR_PHONE", "+82 (0)10-1234-5678")}),
    ("from abroad 0082-10-1234-5678", {("KR_PHONE", "0082-10-1234-5678")}),
    ("두 번호 010-1111-2222/010-3333-4444", {("KR_PHONE", "010-1111-2222"), ("KR_PHONE", "010-3333-4444")}),
    # KR_RRN / KR_FOREIGNER_RN
    ("주민등록번호 880524-2513473 확인", {("KR_RRN", "880524-2513473")}),
    ("주민번호: 0409184643843", {("KR_RRN", "0409184643843")}),
    ("resident registration no. 900101-1234568", {("KR_RRN", "900101-1234568")}),
    ("입력값 9001011234568 확인", {("KR_RRN", "9001011234568")}),  # valid check digit, no cue
    ("외국인등록번호 900101-5234561", {("KR_FOREIGNER_RN", "900101-5234561")}),
    ("외국인 등록번호: 8909256803978 입니다", {("KR_FOREIGNER_RN", "8909256803978")}),  # spaced cue
    ("주민 등록 번호 8805242513471", {("KR_RRN", "8805242513471")}),
    ("ARC 9201225242785 renewed", {("KR_FOREIGNER_RN", "9201225242785")}),
    ("Resident card for Emily Clark: 6412275476522", {("KR_FOREIGNER_RN", "6412275476522")}),
    # CREDIT_CARD: Luhn-valid, printed groupings or a bare run with a known issuer
    ("카드 4111-1111-1111-1111 결제", {("CREDIT_CARD", "4111-1111-1111-1111")}),
    ("card 5555 5555 5555 4444 exp 12/27", {("CREDIT_CARD", "5555 5555 5555 4444")}),
    ("Amex 3782-822463-10005", {("CREDIT_CARD", "3782-822463-10005")}),
    ("on file: 4111111111111111", {("CREDIT_CARD", "4111111111111111")}),
    ("카드번호 1234567812345670", {("CREDIT_CARD", "1234567812345670")}),
    # KR_BANK_ACCOUNT: the number only, with a bank or account cue before or just after
    ("국민은행 123456-78-901234 예금주 확인", {("KR_BANK_ACCOUNT", "123456-78-901234")}),
    ("계좌: 우리은행 1002-123-456789", {("KR_BANK_ACCOUNT", "1002-123-456789")}),
    ("카카오뱅크 3333-01-1234567 로 입금해주세요", {("KR_BANK_ACCOUNT", "3333-01-1234567")}),
    ("환불은 110-215-267674 (신한은행) 으로", {("KR_BANK_ACCOUNT", "110-215-267674")}),
    ("농협 302-1234-5678-91", {("KR_BANK_ACCOUNT", "302-1234-5678-91")}),
    ("wire to account 12345678901234", {("KR_BANK_ACCOUNT", "12345678901234")}),
    ("Shinhan Bank 110-215-267674", {("KR_BANK_ACCOUNT", "110-215-267674")}),
    # KR_PASSPORT: needs a cue or a column header
    ("여권번호 M12345678, 만료 2030-05-01", {("KR_PASSPORT", "M12345678")}),
    ("Korean passport M778B7727 (new format)", {("KR_PASSPORT", "M778B7727")}),
    ("name,passport_no\n김민수,S66836450\n", {("KR_PASSPORT", "S66836450")}),
    # KR_DRIVER_LICENSE
    ("운전면허 19-19-208312-40", {("KR_DRIVER_LICENSE", "19-19-208312-40")}),
    ("driver's license 11 22 333333 44", {("KR_DRIVER_LICENSE", "11 22 333333 44")}),
    ("면허번호 112233333344", {("KR_DRIVER_LICENSE", "112233333344")}),
    ("구 면허 서울 12-345678-90", {("KR_DRIVER_LICENSE", "서울 12-345678-90")}),
    # KR_BRN: checksum always; a bare run also needs a cue
    ("사업자등록번호 220-81-62517 (주)테스트", {("KR_BRN", "220-81-62517")}),
    ("거래처 220-81-62517 등록 완료", {("KR_BRN", "220-81-62517")}),
    ("사업자번호 2208162517", {("KR_BRN", "2208162517")}),
    ("business registration number: 273-79-34235", {("KR_BRN", "273-79-34235")}),
    # IP_ADDRESS
    ("접속 IP 192.168.0.1 에서", {("IP_ADDRESS", "192.168.0.1")}),
    ("client_ip=220.194.118.39 path=/", {("IP_ADDRESS", "220.194.118.39")}),
    ("from 10.0.0.1:8080", {("IP_ADDRESS", "10.0.0.1")}),
    ("v6 2001:db8::ff00:42:8329 and ::1", {("IP_ADDRESS", "2001:db8::ff00:42:8329"), ("IP_ADDRESS", "::1")}),
    ('{"ip":"2001:0db8:00dc:a49f:86ad:893a:d851:5087"}', {("IP_ADDRESS", "2001:0db8:00dc:a49f:86ad:893a:d851:5087")}),
    ("mapped ::ffff:192.0.2.1 ok", {("IP_ADDRESS", "::ffff:192.0.2.1")}),
    # EMAIL
    ("메일 hong.gildong@example.co.kr 로", {("EMAIL", "hong.gildong@example.co.kr")}),
    ("bounce to=swilson@naver.com reason=full", {("EMAIL", "swilson@naver.com")}),
    ("WHERE email = 'a.b+tag@sub.mail.io';", {("EMAIL", "a.b+tag@sub.mail.io")}),
    ("sent to eunji.jung@gmail.com.", {("EMAIL", "eunji.jung@gmail.com")}),
]


@pytest.mark.parametrize(("text", "expected"), POSITIVES)
def test_positive(text: str, expected: set[tuple[str, str]]) -> None:
    assert structured(text) == expected


def test_post_2020_rrn_with_wrong_check_digit_is_still_an_rrn() -> None:
    number = "201015-3123450"
    assert not rrn_checksum_ok(number.replace("-", ""))
    assert structured(f"신생아 주민등록번호 {number}") == {("KR_RRN", number)}
    assert structured(f"번호 {number}") == {("KR_RRN", number)}  # the hyphenated shape is enough


HARD_NEGATIVES = [
    # dates, times and timestamps
    "2024-01-15, 2024.01.15, 2024/01/15, 2024년 1월 15일, 20240115",
    "2019-03-15T12:35:17.268+09:00 INFO started at 12:30:45",
    "ts=1704067200000 created_at=1700000000123",
    # amounts and counts
    "금액 1,234,567원 / ₩41,800 / KRW 600,900 / USD 12,345.67 / 9467000",
    # order, invoice, ticket, product and tracking ids
    "주문번호 2023112512345, ORD-20210704-83654, PO-2024-44091, INV-2022-555148",
    "order 20240416818174 shipped; invoice TI-42646288; ticket INC0012345",
    "P/N 5635-5150-58, SKU-KR-97737-XL, FH-0183-1658, 모델 S12345678",
    "운송장 6617-6031-3721 / 운송장번호 4111-1111-1111-1111 / tracking 1Z999AA10123456784",
    "barcode 8801234567890",
    # versions and ISBNs
    "앱 버전 v10.20.18, build 10.0.17275.1976, version 1.2.3.4",
    "ISBN 978-89-1092-815-7, ISBN 9788912345678",
    # invalid checksums
    "business number 891-13-17599 failed; 사업자번호 4628100488 오류; 220-81-62518",
    "test card 4235-9722-0327-1121 / 4341 2136 2244 6434 / 347554615762730",
    # RRN look-alikes with impossible dates
    "주민번호 검증 실패 881919-1494398, 160300-4152338, 0112333326776, 990230-1234567",
    # phone look-alikes
    "고객센터 1588-1234, 내선 1234, PIN 9577, ORD-010-1234-5678",
    # bare numbers without any cue
    "1002-123-456789 and 2208162517 and 0212345678 and M12345678",
    # not IPs
    "MAC 00:1A:2B:3C:4D:5E, 256.1.1.1, 1.2.3.4.5, 37.5665",
    # not emails
    "@channel name@ user@localhost a@b.c",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negative(text: str) -> None:
    assert structured(text) == set()


def test_bank_account_loses_to_a_closer_order_cue() -> None:
    text = "환불계좌 새마을금고 9002-3100-2516-7, 금액 3,090,000 KRW, 주문 20240416818174"
    assert structured(text) == {("KR_BANK_ACCOUNT", "9002-3100-2516-7")}
