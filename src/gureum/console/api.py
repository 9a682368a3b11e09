"""The console's pages. Each page authenticates its session, checks the role with the JSON APIs'
`authorize`, scopes the tenant with their `tenant_scope`, and reads through the same query
functions (`economy.usage`, `governance.audit`) — so a page never shows what the API would not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from gureum.api.access import audited, authorize, tenant_scope
from gureum.api.common import RowId, platform, request_id
from gureum.console import repository
from gureum.console.i18n import LANGS, TEXT, choose
from gureum.console.session import COOKIE, Sessions, csrf_ok, csrf_token
from gureum.economy import usage
from gureum.errors import AuthenticationFailed, GureumError, InvalidRequest, PermissionDenied
from gureum.flow.gateway import Request as Call
from gureum.flow.operations import ANSWER
from gureum.governance import audit
from gureum.governance.audit import AuditEvent
from gureum.governance.principal import ROOT_TENANT, Principal, Role
from gureum.knowledge import collections, index

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)

SESSION_TTL = timedelta(hours=8)
RANGES = {"24h": (timedelta(hours=24), "hour"), "7d": (timedelta(days=7), "day"),
          "30d": (timedelta(days=30), "day"), "90d": (timedelta(days=90), "day")}
GROUPS = ("tenant", "model", "deployment")
USAGE_ROLES = (Role.ADMIN, Role.MEMBER, Role.AUDITOR)
AUDIT_ROLES = (Role.AUDITOR, Role.ADMIN)
KNOWLEDGE_ROLES = (Role.ADMIN, Role.MEMBER)  # as the knowledge API's reads
# Pages in the navigation, shown to the roles that may open them.
NAV = (("overview", "/console", USAGE_ROLES), ("budgets", "/console/budgets", USAGE_ROLES),
       ("routing", "/console/routing", USAGE_ROLES), ("audit", "/console/audit", AUDIT_ROLES), ("knowledge", "/console/knowledge", KNOWLEDGE_ROLES))
# No third-party origin at all: scripts, styles, images and requests go only to this server.
HEADERS = {
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff", "referrer-policy": "same-origin", "cache-control": "no-store",
}


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")


def _sessions(request: Request) -> Sessions:
    p = platform(request)
    return Sessions(p.store.engine, p.keys, SESSION_TTL)


def _lang(request: Request) -> str:
    return choose(request.cookies.get("lang"), request.headers.get("accept-language"))


def _render(request: Request, name: str, principal: Principal | None, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = _lang(request)
    token = request.cookies.get(COOKIE, "")
    nav = [(key, href) for key, href, roles in NAV if principal is not None and principal.role in roles]
    response = templates.TemplateResponse(request, name, {
        "t": TEXT[lang], "lang": lang, "principal": principal, "nav": nav, "csrf": csrf_token(token) if token else "",
        "is_root": principal is not None and principal.tenant_id == ROOT_TENANT,
        "layout": "fragment.html" if request.headers.get("hx-request") else "base.html", **ctx,
    }, status_code=status)
    response.headers.update(HEADERS)
    return response


class _Login(Exception):
    """No live session: the page answers with a redirect to the login form."""


class _Refused(PermissionDenied):
    """A console page refused: rendered as an HTML page, not as the API's JSON error."""


async def _principal(request: Request, *roles: Role) -> Principal:
    principal = await _sessions(request).principal(request.cookies.get(COOKIE))
    if principal is None:
        raise _Login()
    try:
        await authorize(request, principal, *roles)
    except PermissionDenied as exc:
        raise _Refused(exc.message) from None
    return principal


def _scope(principal: Principal, requested: str | None) -> str | None:
    try:
        return tenant_scope(principal, requested or None)
    except PermissionDenied as exc:
        raise _Refused(exc.message) from None


async def _check_csrf(request: Request) -> None:
    form = await request.form()
    sent = request.headers.get("x-csrf-token") or str(form.get("csrf") or "")
    if not csrf_ok(request.cookies.get(COOKIE, ""), sent):
        raise _Refused("The form's CSRF token is missing or wrong; reload the page and try again.")


def install_handlers(app: FastAPI) -> None:
    """Console pages answer a missing session with the login page and a refusal with an HTML page."""

    @app.exception_handler(_Login)
    async def to_login(request: Request, exc: _Login) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"hx-redirect": "/console/login"})
        return RedirectResponse("/console/login", status_code=303)

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: _Refused) -> Response:
        principal = await _sessions(request).principal(request.cookies.get(COOKIE))
        return _render(request, "error.html", principal, status=exc.status, message=exc.message)


# --------------------------------------------------------------------------- session


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    return _render(request, "login.html", None)


@router.post("/login")
async def login(request: Request) -> Response:
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise _Refused("Log in from the console's own page.")
    form = await request.form()
    try:
        token, principal = await _sessions(request).open(str(form.get("api_key") or "").strip() or None)
    except AuthenticationFailed:
        await platform(request).recorder.record(audit=AuditEvent(
            action="console.login", decision="deny", request_id=request_id(request), resource="console", status=401))
        return _render(request, "login.html", None, status=401, error=TEXT[_lang(request)]["bad_key"])
    await audited(request, principal, "console.login", "console", {})
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(COOKIE, token, max_age=int(SESSION_TTL.total_seconds()), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/console")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    principal = await _principal(request, *USAGE_ROLES)
    await _check_csrf(request)
    await _sessions(request).close(request.cookies.get(COOKIE, ""))
    await audited(request, principal, "console.logout", "console", {})
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/lang/{code}")
async def set_lang(code: str, request: Request) -> Response:
    if code not in LANGS:
        raise InvalidRequest(f"Unknown language '{code}'; choose from {', '.join(LANGS)}.", param="code")
    back = request.headers.get("referer", "")
    target = back if back.startswith(f"{request.url.scheme}://{request.url.netloc}/console") else "/console"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie("lang", code, max_age=365 * 86400, samesite="strict", path="/console")
    return response


# --------------------------------------------------------------------------- overview and budgets


@router.get("")
async def overview(request: Request, range: str = "7d", group: str = "model", tenant: str | None = None) -> Response:
    principal = await _principal(request, *USAGE_ROLES)
    scope = _scope(principal, tenant)
    if range not in RANGES:
        raise InvalidRequest(f"Unknown range '{range}'; choose from {', '.join(RANGES)}.", param="range")
    if group not in GROUPS:
        raise InvalidRequest(f"Unknown group '{group}'; choose from {', '.join(GROUPS)}.", param="group")
    span, bucket = RANGES[range]
    until = datetime.now(UTC)
    since = until - span
    p = platform(request)
    engine, tz = p.store.engine, usage.timezone_of(p.settings)
    q = usage.UsageQuery(scope, [group], since, until, tz)
    totals = await usage.totals(engine, q)
    rows = await usage.report(engine, q)
    points = await repository.series(engine, scope, since, until, "hour" if bucket == "hour" else "day", tz)
    lat = await repository.latency(engine, scope, since, until)
    await audited(request, principal, "usage.read", "usage", {"tenant": scope or "*", "group_by": [group],
                                                              "via": "console"})
    return _render(request, "overview.html", principal, totals=totals, rows=rows, series=points, latency=lat,
                   range=range, ranges=list(RANGES), group=group, groups=GROUPS, tenant=scope,
                   currency=p.settings.economy.currency,
                   tenants=[t["id"] for t in await p.keys.tenants()] if principal.tenant_id == ROOT_TENANT else [])


@router.get("/budgets")
async def budgets(request: Request, tenant: str | None = None) -> Response:
    principal = await _principal(request, *USAGE_ROLES)
    scope = _scope(principal, tenant)
    p = platform(request)
    projections = await usage.projections(p.store.engine, p.settings, scope)
    await audited(request, principal, "usage.read", "usage", {"tenant": scope or "*", "view": "budgets",
                                                              "via": "console"})
    return _render(request, "budgets.html", principal, projections=projections, currency=p.settings.economy.currency)


@router.get("/routing")
async def routing(request: Request, tenant: str | None = None) -> Response:
    principal = await _principal(request, *USAGE_ROLES)
    scope = _scope(principal, tenant)
    decisions = await repository.auto_decisions(platform(request).store.engine, scope)
    await audited(request, principal, "usage.read", "usage", {"tenant": scope or "*", "view": "routing",
                                                              "via": "console"})
    return _render(request, "routing.html", principal, decisions=decisions)


# --------------------------------------------------------------------------- audit


def _when(raw: str | None, param: str) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(f"'{param}' is not a date or date-time (YYYY-MM-DD or YYYY-MM-DDTHH:MM).",
                             param=param) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _audit_query(principal: Principal, params: dict[str, str], tenant: str | None, limit: int = 50) -> audit.AuditQuery:
    after = params.get("after")
    return audit.AuditQuery(
        tenant_id=_scope(principal, tenant), actor=params.get("actor") or None,
        action=params.get("action") or None, resource=params.get("resource") or None,
        decision=params.get("outcome") or None, since=_when(params.get("since"), "since"),
        until=_when(params.get("until"), "until"), limit=limit,
        after_seq=int(after) if after and after.isdigit() else None, tenant_view=principal.tenant_id != ROOT_TENANT,
    )


@router.get("/audit")
async def audit_page(request: Request) -> Response:
    return await _audit(request, "audit.html")


@router.get("/audit/rows")
async def audit_rows(request: Request) -> Response:
    """The table alone, for htmx to swap in when the filters change."""
    return await _audit(request, "audit_rows.html")


async def _audit(request: Request, template: str) -> Response:
    params = dict(request.query_params)
    principal = await _principal(request, *AUDIT_ROLES)
    q = _audit_query(principal, params, params.get("tenant") or None)
    rows = await audit.search(platform(request).store.engine, q)
    await audited(request, principal, "audit.read", "audit",
                  {"filters": {k: v for k, v in params.items() if v}, "via": "console"})
    next_params = {k: v for k, v in params.items() if v and k != "after"}
    if len(rows) == q.limit:
        next_params["after"] = str(rows[-1]["seq"])
    return _render(request, template, principal, rows=rows, params=params, has_more=len(rows) == q.limit,
                   next_params=next_params)


@router.get("/audit/events/{seq}")
async def audit_event(seq: RowId, request: Request) -> Response:
    principal = await _principal(request, *AUDIT_ROLES)
    q = _audit_query(principal, {"after": str(max(seq - 1, 0))}, None, limit=1)
    rows = [r for r in await audit.search(platform(request).store.engine, q) if r["seq"] == seq]
    await audited(request, principal, "audit.read", f"audit:{seq}", {"via": "console"})
    if not rows:
        return _render(request, "error.html", principal, status=404, message=f"no audit event #{seq}")
    return _render(request, "audit_event.html", principal, event=rows[0])


@router.post("/audit/verify")
async def audit_verify(request: Request) -> Response:
    principal = await _principal(request, *AUDIT_ROLES)
    await _check_csrf(request)
    if principal.tenant_id != ROOT_TENANT:
        raise _Refused(TEXT[_lang(request)]["verify_root_only"])
    result = await audit.verify(platform(request).store.engine)
    await audited(request, principal, "audit.verify", "audit",
                  {"ok": result.ok, "checked": result.checked, "bad_seq": result.bad_seq, "via": "console"})
    return _render(request, "verify.html", principal, result=result)


# --------------------------------------------------------------------------- knowledge


@router.get("/knowledge")
async def knowledge(request: Request, collection: str | None = None) -> Response:
    """The tenant's collections; for the chosen one, the documents this principal may read (the
    knowledge API's own ACL-scoped query), with their ACL, residency, PII tags and index state."""
    principal = await _principal(request, *KNOWLEDGE_ROLES)
    p = platform(request)
    cols = await collections.list_all(p.store.engine, principal.tenant_id)
    docs: list[dict[str, Any]] = []
    chosen = collection or (cols[0]["name"] if cols else None)
    if chosen is not None:
        col = await p.knowledge.collection(principal, chosen)
        docs = await index.readable_documents(p.store.engine, collections.scope(col, principal.principals()), 200, None)
    return _render(request, "knowledge.html", principal, collections=cols, chosen=chosen, documents=docs)


@router.post("/knowledge/ask")
async def ask(request: Request) -> Response:
    """The playground: an admin asks a collection as a chosen user of the tenant, through the
    governed answer path, so the answer and citations are exactly what that user's ACL allows.
    The call is the admin's key (ledger, budget, audit), acting for the user it names."""
    principal = await _principal(request, Role.ADMIN)
    await _check_csrf(request)
    form = await request.form()
    name, query = str(form.get("collection") or ""), str(form.get("query") or "").strip()
    user = str(form.get("user") or "").strip() or None
    groups = tuple(g.strip() for g in str(form.get("groups") or "").split(",") if g.strip())
    if not name or not query:
        raise InvalidRequest("Choose a collection and write a question.", param="query")
    as_user = Principal(tenant_id=principal.tenant_id, key_id=principal.key_id, role=Role.MEMBER, user_id=user,
                        groups=groups)
    await audited(request, principal, "console.playground", f"collection:{name}",
                  {"as_user": user, "as_groups": list(groups)})
    try:
        reply = await platform(request).complete(
            as_user, Call(ANSWER, {"collection": name, "query": query, "k": 5}, f"rag/{name}",
                          request_id=request_id(request)), origin="console")
    except GureumError as exc:
        return _render(request, "answer.html", principal, status=exc.status, error=exc.message)
    return _render(request, "answer.html", principal, answer=reply.body, as_user=user)


__all__ = ["install_handlers", "mount", "router"]
