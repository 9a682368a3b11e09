"""Flow security: every route to a model passes identify, authorize (ACL and allow-lists), the
PII guard and audit; every tenant is under a PII policy; keys expire where the policy asks; no
collection is open to a whole tenant by accident; no secret is written into the file."""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from gureum.checklist.declared import DeclaredPlatform
from gureum.checklist.model import Finding, Question, Severity, rule
from gureum.checklist.rules.gravity import LOCAL, allowed_types
from gureum.governance.pii import TYPES

# The stages every model call must pass, outermost first, by their class names in the flow.
REQUIRED_ORDER = ("Audit", "Identify", "Authorize", "Guard", "Call")
# Stages that put text in front of a model must run inside identify/authorize and before the guard.
BEFORE_GUARD = ("Retrieve",)


def stage_list(source: str) -> list[tuple[str, int]] | None:
    """The stage classes of the first `build([...])` call in `source`, in order, with their lines."""
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "build"
                and node.args and isinstance(node.args[0], ast.List)):
            stages = []
            for el in node.args[0].elts:
                fn = el.func if isinstance(el, ast.Call) else el
                name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else "?"
                stages.append((name, el.lineno))
            return stages
    return None


def flow_stages() -> tuple[Path, list[tuple[str, int]]] | None:
    """The flow `gureum.platform` builds, read from its source: the flow is built in code, from
    one literal list of stages, not from data."""
    spec = importlib.util.find_spec("gureum.platform")  # its source, without importing the platform
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin)
    stages = stage_list(path.read_text(encoding="utf-8"))
    return (path, stages) if stages is not None else None


@rule("SEC001", Question.FLOW_SECURITY, Severity.ERROR, "The flow misses a required stage or runs it out of order")
def flow_complete(p: DeclaredPlatform) -> Iterator[Finding]:
    """Audit outermost, then identify, authorize, the PII guard, and the provider call last; stages
    that add text for a model (retrieval) run after authorize and before the guard."""
    found = flow_stages()
    if found is None:
        yield Finding("SEC001", "The flow's stage list could not be read from gureum.platform (no `build([...])`).",
                      "Build the flow from one literal list of stages in gureum/platform.py.", "flow", None,
                      severity=Severity.WARNING)
        return
    path, stages = found
    names = [n for n, _ in stages]
    line = stages[0][1] if stages else None
    for name in REQUIRED_ORDER:
        if name not in names:
            yield Finding("SEC001", f"The flow has no {name} stage: model calls skip it ({' → '.join(names)}).",
                          f"Add {name} to the stage list in gureum/platform.py.", f"flow:{name}", None,
                          file=str(path), line=line, column=1)
    present = [n for n in REQUIRED_ORDER if n in names]
    for a, b in zip(present, present[1:], strict=False):
        if names.index(a) > names.index(b):
            yield Finding("SEC001", f"{b} runs before {a} in the flow ({' → '.join(names)}).",
                          f"Order the stages {' → '.join(REQUIRED_ORDER)}.", f"flow:{a}<{b}", None,
                          file=str(path), line=stages[names.index(b)][1], column=1)
    if names and names[0] != "Audit":
        yield Finding("SEC001", f"{names[0]} runs outside the audit stage: what it refuses is not audited.",
                      "Make Audit the first (outermost) stage.", "flow:outermost", None,
                      file=str(path), line=line, column=1)
    for name in BEFORE_GUARD:
        if name in names and {"Authorize", "Guard"} <= set(names) and not (
                names.index("Authorize") < names.index(name) < names.index("Guard")):
            yield Finding("SEC001", f"{name} is not between Authorize and Guard: what it adds to a prompt is not "
                          "both authorized and PII-guarded.", f"Place {name} after Authorize and before Guard.",
                          f"flow:{name}", None, file=str(path), line=stages[names.index(name)][1], column=1)


@rule("SEC002", Question.FLOW_SECURITY, Severity.ERROR, "PII scanning is off")
def pii_off(p: DeclaredPlatform) -> Iterator[Finding]:
    """With `governance.pii_enabled: false` no request is scanned: every PII action is moot."""
    if not p.settings.governance.pii_enabled:
        yield Finding("SEC002", "PII scanning is off (`governance.pii_enabled: false`): identifiers reach every model "
                      "as written, whatever the PII actions say.",
                      "Remove `pii_enabled: false`; to let PII through for local models, use "
                      "`pii.by_region.local: {'*': allow}`.", "governance.pii_enabled",
                      ("governance", "pii_enabled"))


@rule("SEC003", Question.FLOW_SECURITY, Severity.ERROR, "A tenant without a PII policy")
def tenant_without_pii(p: DeclaredPlatform) -> Iterator[Finding]:
    """A tenant whose effective action is `allow` for every type in every external region it
    reaches has no PII policy in effect."""
    if not p.settings.governance.pii_enabled:
        return
    for t in p.tenants():
        regions, _ = p.allowed_regions(set(p.rules(t).residency))
        reach = {h.deployment.region for m in p.requestable(t) for h in p.reachable(t, m)}
        external = sorted(r for r in reach if r != LOCAL and (regions is None or r in regions))
        if external and all(set(allowed_types(p, t, r)) >= {"*", *TYPES} for r in external):
            own = (*p.tenant_path(t), "pii")
            yield Finding(
                "SEC003",
                f"{p.tenant_label(t).capitalize()} has no PII policy in effect: every type is allowed in "
                f"{', '.join(external)}.",
                "Give it one (`pii: {default: {'*': mask}}` under its policy) or fix the global `governance.pii`.",
                p.tenant_where(t), own if p.written(own) else ("governance", "pii"),
            )


@rule("SEC004", Question.FLOW_SECURITY, Severity.WARNING, "A key without the expiry the policy asks for")
def key_expiry(p: DeclaredPlatform) -> Iterator[Finding]:
    """With `check.key_max_days`, every live key must expire within that many days of its creation
    (keys are in the store: checked with `--live`)."""
    limit = p.settings.check.key_max_days
    if limit is None or p.keys is None:
        return
    for k in p.keys:
        if k.revoked:
            continue
        if k.expires_at is None or k.expires_at - k.created_at > timedelta(days=limit):
            when = "never expires" if k.expires_at is None else f"expires {k.expires_at:%Y-%m-%d}"
            yield Finding(
                "SEC004",
                f"Key {k.id} (tenant {k.tenant_id}, role {k.role}) {when}; the policy asks for at most {limit} days.",
                f"Revoke it and create one with `gureum keys create --expires-days {limit}` (or the API's `expires_at`).",
                f"keys.{k.id}", ("check", "key_max_days"),
            )


SECRET_KEYS = ("api_key", "secret_key", "session_token", "password")


def _env_name(path: tuple[str | int, ...]) -> str:
    parts = path[1:] if path[0] == "providers" else ("gureum", *path)
    return "_".join(map(str, parts)).upper().replace("-", "_")


@rule("SEC005", Question.FLOW_SECURITY, Severity.ERROR, "A secret written into the file")
def secret_in_file(p: DeclaredPlatform) -> Iterator[Finding]:
    """Keys and passwords belong in the environment (`${VAR}`), not in a file that is copied,
    committed and mounted."""
    candidates: list[tuple[str | int, ...]] = [("admin_key",), ("database_url",), ("redis_url",)]
    for name in p.settings.providers:
        candidates += [("providers", name, key) for key in SECRET_KEYS]
    for path in candidates:
        raw = p.raw(path)
        if not isinstance(raw, str) or not raw or "${" in raw:
            continue
        if path[-1].__str__().endswith("_url"):
            from urllib.parse import urlsplit

            if not urlsplit(raw).password:
                continue
        yield Finding(
            "SEC005", f"`{'.'.join(map(str, path))}` holds a secret written into {p.origin}.",
            f"Write `\"${{{_env_name(path)}}}\"` and set that variable in the "
            "environment (or a Kubernetes Secret).",
            ".".join(map(str, path)), path,
        )


@rule("SEC006", Question.FLOW_SECURITY, Severity.WARNING, "A collection readable by everyone in its tenant by default")
def open_collection(p: DeclaredPlatform) -> Iterator[Finding]:
    """A document without an ACL of its own gets the collection's `default_acl`; left unset it is
    `*`: every key of the tenant reads it."""
    for c in p.collections:
        if c.path is not None and c.default_acl is None:
            yield Finding(
                "SEC006",
                f"Collection '{c.name}' (tenant {c.tenant}) sets no default_acl: documents without their own ACL are "
                "readable by every key of the tenant.",
                "Write `default_acl: ['group:<team>']`, or `default_acl: ['*']` if the whole tenant may read them.",
                c.where, c.path,
            )
        elif c.path is None and c.default_acl is not None and "*" in c.default_acl:
            yield Finding(
                "SEC006",
                f"Collection '{c.name}' (tenant {c.tenant}) on the running platform has default_acl '*': documents "
                "without their own ACL are readable by every key of the tenant.",
                "Declare it under `collections:` with the intended default_acl, or change it with "
                f"`PATCH /v1/collections/{c.name}`.",
                c.where, None,
            )


@rule("SEC007", Question.FLOW_SECURITY, Severity.WARNING, "Replies are not checked for leaked PII")
def leak_check_off(p: DeclaredPlatform) -> Iterator[Finding]:
    """With redact or block actions, `leak_check` is what keeps a model from echoing such PII
    (from retrieved chunks, say) back in its reply."""
    if p.settings.governance.leak_check or not p.settings.governance.pii_enabled:
        return
    regions = {d.region for d in p.settings.deployments} | {LOCAL}
    strict = sorted({t for t in p.tenants() if {"redact", "block"} & p.rules(t).possible_actions(regions)})
    if strict:
        yield Finding(
            "SEC007", f"Some PII types are redacted or blocked ({', '.join(strict)}) but replies are not scanned "
            "(`governance.leak_check: false`): a model can still write them out.",
            "Remove `leak_check: false` (it costs nothing when no type is redacted or blocked).",
            "governance.leak_check", ("governance", "leak_check"),
        )
