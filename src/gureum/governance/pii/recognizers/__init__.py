"""The recognizer registry. Built-ins register here exactly as an extension would:

    from gureum.governance.pii.recognizers import register
    register(MyRecognizer())

A recognizer is any object with `name`, `types` and `find(doc) -> Iterable[Entity]`
(see `base.Recognizer`); `context.add_cues` lets it declare the cue words of its type.
"""

from __future__ import annotations

from gureum.governance.pii.recognizers.bank import BankAccountRecognizer
from gureum.governance.pii.recognizers.base import Recognizer, Registry
from gureum.governance.pii.recognizers.brn import BrnRecognizer
from gureum.governance.pii.recognizers.card import CardRecognizer
from gureum.governance.pii.recognizers.context import Document, add_cues
from gureum.governance.pii.recognizers.documents import DriverLicenseRecognizer, PassportRecognizer
from gureum.governance.pii.recognizers.email import EmailRecognizer
from gureum.governance.pii.recognizers.ip import IpRecognizer
from gureum.governance.pii.recognizers.national_id import NationalIdRecognizer
from gureum.governance.pii.recognizers.person import PersonRecognizer
from gureum.governance.pii.recognizers.phone import PhoneRecognizer

__all__ = ["REGISTRY", "Document", "Recognizer", "Registry", "add_cues", "register"]

REGISTRY = Registry()


def register(recognizer: Recognizer, *, replace: bool = False) -> Recognizer:
    """Add a recognizer to the default registry the engine uses."""
    return REGISTRY.register(recognizer, replace=replace)


for _builtin in (
    NationalIdRecognizer(),
    PhoneRecognizer(),
    EmailRecognizer(),
    CardRecognizer(),
    BankAccountRecognizer(),
    PassportRecognizer(),
    DriverLicenseRecognizer(),
    BrnRecognizer(),
    IpRecognizer(),
    PersonRecognizer(),
):
    register(_builtin)
