"""Running the rules: every registered rule over the declared platform, then the suppressions
from `check.suppress` — an expired one stops suppressing and says so, one that matches nothing
says so too — and the positions of what each finding is about."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from gureum.checklist.declared import DeclaredPlatform
from gureum.checklist.model import RULES, Finding, Question, Rule, Severity, rule
from gureum.checklist.rules import load


@rule("CHK001", Question.SUPPRESSIONS, Severity.WARNING, "An expired suppression")
def _expired(p: DeclaredPlatform) -> Iterable[Finding]:
    """Reported by the engine: a suppression past its `expires` no longer hides its findings."""
    return ()


@rule("CHK002", Question.SUPPRESSIONS, Severity.WARNING, "A suppression that matches nothing")
def _unmatched(p: DeclaredPlatform) -> Iterable[Finding]:
    """Reported by the engine: a suppression whose rule and `where` match no finding is stale."""
    return ()


META = ("CHK001", "CHK002")


def rules() -> list[Rule]:
    load()
    order = list(Question)
    return sorted(RULES.values(), key=lambda r: (order.index(r.question), r.id))


def run(p: DeclaredPlatform, today: date | None = None, only: Iterable[str] | None = None) -> list[Finding]:
    today = today or date.today()
    wanted = set(only) if only else None
    findings: list[Finding] = []
    for r in rules():
        if r.id in META or (wanted is not None and r.id not in wanted):
            continue
        findings.extend(r.check(p))
    findings.extend(_suppress(p, findings, today))
    for f in findings:
        if f.line is None and f.file is None:
            pos = p.position(f.path)
            if pos is not None:
                f.line, f.column = pos
    return findings


def matches(where: str, pattern: str) -> bool:
    """`*` and `?` are the only wildcards: `where` strings hold brackets (`deployments[x]`)."""
    rx = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(rx, where) is not None


def _suppress(p: DeclaredPlatform, findings: list[Finding], today: date) -> list[Finding]:
    meta: list[Finding] = []
    for i, s in enumerate(p.settings.check.suppress):
        path = ("check", "suppress", i)
        hits = [f for f in findings if f.rule == s.rule and (s.where is None or matches(f.where, s.where))]
        label = f"{s.rule}" + (f" where {s.where}" if s.where else "")
        if s.expires < today:
            meta.append(Finding(
                "CHK001", f"The suppression of {label} expired on {s.expires:%Y-%m-%d} ({len(hits)} finding(s) count "
                f"again); its reason was: {s.reason}",
                "Fix the findings, or renew the suppression with a new `expires` and a reason that still holds.",
                f"check.suppress:{label}", path,
            ))
            continue
        if not hits:
            meta.append(Finding(
                "CHK002", f"The suppression of {label} matches no finding.",
                "Remove it (what it accepted is gone), or correct its `rule`/`where`.", f"check.suppress:{label}", path,
            ))
        for f in hits:
            f.suppressed = f.suppressed or s
    return meta


def failing(findings: Iterable[Finding], threshold: Severity | None) -> list[Finding]:
    """Unsuppressed findings at or above `threshold` (None: nothing fails)."""
    if threshold is None:
        return []
    return [f for f in findings if f.suppressed is None and f.effective(RULES[f.rule]).rank >= threshold.rank]


__all__ = ["META", "failing", "matches", "rules", "run"]
