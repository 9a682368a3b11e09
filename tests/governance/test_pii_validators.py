"""Validation rules: dates that cannot exist, checksums that must (or need not) pass."""

from __future__ import annotations

from datetime import date

import pytest

from gureum.governance.pii import validators as v


@pytest.mark.parametrize(
    ("digits", "born"),
    [
        ("8805242513473", date(1988, 5, 24)),
        ("0409184643843", date(2004, 9, 18)),  # 7th digit 4: born in the 2000s
        ("9201225242785", date(1992, 1, 22)),  # foreigner, 1900s
        ("0002297000000", date(2000, 2, 29)),  # leap day in a leap year
    ],
)
def test_rrn_birth_date_uses_the_century_digit(digits: str, born: date) -> None:
    assert v.rrn_birth_date(digits) == born


@pytest.mark.parametrize(
    "digits",
    [
        "8819191494398",  # month 19
        "1603004152338",  # day 00
        "0112333326776",  # month 12, day 33
        "8800151234567",  # month 00
        "9902301234567",  # 30 February
        "0102291234567",  # 29 February 1901 is not a leap day
        "8805249234567",  # 9: no longer issued
        "880524123456",  # 12 digits
    ],
)
def test_impossible_rrn_dates_are_rejected(digits: str) -> None:
    assert v.rrn_birth_date(digits) is None


def test_rrn_checksum_citizen_and_foreigner() -> None:
    assert v.rrn_checksum_ok("9001011234568") is True
    assert v.rrn_checksum_ok("9001011234567") is False
    # Foreigner numbers use 13 - (sum mod 11) instead of 11 - (sum mod 11).
    assert v.rrn_checksum_ok("9001015234561") is True
    assert v.rrn_checksum_ok("9001015234568") is False


@pytest.mark.parametrize(("digits", "ok"), [("4111111111111111", True), ("4111111111111112", False),
                                             ("378282246310005", True), ("4235972203271121", False)])
def test_luhn(digits: str, ok: bool) -> None:
    assert v.luhn_ok(digits) is ok


def test_card_networks() -> None:
    assert v.card_network_known("4111111111111111")
    assert v.card_network_known("5555555555554444")
    assert v.card_network_known("2221000000000009")
    assert v.card_network_known("378282246310005")
    assert not v.card_network_known("9410123456789012")
    assert not v.card_network_known("1234567812345670")
    assert not v.card_network_known("41111111111111")  # Visa has no 14-digit numbers


@pytest.mark.parametrize(("digits", "ok"), [("2208162517", True), ("2208162518", False), ("2737934235", True),
                                             ("8911317599", False), ("4628100488", False), ("22081625", False)])
def test_brn_checksum(digits: str, ok: bool) -> None:
    assert v.brn_checksum_ok(digits) is ok


def test_ip_validation() -> None:
    assert v.ipv4_ok("203.0.113.186")
    assert not v.ipv4_ok("10.0.17275.1976")
    assert not v.ipv4_ok("256.1.1.1")
    assert v.ipv6_ok("2001:db8:ea26:2b85::143f")
    assert v.ipv6_ok("::1")
    assert not v.ipv6_ok("12:35:17")  # a clock time
    assert not v.ipv6_ok("de:ad:be:ef:00:01")  # a MAC address


def test_license_region() -> None:
    assert v.license_region_ok("112212345678")
    assert v.license_region_ok("282212345678")
    assert not v.license_region_ok("992212345678")
