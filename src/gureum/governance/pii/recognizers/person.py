"""PERSON: the rules live in `gureum.governance.pii.names`; this adapts them to the registry."""

from __future__ import annotations

from collections.abc import Iterator

from gureum.governance.pii.entity import Entity
from gureum.governance.pii.names import TYPE, find_names
from gureum.governance.pii.recognizers.context import Document


class PersonRecognizer:
    name = "person"
    types = (TYPE,)

    def find(self, doc: Document) -> Iterator[Entity]:
        return find_names(doc.text)
