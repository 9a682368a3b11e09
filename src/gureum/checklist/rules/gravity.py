"""Data gravity: every path by which residency-tagged or PII-bearing data could reach a model or
a store outside the regions its rules allow — routing fallbacks and virtual models, collection
embedders (called outside the routed flow), shared caches and the database — found from the
declared graph alone."""

from __future__ import annotations

from collections.abc import Iterator

from gureum.checklist.declared import DEFAULTS, CollectionView, DeclaredPlatform, Hop
from gureum.checklist.model import Finding, Question, Severity, rule
from gureum.governance.pii import TYPES

LOCAL = "local"


def _regions_text(p: DeclaredPlatform, tags: set[str]) -> str:
    regions, applied = p.allowed_regions(tags)
    return ", ".join(f"{t}: {'/'.join(p.settings.governance.residency_rules[t])}" for t in applied)


def _chain(h: Hop) -> str:
    return " → ".join(h.via) + f" → {h.deployment.deployment_id} ({h.deployment.region})"


def _tagged_tenants(p: DeclaredPlatform) -> Iterator[tuple[str, set[str], set[str]]]:
    for t in p.tenants():
        tags = set(p.rules(t).residency)
        regions, _ = p.allowed_regions(tags)
        if regions is not None:
            yield t, tags, regions


@rule("GRV001", Question.DATA_GRAVITY, Severity.WARNING, "A fallback or virtual-model chain crosses a residency border")
def fallback_crosses(p: DeclaredPlatform) -> Iterator[Finding]:
    """A tagged tenant's model is served in an allowed region, but one of its fallbacks or
    candidates is elsewhere: the route stage's residency filter drops that hop at run time, so
    the declared resilience does not exist for the tenant and only that filter stands between
    its data and the foreign region."""
    for t, tags, regions in _tagged_tenants(p):
        for model in p.requestable(t):
            hops = p.reachable(t, model)
            inside = [h for h in hops if h.deployment.region in regions]
            outside = [h for h in hops if h.deployment.region not in regions]
            if not inside or not outside:
                continue
            for h in outside:
                yield Finding(
                    "GRV001",
                    f"{p.tenant_label(t).capitalize()} ({_regions_text(p, tags)}) may use '{model}', whose chain "
                    f"{_chain(h)} leaves the allowed regions. The residency filter drops it at run time: when "
                    f"{_fail_phrase(sorted({i.deployment.deployment_id for i in inside}))}, requests fail "
                    "instead of falling back.",
                    f"Give '{model}' a fallback in {', '.join(sorted(regions))}, or keep '{h.deployment.name}' off "
                    f"the tenant's `allowed_models`.",
                    f"{p.tenant_where(t)}:{model}:{h.deployment.deployment_id}",
                    _hop_path(p, model, h),
                )


def _fail_phrase(ids: list[str]) -> str:
    return f"{ids[0]} fails" if len(ids) == 1 else f"{', '.join(ids)} fail"


def _hop_path(p: DeclaredPlatform, model: str, h: Hop) -> tuple[str | int, ...]:
    s = p.settings
    if model in s.virtual_models and h.via[-1] in s.virtual_models[model].candidates:
        return ("virtual_models", model, "candidates", s.virtual_models[model].candidates.index(h.via[-1]))
    last = h.via[-1].removeprefix("fallback ")
    if model in s.routing.fallbacks and last in s.routing.fallbacks[model]:
        return ("routing", "fallbacks", model, s.routing.fallbacks[model].index(last))
    return ("deployments", h.index, "region")


@rule("GRV002", Question.DATA_GRAVITY, Severity.ERROR, "An allowed model has no deployment its residency allows")
def no_route(p: DeclaredPlatform) -> Iterator[Finding]:
    """A tenant explicitly allowed a model (or a collection answers with one, or an agent of the
    tenant steps with one) whose every deployment is outside the tenant's residency regions:
    every such request is refused."""
    for t, tags, regions in _tagged_tenants(p):
        explicit = p.patterns(t) is not None
        wanted = {m for m in p.requestable(t) if explicit}
        wanted |= {c.answer_model for c in p.collections_of(t) if c.answer_model and p.known_model(c.answer_model)}
        wanted |= {a.model for a in p.settings.agents if a.tenant == t and p.known_model(a.model)}
        for model in sorted(wanted):
            hops = p.reachable(t, model)
            if hops and all(h.deployment.region not in regions for h in hops):
                where = ", ".join(f"{h.deployment.deployment_id} ({h.deployment.region})" for h in hops)
                yield Finding(
                    "GRV002",
                    f"{p.tenant_label(t).capitalize()} ({_regions_text(p, tags)}) may use '{model}', but every "
                    f"deployment of it is elsewhere ({where}): each request is refused with 403 residency_blocked.",
                    f"Add a deployment of '{model}' in {', '.join(sorted(regions))}, or remove it from the tenant's "
                    "models.",
                    f"{p.tenant_where(t)}:{model}",
                    (*p.tenant_path(t), "allowed_models") if p.written((*p.tenant_path(t), "allowed_models"))
                    else p.tenant_path(t),
                )


def _collection_tags(p: DeclaredPlatform, c: CollectionView) -> set[str]:
    own = c.residency or next((d.region for d in p.deployments_of(c.embedder or "", "embedding")), LOCAL)
    return {own, *p.rules(c.tenant).residency}


@rule("GRV003", Question.DATA_GRAVITY, Severity.ERROR, "A collection is embedded outside its residency")
def embedder_outside(p: DeclaredPlatform) -> Iterator[Finding]:
    """A collection's embedder receives every document at ingestion and every query at retrieval.
    Those calls go through the flow, whose residency filter refuses a foreign embedder: the
    collection can then neither be filled nor searched."""
    for c in p.collections:
        tags = _collection_tags(p, c)
        regions, applied = p.allowed_regions(tags)
        if regions is None:
            continue
        for d in p.deployments_of(c.embedder or "", "embedding"):
            if d.region not in regions:
                yield Finding(
                    "GRV003",
                    f"Collection '{c.name}' (tenant {c.tenant}; {_regions_text(p, tags)}) is embedded by "
                    f"{d.deployment_id} in {d.region}, outside what its residency allows: every upload and every "
                    "query of it is refused (403 residency_blocked).",
                    f"Use an embedder in {', '.join(sorted(regions))} (e.g. local-embed) for this collection.",
                    f"{c.where}:{d.deployment_id}",
                    (*c.path, "embedder") if c.path else None,
                )


def _store_regions(p: DeclaredPlatform) -> dict[str, str | None]:
    s = p.settings
    out: dict[str, str | None] = {"database": s.check.regions.database or (None if s.database_url else LOCAL)}
    if s.redis_url:
        out["redis"] = s.check.regions.redis
    return out


def _cached(p: DeclaredPlatform, tenant: str) -> bool:
    from gureum.cache.keys import policy_for

    return policy_for(p.settings.cache, "\0defaults" if tenant == DEFAULTS else tenant, "").enabled


@rule("GRV004", Question.DATA_GRAVITY, Severity.ERROR, "A cache shared across tenants' regions keeps tagged data abroad")
def cache_store(p: DeclaredPlatform) -> Iterator[Finding]:
    """Response caches of every tenant live in one Redis (exact entries) and one database
    (exact and semantic entries): a tenant whose residency excludes that store's region has its
    (PII-masked) prompts and its answers kept abroad."""
    tagged = [(t, tags, regions) for t, tags, regions in _tagged_tenants(p) if _cached(p, t)]
    for store, region in _store_regions(p).items():
        for t, tags, regions in tagged:
            if region is not None and region in regions:
                continue
            others = [o for o, _, r in tagged if o != t and (region is None or region in r)]
            shared = f", a store shared with {', '.join(others)}" if others else ""
            where_path = ("check", "regions", store) if p.written(("check", "regions", store)) else (
                f"{store}_url",) if p.written((f"{store}_url",)) else ("cache",)
            if region is None:
                yield Finding(
                    "GRV004",
                    f"{p.tenant_label(t).capitalize()} ({_regions_text(p, tags)}) caches answers in the {store}, "
                    f"whose region is not declared{shared}: its residency cannot be shown to hold.",
                    f"Declare `check.regions.{store}`, or turn caching off for the tenant "
                    f"(`cache.tenants.{t}.enabled: false`).",
                    f"{p.tenant_where(t)}:cache:{store}", where_path, severity=Severity.WARNING,
                )
            else:
                yield Finding(
                    "GRV004",
                    f"{p.tenant_label(t).capitalize()} ({_regions_text(p, tags)}) caches answers in the {store} in "
                    f"{region}{shared}: its cached prompts and answers are kept outside its allowed regions.",
                    f"Turn caching off for the tenant (`cache.tenants.{t}.enabled: false`), or keep the {store} in "
                    f"{', '.join(sorted(regions))}.",
                    f"{p.tenant_where(t)}:cache:{store}", where_path,
                )


@rule("GRV005", Question.DATA_GRAVITY, Severity.ERROR, "Tagged documents or prompts stored in a foreign database")
def database_region(p: DeclaredPlatform) -> Iterator[Finding]:
    """Chunks of a collection, and prompts a tenant keeps in its audit events
    (`audit_masked_text`), live in the one database: its region must be allowed for them."""
    region = _store_regions(p)["database"]
    path = ("check", "regions", "database") if p.written(("check", "regions", "database")) else ("database_url",)
    subjects: list[tuple[str, set[str], str]] = [
        (f"collection '{c.name}' (tenant {c.tenant})", _collection_tags(p, c), c.where) for c in p.collections
    ]
    subjects += [(p.tenant_label(t) + "'s audited prompts", tags, p.tenant_where(t))
                 for t, tags, _ in _tagged_tenants(p) if p.rules(t).audit_masked_text]
    for what, tags, where in subjects:
        regions, _ = p.allowed_regions(tags)
        if regions is None or (region is not None and region in regions):
            continue
        place = f"in {region}" if region else "of undeclared region"
        yield Finding(
            "GRV005",
            f"The data of {what} ({_regions_text(p, tags)}) is stored in the database {place}.",
            f"Keep the database in {', '.join(sorted(regions))} and declare it (`check.regions.database`).",
            f"{where}:database", path, severity=None if region else Severity.WARNING,
        )


def _reachable_regions(p: DeclaredPlatform, t: str) -> set[str]:
    regions, _ = p.allowed_regions(set(p.rules(t).residency))
    out = {h.deployment.region for m in p.requestable(t) for h in p.reachable(t, m)}
    return {r for r in out if regions is None or r in regions}


def allowed_types(p: DeclaredPlatform, t: str, region: str) -> list[str]:
    r = p.rules(t)
    return [ty for ty in ("*", *TYPES) if r.pii_action(ty, region) == "allow"]


def _pii_path(p: DeclaredPlatform, t: str) -> tuple[str, ...]:
    own = (*p.tenant_path(t), "pii")
    return own if p.written(own) else ("governance", "pii")


@rule("GRV006", Question.DATA_GRAVITY, Severity.ERROR, "PII sent in clear to an external region")
def pii_in_clear(p: DeclaredPlatform) -> Iterator[Finding]:
    """A PII type whose action is `allow` for a non-local region a tenant's requests reach is sent
    to that region's models as written."""
    if not p.settings.governance.pii_enabled:
        return
    for t in p.tenants():
        regions = sorted(r for r in _reachable_regions(p, t) if r != LOCAL)
        if all(set(allowed_types(p, t, r)) >= {"*", *TYPES} for r in regions):
            continue  # nothing is guarded anywhere: SEC003 says so once
        for region in regions:
            types = [ty for ty in allowed_types(p, t, region) if ty != "*"]
            if types:
                yield Finding(
                    "GRV006",
                    f"{p.tenant_label(t).capitalize()} sends {', '.join(types)} in clear to models in {region}.",
                    f"Set these types to mask (or redact/block) for {region}: "
                    f"`pii.by_region.{region}: {{{types[0]}: mask}}`.",
                    f"{p.tenant_where(t)}:pii:{region}", _pii_path(p, t),
                )


def _external(p: DeclaredPlatform, c: CollectionView, model: str | None, kind: str) -> list[str]:
    if model is None:
        return []
    regions, _ = p.allowed_regions(_collection_tags(p, c))
    hops = p.reachable(c.tenant, model, kind)
    return sorted({h.deployment.deployment_id for h in hops
                   if h.deployment.region != LOCAL and (regions is None or h.deployment.region in regions)})


@rule("GRV007", Question.DATA_GRAVITY, Severity.ERROR, "A collection lets PII in its chunks reach external models")
def collection_pii_allow(p: DeclaredPlatform) -> Iterator[Finding]:
    """`pii_policy: allow` sends chunks with PII as they are to the answer model and the reranker;
    with an external deployment among them, the documents' PII leaves the platform."""
    for c in p.collections:
        if c.pii_policy != "allow":
            continue
        answer = c.answer_model or ("auto" if "auto" in p.settings.virtual_models else None)
        external = _external(p, c, answer, "chat") + _external(p, c, c.reranker, "rerank")
        if external:
            yield Finding(
                "GRV007",
                f"Collection '{c.name}' (tenant {c.tenant}) has pii_policy allow and answers or reranks with external "
                f"deployments ({', '.join(external)}): PII in its chunks is sent to them in clear.",
                "Set `pii_policy: mask` (or exclude), or answer and rerank with local deployments only.",
                f"{c.where}:pii", (*c.path, "pii_policy") if c.path else None,
            )


@rule("GRV008", Question.DATA_GRAVITY, Severity.WARNING, "Document PII reaches an external embedder")
def pii_to_embedder(p: DeclaredPlatform) -> Iterator[Finding]:
    """The PII policy of a collection governs prompts; what its embedder receives at ingestion is
    governed by the tenant's PII rules for the embedder's region (embeddings go through the
    guard): where those allow a type, it leaves in clear."""
    for c in p.collections:
        if c.pii_policy == "allow":
            continue
        rules = p.rules(c.tenant)
        for d in p.deployments_of(c.embedder or "", "embedding"):
            if d.region != LOCAL and "allow" in rules.possible_actions({d.region}):
                yield Finding(
                    "GRV008",
                    f"Collection '{c.name}' (tenant {c.tenant}) masks PII for external models (pii_policy "
                    f"{c.pii_policy}), but the tenant's PII rules for region {d.region} allow some types, so its "
                    f"embedder {d.deployment_id} receives those in clear at ingestion.",
                    "Embed with a local model (local-embed), set the region's PII actions to mask, or accept it "
                    "explicitly with `pii_policy: allow`.",
                    f"{c.where}:embedder:{d.deployment_id}", (*c.path, "embedder") if c.path else None,
                )


@rule("GRV009", Question.DATA_GRAVITY, Severity.WARNING, "A residency tag that no rule defines")
def unruled_tag(p: DeclaredPlatform) -> Iterator[Finding]:
    """A tag without a `residency_rules` entry is a label: it restricts nothing. On a tenant, or
    when it is not a region name, it is most likely a typo."""
    import difflib

    rules = p.settings.governance.residency_rules
    regions = {d.region for d in p.settings.deployments} | {LOCAL}
    subjects: list[tuple[str, str, str, tuple[str | int, ...] | None]] = []
    for t in p.tenants():
        path = (*p.tenant_path(t), "residency")
        written = p.raw(path) if isinstance(p.raw(path), list) else []
        for tag in sorted(p.rules(t).residency):
            at = (*path, written.index(tag)) if tag in written else path
            subjects.append((p.tenant_label(t), tag, p.tenant_where(t), at))
    for c in p.collections:
        if c.residency and c.residency not in regions:
            subjects.append((f"collection '{c.name}'", c.residency, c.where, (*c.path, "residency") if c.path else None))
    for what, tag, where, key in subjects:
        if tag in rules:
            continue
        close = difflib.get_close_matches(tag, list(rules), n=1)
        yield Finding(
            "GRV009",
            f"{what.capitalize()} carries the residency tag '{tag}', which no `governance.residency_rules` entry "
            "defines: it restricts no route.",
            f"Write '{close[0]}'." if close else f"Add `governance.residency_rules.{tag}: [<regions>]`.",
            f"{where}:tag:{tag}", key,
        )
