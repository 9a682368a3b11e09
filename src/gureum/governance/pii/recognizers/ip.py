"""IP_ADDRESS: IPv4 (every octet 0-255) and IPv6 (anything `ipaddress` parses)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gureum.governance.pii.entity import Entity
from gureum.governance.pii.recognizers.context import NOT_PII, Document
from gureum.governance.pii.validators import ipv4_ok, ipv6_ok

TYPE = "IP_ADDRESS"

# A dotted quad inside a longer dotted run (a version "10.0.17275.1976.2") is not an address.
_V4 = re.compile(r"\d(?<![0-9A-Za-z_.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![0-9A-Za-z_])(?!\.\d)")
# IPv4-mapped forms ("::ffff:192.0.2.1") end in a dotted quad.
_V6 = re.compile(
    r"[0-9A-Fa-f:](?<![0-9A-Za-z_].)(?=[0-9A-Fa-f]{0,3}:)[0-9A-Fa-f:]{1,38}"
    r"(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3}|(?<=\d)(?:\.\d{1,3}){3})?(?![0-9A-Za-z_:])"
)


class IpRecognizer:
    name = "ip_address"
    types = (TYPE,)

    def find(self, doc: Document) -> Iterator[Entity]:
        text = doc.text
        if "." in text:
            for m in _V4.finditer(text):
                # "버전 1.2.3.4" / "v1.2.3.4" is a version number with four parts.
                if ipv4_ok(m.group()) and doc.cue_before(m.start(), 12) != NOT_PII:
                    yield Entity(m.start(), m.end(), TYPE, 0.9)
        if ":" in text:
            for m in _V6.finditer(text):
                if ipv6_ok(m.group()):
                    yield Entity(m.start(), m.end(), TYPE, 0.9)
