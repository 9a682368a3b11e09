"""Rendering a check: Rich text for people, JSON for scripts, SARIF 2.1.0 for code-scanning UIs
(per-result level; partial fingerprints built from the rule and what the finding is about, so
they survive edits that move lines)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gureum.checklist.declared import DEFAULTS, DeclaredPlatform
from gureum.checklist.model import (
    QUESTION_TITLES,
    RULES,
    Finding,
    Question,
    Rule,
    Severity,
)
from gureum.checklist.rules.cost import worst_case
from gureum.checklist.workloads import workloads

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def fingerprints(findings: list[Finding]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for f in findings:
        base = hashlib.sha256(f"{f.rule}\0{f.where}".encode()).hexdigest()[:32]
        seen[base] += 1
        out.append(base if seen[base] == 1 else f"{base}:{seen[base]}")
    return out


def _file(p: DeclaredPlatform, f: Finding) -> Path | None:
    """The file a finding points into; None for what only the running platform has (its URL)."""
    if f.file is not None:
        return Path(f.file)
    if f.path is None and p.live_url:
        return None
    return p.source.path if p.source is not None else None


def _uri(p: DeclaredPlatform, f: Finding) -> str:
    path = _file(p, f)
    if path is None:
        return p.live_url or p.origin
    try:
        return path.resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def _location(p: DeclaredPlatform, f: Finding) -> dict[str, Any]:
    path = _file(p, f)
    return {"file": str(path) if path else p.live_url or p.origin, "line": f.line, "column": f.column}


def summary(findings: list[Finding]) -> dict[str, int]:
    out = {s.value: 0 for s in Severity}
    out["suppressed"] = 0
    for f in findings:
        if f.suppressed is not None:
            out["suppressed"] += 1
        else:
            out[f.effective(RULES[f.rule]).value] += 1
    return out


def _cost_rows(p: DeclaredPlatform) -> list[dict[str, Any]]:
    rows = []
    for t in p.tenants():
        w = worst_case(p, t)
        rows.append({"tenant": "(defaults)" if t == DEFAULTS else t, "monthly": w.monthly, "bound": w.bound,
                     "currency": p.settings.economy.currency})
    return rows


def to_json(p: DeclaredPlatform, findings: list[Finding]) -> dict[str, Any]:
    prints = fingerprints(findings)
    return {
        "version": 1,
        "origin": p.origin,
        "summary": summary(findings),
        "workloads": [vars(w) for w in workloads(p)],
        "worst_case_monthly_cost": _cost_rows(p),
        "findings": [
            {
                "rule": f.rule, "question": RULES[f.rule].question.value, "severity": f.effective(RULES[f.rule]).value,
                "title": RULES[f.rule].title, "message": f.message, "fix": f.fix, "where": f.where,
                "location": _location(p, f), "fingerprint": fp,
                "suppressed": None if f.suppressed is None else
                {"reason": f.suppressed.reason, "expires": f.suppressed.expires.isoformat()},
            }
            for f, fp in zip(findings, prints, strict=True)
        ],
    }


def _sarif_rule(r: Rule) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": "".join(w.capitalize() for w in r.title.replace("'", "").split()[:8] if w.isalnum()) or r.id,
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": r.doc or r.title},
        "defaultConfiguration": {"level": SARIF_LEVEL[r.severity]},
        "properties": {"question": r.question.value, "tags": [r.question.value]},
    }


def to_sarif(p: DeclaredPlatform, findings: list[Finding], rules: list[Rule], version: str) -> dict[str, Any]:
    index = {r.id: i for i, r in enumerate(rules)}
    results = []
    for f, fp in zip(findings, fingerprints(findings), strict=True):
        region: dict[str, Any] = {}
        if f.line is not None:
            region = {"startLine": f.line, **({"startColumn": f.column} if f.column else {})}
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(p, f)}}
        if region:
            physical["region"] = region
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": SARIF_LEVEL[f.effective(RULES[f.rule])],
            "message": {"text": f"{f.message} Fix: {f.fix}"},
            "locations": [{"physicalLocation": physical,
                           "logicalLocations": [{"fullyQualifiedName": f.where, "kind": "member"}]}],
            "partialFingerprints": {"gureumFinding/v1": fp},
            "properties": {"fix": f.fix, "where": f.where},
        }
        if f.suppressed is not None:
            result["suppressions"] = [{
                "kind": "external", "status": "accepted",
                "justification": f"{f.suppressed.reason} (until {f.suppressed.expires:%Y-%m-%d})",
            }]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "gureum check", "version": version, "rules": [_sarif_rule(r) for r in rules]}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }


def print_text(console: Console, p: DeclaredPlatform, findings: list[Finding]) -> None:
    console.print(f"[bold]gureum check[/] {escape(p.origin)}")
    wl = Table("workload", "kind", "shape", "store", "scaling signal", title="Workloads", title_justify="left")
    for w in workloads(p):
        wl.add_row(w.name, w.kind, w.shape, w.store, w.scaling)
    console.print(wl)
    for q in Question:
        mine = [f for f in findings if RULES[f.rule].question is q]
        if q is Question.SUPPRESSIONS and not mine:
            continue
        console.print(f"\n[bold]{QUESTION_TITLES[q]}[/] — {len(mine) or 'no'} finding(s)")
        for f in sorted(mine, key=lambda f: (-f.effective(RULES[f.rule]).rank, f.rule)):
            sev = f.effective(RULES[f.rule])
            loc = _location(p, f)
            at = loc["file"] + (f":{loc['line']}:{loc['column']}" if loc["line"] else "")
            style = "dim" if f.suppressed else _STYLE[sev]
            tag = f"suppressed ({f.suppressed.reason}; until {f.suppressed.expires})" if f.suppressed else sev.value
            console.print(f"  [{style}]{escape(tag)}[/] [bold]{f.rule}[/] {escape(at)}", highlight=False)
            console.print(f"    {escape(f.message)}", highlight=False)
            console.print(f"    [green]fix:[/] {escape(f.fix)}", highlight=False)
    cost = Table("tenant", "worst case / month", "bound by", title="\nWorst-case monthly cost", title_justify="left")
    for row in _cost_rows(p):
        value = "unbounded" if row["monthly"] is None else f"{row['monthly']:,.2f} {row['currency']}"
        cost.add_row(row["tenant"], value, row["bound"])
    console.print(cost)
    s = summary(findings)
    console.print(f"\n{s['error']} error(s), {s['warning']} warning(s), {s['info']} info, {s['suppressed']} suppressed")


__all__ = ["SARIF_SCHEMA", "fingerprints", "print_text", "summary", "to_json", "to_sarif"]
