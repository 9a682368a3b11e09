"""Isolation: a generated matrix of roles × tenants × routes × resources. Every allowed access
must work (2xx) and every forbidden one must fail (401/403/404, OpenAI-shaped); and no canary may
be seen where it should not be — in a body, a header, an error, a server log line or a metric label.

Two tenants, each with an admin, an auditor and two members in different groups; each tenant has
a collection with one canary document per group and one for everybody. A canary is a unique word;
a member may see its own tenant's public canary and its own group's, nobody sees another tenant's.

The routes are the `ROWS` table: a new route (agents, jobs, the console as they land) joins the
matrix by adding a row. Each row says which roles may call it on their own tenant's resources;
on the other tenant's, nobody may (the root tenant's admin is the platform's and is not in the
matrix).
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from gureum.prove.checks import Results, openai_error
from gureum.prove.system import System

TENANTS = ("ta", "tb")
ACTORS = (("admin", None), ("auditor", None), ("member", "g1"), ("member", "g2"))
QUERY = "보안 점검 코드 security check code"


def canary(tenant: str, group: str) -> str:
    return f"CANARY{tenant.upper()}{group.upper()}Q7"


CANARY = re.compile(r"CANARY[A-Z0-9]+Q7")


@dataclass(frozen=True)
class Actor:
    tenant: str
    role: str
    group: str | None

    @property
    def label(self) -> str:
        return f"{self.tenant}-{self.role}" + (f"-{self.group}" if self.group else "")

    def may_see(self, token: str) -> bool:
        """A canary this actor may see: its own tenant's public one, and its own group's."""
        own = [canary(self.tenant, "all")] + ([canary(self.tenant, self.group)] if self.group else [])
        if self.role == "admin":  # an admin manages its tenant's documents
            own += [canary(self.tenant, g) for g in ("g1", "g2")]
        return token in own


@dataclass(frozen=True)
class Row:
    """One route of the matrix. `path` and `body` get the resource's tenant; `roles`: who may call
    it on their own tenant's resources."""

    name: str
    method: str
    path: Callable[[str, System], str]
    roles: frozenset[str]
    body: Callable[[str, System], dict[str, Any] | None] = lambda t, s: None
    cross_tenant_possible: bool = True  # False: the route has no other-tenant resource to name


def _col(t: str) -> str:
    return f"col_{t}"


def _agent(t: str) -> str:
    return f"agent-{t}"


def _chat(model: str) -> Callable[[str, System], dict[str, Any]]:
    return lambda t, s: {"model": model.format(col=_col(t)), "messages": [{"role": "user", "content": QUERY}]}


MEMBERS = frozenset({"admin", "member"})
ROWS: tuple[Row, ...] = (
    Row("chat", "POST", lambda t, s: "/v1/chat/completions", MEMBERS, _chat("chat"), cross_tenant_possible=False),
    Row("embeddings", "POST", lambda t, s: "/v1/embeddings", MEMBERS,
        lambda t, s: {"model": "embed", "input": [QUERY]}, cross_tenant_possible=False),
    Row("models", "GET", lambda t, s: "/v1/models", frozenset({"admin", "member", "auditor"}),
        cross_tenant_possible=False),
    Row("rag_model_card", "GET", lambda t, s: f"/v1/models/rag/{_col(t)}", MEMBERS),
    Row("rag_chat", "POST", lambda t, s: "/v1/chat/completions", MEMBERS, _chat("rag/{col}")),
    Row("retrieve", "POST", lambda t, s: "/v1/retrieve", MEMBERS, lambda t, s: {"collection": _col(t), "query": QUERY}),
    Row("answer", "POST", lambda t, s: "/v1/answer", MEMBERS, lambda t, s: {"collection": _col(t), "query": QUERY}),
    Row("collection", "GET", lambda t, s: f"/v1/collections/{_col(t)}", MEMBERS),
    Row("documents", "GET", lambda t, s: f"/v1/collections/{_col(t)}/documents", MEMBERS),
    Row("upload", "POST", lambda t, s: f"/v1/collections/{_col(t)}/documents", frozenset({"admin"}),
        lambda t, s: {"documents": [{"uri": "matrix.txt", "text": "matrix upload"}]}),
    Row("usage", "GET", lambda t, s: f"/v1/usage?tenant_id={t}", frozenset({"admin", "member", "auditor"})),
    Row("audit_events", "GET", lambda t, s: f"/v1/audit/events?tenant_id={t}", frozenset({"admin", "auditor"})),
    Row("keys_list", "GET", lambda t, s: f"/v1/admin/keys?tenant_id={t}", frozenset({"admin"})),
    Row("key_create", "POST", lambda t, s: "/v1/admin/keys", frozenset({"admin"}),
        lambda t, s: {"tenant_id": t, "user_id": "matrix", "role": "member"}),
    Row("key_revoke", "DELETE", lambda t, s: f"/v1/admin/keys/{s.key_ids[f'{t}-spare']}", frozenset({"admin"})),
    Row("tenants_list", "GET", lambda t, s: "/v1/admin/tenants", frozenset({"admin"}), cross_tenant_possible=False),
    Row("tenant_create", "POST", lambda t, s: "/v1/admin/tenants", frozenset(),
        lambda t, s: {"id": f"made-by-{t}"}, cross_tenant_possible=False),
    Row("audit_verify", "GET", lambda t, s: "/v1/audit/verify", frozenset(), cross_tenant_possible=False),
    Row("agent", "GET", lambda t, s: f"/v1/agents/{_agent(t)}", MEMBERS),
    Row("agent_sessions", "GET", lambda t, s: f"/v1/agents/{_agent(t)}/sessions", MEMBERS),
    Row("agent_session_create", "POST", lambda t, s: f"/v1/agents/{_agent(t)}/sessions", MEMBERS, lambda t, s: {}),
    Row("agent_create", "POST", lambda t, s: "/v1/agents", frozenset({"admin"}),
        lambda t, s: {"name": f"made-{uuid.uuid4().hex[:8]}"}, cross_tenant_possible=False),
)

CHECKS = (
    "isolation.allowed_work",
    "isolation.forbidden_fail",
    "isolation.errors_openai_shaped",
    "isolation.no_canary_in_responses",
    "isolation.cache_exact_scoped",
    "isolation.cache_semantic_scoped",
    "isolation.no_canary_in_logs",
    "isolation.no_canary_in_metrics",
    "isolation.no_caller_text_in_metric_labels",
    "isolation.models_listing_audited",
    "isolation.no_implicit_tenant",
    "isolation.audit_seq_not_global",
    "isolation.rag_answers_cached",
    "isolation.cache_purge_api",
)


def setup(system: System) -> list[Actor]:
    actors = []
    for t in TENANTS:
        for role, group in ACTORS:
            a = Actor(t, role, group)
            system.key(a.label, t, user=f"{a.label}-user", role=role, groups=[group] if group else [])
            actors.append(a)
        system.key(f"{t}-spare", t, user=f"{t}-spare", role="member")
        admin = system.keys[f"{t}-admin"]
        r = system.call("POST", "/v1/collections", admin, json={"name": _col(t), "embedder": "embed"})
        if r.status_code not in (200, 201):
            raise RuntimeError(f"collection for {t}: {r.status_code} {r.text}")
        docs = [{"uri": f"{g}.md", "title": f"{g} notes",
                 "text": f"{QUERY}: {canary(t, g)}. 이 문서는 {g} 그룹의 점검 기록입니다.",
                 "acl": {"groups": [g]} if g != "all" else {"groups": ["g1", "g2"]}}
                for g in ("g1", "g2", "all")]
        r = system.call("POST", f"/v1/collections/{_col(t)}/documents", admin, json={"documents": docs}, timeout=120)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"documents for {t}: {r.status_code} {r.text}")
        r = system.call("POST", "/v1/agents", admin, json={
            "name": _agent(t), "collections": [_col(t)], "tools": [{"name": "knowledge_search"}]})
        if r.status_code not in (200, 201):
            raise RuntimeError(f"agent for {t}: {r.status_code} {r.text}")
    return actors



def _seen(r: httpx.Response) -> set[str]:
    text = r.text + " ".join(f"{k}: {v}" for k, v in r.headers.items())
    return set(CANARY.findall(text))


def matrix(system: System, actors: list[Actor], res: Results) -> int:
    wrong_allowed: list[str] = []
    wrong_denied: list[str] = []
    unshaped: list[str] = []
    cells = 0
    for row, actor, target in itertools.product(ROWS, actors, TENANTS):
        if target != actor.tenant and not row.cross_tenant_possible:
            continue
        cells += 1
        allowed = actor.role in row.roles and target == actor.tenant
        r = system.call(row.method, row.path(target, system), system.keys[actor.label], json=row.body(target, system))
        cell = f"{row.name} as {actor.label} on {target}: {r.status_code}"
        if allowed and not 200 <= r.status_code < 300:
            wrong_denied.append(f"{cell} {r.text[:120]}")
        if not allowed and 200 <= r.status_code < 300 and not _scoped_read(row, r, actor):
            wrong_allowed.append(cell)
        if r.status_code >= 400 and not openai_error(r):
            unshaped.append(cell)
        for token in _seen(r):
            if not actor.may_see(token):
                system_leak(res, f"{cell}: {token} in the response")
        if row.name == "documents" and actor.role == "member" and r.status_code == 200:
            other = {"g1": "g2", "g2": "g1"}[actor.group or "g1"]
            if f'"{other}.md"' in r.text:
                system_leak(res, f"{cell}: the listing shows {other}.md, which this member may not read")
    res.check("isolation.allowed_work", not wrong_denied, f"{len(wrong_denied)} refused: {wrong_denied[:4]}")
    res.check("isolation.forbidden_fail", not wrong_allowed, f"{len(wrong_allowed)} let through: {wrong_allowed[:4]}")
    res.check("isolation.errors_openai_shaped", not unshaped, f"{len(unshaped)}: {unshaped[:4]}")
    return cells


def _scoped_read(row: Row, r: httpx.Response, actor: Actor) -> bool:
    """A list route that answers a foreign tenant filter with the caller's own rows only is not
    a breach: it is scoped. It is one if any row of the other tenant comes back."""
    if row.method != "GET" or row.name not in ("usage", "audit_events", "keys_list"):
        return False
    try:
        data = r.json()
    except ValueError:
        return False
    foreign = [t for t in TENANTS if t != actor.tenant]
    text = str(data.get("data", data))
    return not any(f"'{t}'" in text or f'"{t}"' in text for t in foreign) and data.get("tenant") not in foreign


def system_leak(res: Results, what: str) -> None:
    res.leaks.append(what)


def caches(system: System, res: Results) -> None:
    """The same question by two members of one tenant in different groups: the second must never
    get the first's answer (which cites the first's group canary) from the exact or semantic cache."""
    for check, second_query in (("isolation.cache_exact_scoped", QUERY), ("isolation.cache_semantic_scoped", QUERY + "?")):
        q = f"{check}: {QUERY}"
        first = system.call("POST", "/v1/chat/completions", system.keys["ta-member-g1"],
                            json={"model": f"rag/{_col('ta')}", "messages": [{"role": "user", "content": q}]})
        again = system.call("POST", "/v1/chat/completions", system.keys["ta-member-g1"],
                            json={"model": f"rag/{_col('ta')}", "messages": [{"role": "user", "content": q}]})
        other = system.call("POST", "/v1/chat/completions", system.keys["ta-member-g2"],
                            json={"model": f"rag/{_col('ta')}",
                                  "messages": [{"role": "user", "content": q.replace(QUERY, second_query)}]})
        foreign = canary("ta", "g1") in other.text
        if foreign:
            system_leak(res, f"{check}: ta-member-g2 got {canary('ta', 'g1')} from the cache")
        res.check(check, first.status_code == 200 and other.status_code == 200 and not foreign,
                  f"first {first.status_code} ({first.headers.get('x-gureum-cache')}), same caller again "
                  f"{again.headers.get('x-gureum-cache')}, other group {other.status_code} "
                  f"({other.headers.get('x-gureum-cache')}), foreign canary seen: {foreign}")


def logs_and_metrics(system: System, res: Results) -> None:
    probe = "CANARYMODELNAMEQ7"
    system.call("POST", "/v1/chat/completions", system.keys["ta-member-g1"],
                json={"model": probe, "messages": [{"role": "user", "content": "hi"}]})
    metrics = httpx.get(f"{system.url}/metrics", timeout=10).text
    in_metrics = sorted(set(CANARY.findall(metrics)) - {probe})
    for token in in_metrics:
        system_leak(res, f"/metrics: {token}")
    res.check("isolation.no_canary_in_metrics", not in_metrics, f"document canaries in /metrics: {in_metrics}")
    res.check("isolation.no_caller_text_in_metric_labels", probe not in metrics,
              "a model name the caller made up became a metric label" if probe in metrics else "none")
    log = system.server.log_text()
    in_log = sorted(set(CANARY.findall(log)) - {probe})
    for token in in_log:
        system_leak(res, f"server log: {token}")
    res.check("isolation.no_canary_in_logs", not in_log, f"document canaries in the server log: {in_log}")


def gaps(system: System, res: Results) -> None:
    r = system.call("GET", "/v1/models", system.keys["ta-member-g1"], headers={"x-request-id": "iso-models-list"})
    events = system.sql("SELECT count(*) FROM audit_events WHERE request_id = 'iso-models-list'")[0][0]
    res.check("isolation.models_listing_audited", r.status_code == 200 and events == 1, f"audit events: {events}")
    r = system.call("POST", "/v1/admin/keys", json={"tenant_id": "typo-tenant-zz", "role": "member"})
    made = system.sql("SELECT count(*) FROM tenants WHERE id = 'typo-tenant-zz'")[0][0]
    res.check("isolation.no_implicit_tenant", r.status_code in (400, 404, 422) and made == 0,
              f"key for a tenant that does not exist: {r.status_code}; tenant created: {bool(made)}")
    r = system.call("GET", "/v1/audit/events?limit=1000", system.keys["ta-auditor"])
    seqs = [e.get("seq") for e in r.json().get("data", [])] if r.status_code == 200 else []
    gapped = [b for a, b in zip(seqs, seqs[1:], strict=False) if a is not None and b is not None and b != a + 1]
    res.check("isolation.audit_seq_not_global", r.status_code == 200 and not gapped,
              f"{len(seqs)} events; {len(gapped)} jumps in seq show other tenants' activity")
    # temperature 0: only deterministic requests are cached (the cache's documented rule)
    body = {"model": f"rag/{_col('tb')}", "temperature": 0,
            "messages": [{"role": "user", "content": f"cache me: {QUERY}"}]}
    system.call("POST", "/v1/chat/completions", system.keys["tb-member-g1"], json=body)
    again = system.call("POST", "/v1/chat/completions", system.keys["tb-member-g1"], json=body)
    hit = again.headers.get("x-gureum-cache")
    res.check("isolation.rag_answers_cached", again.status_code == 200 and hit in ("exact", "semantic"),
              f"same caller, same question: x-gureum-cache={hit}")
    r = system.call("DELETE", "/v1/cache", system.keys["ta-admin"])
    other = system.call("DELETE", "/v1/cache?tenant_id=tb", system.keys["ta-admin"])
    kept = system.call("POST", "/v1/chat/completions", system.keys["tb-member-g1"], json=body).headers.get("x-gureum-cache")
    res.check("isolation.cache_purge_api",
              200 <= r.status_code < 300 and other.status_code in (403, 404) and kept in ("exact", "semantic"),
              f"own tenant: {r.status_code}; another tenant: {other.status_code}; "
              f"the other tenant's answer after the purge: x-gureum-cache={kept}")


def run_part(system: System, res: Results, profile: Any) -> None:
    actors = setup(system)
    cells = matrix(system, actors, res)
    caches(system, res)
    gaps(system, res)
    logs_and_metrics(system, res)
    res.check("isolation.no_canary_in_responses",
              not [x for x in res.leaks if "in the response" in x or "cache" in x],
              f"{len(res.leaks)} leaks: {res.leaks[:4]}")
    res.figure("isolation", cells=cells, actors=len(actors), routes=len(ROWS))


SYSTEM = {"semantic": True}
