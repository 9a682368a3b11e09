"""PII guard: detect Korean and international identifiers and personal names, then mask,
redact, block or allow them per type.

    from gureum.governance.pii import Action, apply, detect, unmask
    found = detect("홍길동 고객님 010-1234-5678")
    masked = apply(text, found, {"PERSON": Action.MASK, "KR_PHONE": Action.MASK})
"""

from gureum.governance.pii.engine import Analyzer, detect, resolve_overlaps, warm_up
from gureum.governance.pii.entity import Entity
from gureum.governance.pii.masking import (
    Action,
    MaskResult,
    StreamUnmasker,
    Vault,
    apply,
    apply_all,
    redact_found,
    unmask,
)
from gureum.governance.pii.recognizers import REGISTRY, Document, Recognizer, Registry, add_cues, register

# The entity types the built-in recognizers report (the names are a contract).
TYPES = (
    "KR_RRN",
    "KR_FOREIGNER_RN",
    "KR_PHONE",
    "EMAIL",
    "CREDIT_CARD",
    "KR_BANK_ACCOUNT",
    "KR_PASSPORT",
    "KR_DRIVER_LICENSE",
    "KR_BRN",
    "IP_ADDRESS",
    "PERSON",
)

__all__ = [
    "REGISTRY",
    "TYPES",
    "Action",
    "Analyzer",
    "Document",
    "Entity",
    "MaskResult",
    "Recognizer",
    "Registry",
    "StreamUnmasker",
    "Vault",
    "add_cues",
    "apply",
    "apply_all",
    "detect",
    "redact_found",
    "register",
    "resolve_overlaps",
    "unmask",
    "warm_up",
]
