"""What a check is made of: findings, rules and the one registration hook for rules.

A rule is a function from the declared platform to findings, registered once with its id, the
architect's question it answers, its default severity and a one-line title. Built-in rules
register the same way an extension (agents, jobs, a company's own rules) would: `@rule(...)`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gureum.checklist.declared import DeclaredPlatform
    from gureum.checklist.settings import Suppression


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


class Question(StrEnum):
    """The seed's four design-time questions."""

    WORKLOADS = "workloads"
    DATA_GRAVITY = "data-gravity"
    FLOW_SECURITY = "flow-security"
    COST = "cost"
    SUPPRESSIONS = "suppressions"  # about the check's own suppressions


QUESTION_TITLES = {
    Question.WORKLOADS: "Workload definition: what runs, in which shape, on which store and scaling signal",
    Question.DATA_GRAVITY: "Data gravity: where data lives and which models may receive it",
    Question.FLOW_SECURITY: "Flow security: identify, ACL, PII guard and audit on every path",
    Question.COST: "Cost architecture: budgets, cost-aware routes, worst-case spend",
    Question.SUPPRESSIONS: "Suppressions: accepted findings, each with a reason and an expiry",
}


@dataclass
class Finding:
    rule: str
    message: str
    fix: str
    where: str  # a stable name for what is wrong (suppressions and fingerprints use it)
    path: tuple[str | int, ...] | None = None  # the YAML key it is about, when it is in the file
    severity: Severity | None = None  # None: the rule's default
    file: str | None = None  # another file than the checked one (e.g. the flow's source)
    line: int | None = None
    column: int | None = None
    suppressed: Suppression | None = None

    def effective(self, rule: Rule) -> Severity:
        return self.severity or rule.severity


Check = Callable[["DeclaredPlatform"], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    question: Question
    severity: Severity
    title: str
    check: Check = field(compare=False)
    doc: str = ""


RULES: dict[str, Rule] = {}


def rule(id: str, question: Question, severity: Severity, title: str) -> Callable[[Check], Check]:
    """Register a rule. Ids are three capitals and three digits; one id, one rule."""

    def register(fn: Check) -> Check:
        if id in RULES and RULES[id].check is not fn:
            raise ValueError(f"rule {id} is registered twice ({RULES[id].check.__qualname__}, {fn.__qualname__})")
        RULES[id] = Rule(id, question, severity, title, fn, (fn.__doc__ or "").strip())
        return fn

    return register


__all__ = ["QUESTION_TITLES", "RULES", "Check", "Finding", "Question", "Rule", "Severity", "rule"]
