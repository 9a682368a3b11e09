"""Workload definition: each workload's store and scaling signal fit its shape, and every route
it declares leads somewhere."""

from __future__ import annotations

from collections.abc import Iterator

from gureum.checklist.declared import DEFAULTS, DeclaredPlatform
from gureum.checklist.model import Finding, Question, Severity, rule
from gureum.checklist.workloads import IN_FLIGHT_METRIC


@rule("WRK001", Question.WORKLOADS, Severity.WARNING, "Stateless replicas on a store only one machine can reach")
def embedded_store(p: DeclaredPlatform) -> Iterator[Finding]:
    """Without `database_url` keys, ledger, audit and collections live in the embedded PostgreSQL
    under `data_dir`: a second replica would start a second, separate platform."""
    if p.settings.database_url:
        return
    yield Finding(
        "WRK001",
        f"The inference workload scales out on {IN_FLIGHT_METRIC}, but its state is in the embedded PostgreSQL under "
        f"{p.settings.data_dir}: replicas cannot share keys, budgets, the audit chain or collections.",
        "Set `database_url` to a PostgreSQL (>= 15, with pgvector) every replica reaches.",
        "database_url", ("database_url",) if p.written(("database_url",)) else ("data_dir",),
    )


@rule("WRK002", Question.WORKLOADS, Severity.WARNING, "Budgets, limits or caches counted per replica")
def in_process_counters(p: DeclaredPlatform) -> Iterator[Finding]:
    """Without `redis_url`, RPM/TPM limits, budget reservations and exact cache entries are held
    in each process: N replicas admit N times the limit."""
    if p.settings.redis_url:
        return
    metered = []
    hard = False
    for t in p.tenants():
        r = p.rules(t)
        if r.budgets or any(v is not None for v in (r.rpm, r.tpm, r.key_rpm, r.key_tpm)):
            metered.append(t)
            hard = hard or any(b.mode == "hard" for b in r.budgets)
    if not metered:
        return
    names = ", ".join("defaults" if t == DEFAULTS else t for t in metered)
    yield Finding(
        "WRK002",
        f"Budgets or rate limits are declared ({names}) but counted in process: with N API replicas each admits its "
        "own share, so hard budgets and limits hold only for one replica.",
        "Set `redis_url` so every replica reserves and counts in one place (`governance.fail_open` decides what "
        "happens when it is unreachable).",
        "redis_url", ("redis_url",) if p.written(("redis_url",)) else ("governance",),
        severity=Severity.ERROR if hard else None,
    )


@rule("WRK003", Question.WORKLOADS, Severity.ERROR, "A route names a model the catalog does not have")
def dangling(p: DeclaredPlatform) -> Iterator[Finding]:
    """Virtual model candidates, fallbacks and a collection's embedder, answer model and reranker
    must name a model of the right kind, or the route fails at run time."""
    s = p.settings
    for name, vm in s.virtual_models.items():
        for i, ref in enumerate(vm.candidates):
            if not p.deployments_of(ref, "chat"):
                yield _missing(p, f"virtual model '{name}' candidate", ref, "chat", f"virtual_models.{name}",
                               ("virtual_models", name, "candidates", i))
    for name, targets in s.routing.fallbacks.items():
        if not p.known_model(name):
            yield _missing(p, "fallbacks entry", name, None, f"routing.fallbacks.{name}", ("routing", "fallbacks", name))
        for i, ref in enumerate(targets):
            if not p.deployments_of(ref):
                yield _missing(p, f"fallback of '{name}'", ref, None, f"routing.fallbacks.{name}",
                               ("routing", "fallbacks", name, i))
    for c in p.collections:
        refs: tuple[tuple[str, str | None, str], ...] = (
            ("embedder", c.embedder, "embedding"), ("answer_model", c.answer_model, "chat"),
            ("reranker", c.reranker, "rerank"))
        for field, model_ref, kind in refs:
            if model_ref is None:
                if field == "embedder":
                    yield _missing(p, f"collection '{c.name}' embedder", "(none)", kind, c.where, c.path)
                continue
            if not (p.deployments_of(model_ref, kind) or (kind == "chat" and model_ref in s.virtual_models)):
                yield _missing(p, f"collection '{c.name}' {field}", model_ref, kind, c.where,
                               (*c.path, field) if c.path else None)


def _missing(p: DeclaredPlatform, what: str, ref: str, kind: str | None, where: str,
             path: tuple[str | int, ...] | None) -> Finding:
    names = sorted({d.name for d in p.settings.deployments if kind is None or d.kind == kind})
    of = (f"an {kind}" if kind[0] in "aeiou" else f"a {kind}") if kind else "a"
    return Finding(
        "WRK003", f"The {what} '{ref}' is not {of} model in the catalog, so that route fails at run time.",
        f"Name one of: {', '.join(names) or 'none declared'}; or add a deployment `{{name: {ref}, kind: {kind or 'chat'}, …}}`.",
        f"{where}:{ref}", path,
    )
