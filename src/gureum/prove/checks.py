"""What a run of the suite reports: named checks, each passed or failed with what was seen, and
the figures behind the summary table. Every part declares the names of the checks it makes, so
a check that was never reached counts as failed rather than silently missing, and the short CI
version can name each one (and mark the known gaps) before anything runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Check:
    name: str  # "<part>.<what>", stable: CI marks known gaps by this name
    ok: bool
    detail: str = ""


@dataclass
class Results:
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)  # numbers for the summary (per part)
    leaks: list[str] = field(default_factory=list)  # every canary seen where it must not be
    lost: list[str] = field(default_factory=list)  # answered requests missing from ledger or audit

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    def figure(self, part: str, **values: Any) -> None:
        self.figures.setdefault(part, {}).update(values)

    def missing(self, declared: tuple[str, ...], part_error: str | None = None) -> None:
        """Fail every declared check that a part did not report (it crashed before it got there)."""
        seen = {c.name for c in self.checks}
        for name in declared:
            if name not in seen:
                self.check(name, False, f"not reached: {part_error or 'the part ended early'}")

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks], "figures": self.figures,
                "leaks": self.leaks, "lost": self.lost}


def openai_error(response: Any) -> bool:
    """Whether a response body is OpenAI's error shape: {"error": {"message","type","param","code"}}."""
    try:
        err = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(err, dict) and {"message", "type", "param", "code"} <= set(err)
