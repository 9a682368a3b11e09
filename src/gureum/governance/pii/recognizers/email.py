"""EMAIL: local@domain.tld, found from each "@" outwards (scanning every position for a
local part would cost far more than the rare "@" it is looking for)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gureum.governance.pii.entity import Entity
from gureum.governance.pii.recognizers.context import Document

TYPE = "EMAIL"

_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[A-Za-z]{{2,24}}(?![A-Za-z0-9-])")


class EmailRecognizer:
    name = "email"
    types = (TYPE,)

    def find(self, doc: Document) -> Iterator[Entity]:
        text = doc.text
        at = text.find("@")
        while at >= 0:
            start = at
            while start > 0 and text[start - 1] in _LOCAL_CHARS:
                start -= 1
            # A local part cannot start or end with a dot or an apostrophe.
            while start < at and text[start] in ".'":
                start += 1
            domain = _DOMAIN.match(text, at + 1)
            if domain and start < at and text[at - 1] != ".":
                yield Entity(start, domain.end(), TYPE, 0.95)
            at = text.find("@", at + 1)
