"""Validation rules for structured identifiers: what makes a digit string a real one.

Each function takes the digits only (separators already stripped) and answers a yes/no
question; recognizers turn the answers into a score. Checksums that stopped being issued
(RRN check digits since October 2020) are reported separately from hard rules (the birth
date must exist) so a recognizer can let them raise confidence without requiring them.
"""

from __future__ import annotations

import ipaddress
from datetime import date

# The 7th RRN digit encodes century and (for foreigners) registration: 1-4 citizens, 5-8
# foreign residents. 9/0 (born in the 1800s) are real but no longer seen in live data.
_CENTURY = {"1": 1900, "2": 1900, "3": 2000, "4": 2000, "5": 1900, "6": 1900, "7": 2000, "8": 2000}
_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_BRN_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)
# Driver-licence region codes used since the 2010s numeric format (11 서울 … 28 경기북부).
_LICENSE_REGIONS = frozenset(range(11, 29)) - {27}


def rrn_birth_date(digits: str) -> date | None:
    """The birth date encoded by a 13-digit RRN/foreigner number, or None if it cannot exist."""
    if len(digits) != 13 or not digits.isdigit():
        return None
    century = _CENTURY.get(digits[6])
    if century is None:
        return None
    try:
        return date(century + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return None


def is_foreigner_number(digits: str) -> bool:
    return digits[6] in "5678"


def rrn_checksum_ok(digits: str) -> bool:
    """The pre-October-2020 check digit (citizen or foreigner variant)."""
    total = sum(int(d) * w for d, w in zip(digits[:12], _RRN_WEIGHTS, strict=True))
    offset = 13 if is_foreigner_number(digits) else 11
    return (offset - total % 11) % 10 == int(digits[12])


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_network_known(digits: str) -> bool:
    """Whether the issuer prefix and length belong to a card network in use."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    return (
        (digits[0] == "4" and n in (13, 16, 19))
        or (51 <= two <= 55 and n == 16)
        or (2221 <= four <= 2720 and n == 16)
        or (two in (34, 37) and n == 15)
        or ((two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305) and n == 14)
        or ((digits.startswith(("6011", "65")) or 644 <= int(digits[:3]) <= 649) and 16 <= n <= 19)
        or (3528 <= four <= 3589 and 16 <= n <= 19)
        or (two == 62 and 16 <= n <= 19)
    )


def brn_checksum_ok(digits: str) -> bool:
    """사업자등록번호: weighted sum with the 9th digit's ×5 carry, check digit last."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], _BRN_WEIGHTS, strict=True))
    total += int(digits[8]) * 5 // 10
    return (10 - total % 10) % 10 == int(digits[9])


def license_region_ok(digits: str) -> bool:
    return int(digits[:2]) in _LICENSE_REGIONS


def ipv4_ok(candidate: str) -> bool:
    parts = candidate.split(".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts)


def ipv6_ok(candidate: str) -> bool:
    # Clock times and MAC addresses share the hex-and-colon shape; only a parse tells them apart.
    if candidate.count(":") < 2 or not any(c.isdigit() for c in candidate):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True
