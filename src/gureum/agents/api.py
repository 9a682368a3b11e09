"""Agent routes: definitions (tenant admins create and delete, members list and read), sessions
(each user sees only their own: another user's session is the same 404 as none), a turn's
messages, and approvals of risky tool calls. A turn's reply is JSON (every event, then the
answer) or server-sent events (`event: <type>`) as they happen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from gureum.agents import memories
from gureum.agents import repository as repo
from gureum.agents.schemas import Decision, MessageIn, SessionCreate
from gureum.agents.service import AgentRuntime, Event, owner
from gureum.agents.settings import AgentSettings
from gureum.api.access import audited, require, tenant_scope
from gureum.api.common import platform, read_json, validate
from gureum.errors import (
    Conflict,
    GureumError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)
from gureum.governance.principal import Principal, Role

router = APIRouter(prefix="/v1/agents")
memories_router = APIRouter(prefix="/v1/memories")
_USE = (Role.ADMIN, Role.MEMBER)


def _runtime(request: Request) -> AgentRuntime:
    return AgentRuntime(platform(request))


def _agent_json(agent: AgentSettings, source: str) -> dict[str, Any]:
    return {"object": "agent", "source": source, **agent.model_dump(mode="json")}


# --------------------------------------------------------------------------- definitions


@router.post("", status_code=201)
async def create_agent(request: Request) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    body = await read_json(request, 256 * 1024)
    tenant = tenant_scope(principal, body.get("tenant")) or principal.tenant_id
    agent = validate(AgentSettings, {**body, "tenant": tenant})
    rt = _runtime(request)
    rt.check_tools(agent)
    if any(a.name == agent.name for a in rt.declared(tenant)):
        raise Conflict(f"agent '{agent.name}' is declared in gureum.yaml; change it there", param="name")
    if not await repo.save_agent(rt.engine, tenant, agent.name, agent.model_dump(mode="json"), principal.key_id):
        raise Conflict(f"agent '{agent.name}' exists; delete it first to redefine it", param="name")
    await audited(request, principal, "agent.create", f"agent:{agent.name}",
                  {"tenant": tenant, "model": agent.model, "tools": [t.name for t in agent.tools]})
    return _agent_json(agent, "api")


@router.get("")
async def list_agents(request: Request) -> dict[str, Any]:
    principal = await require(request, *_USE)
    found = await _runtime(request).definitions(principal.tenant_id)
    return {"object": "list", "data": [_agent_json(a, s) for a, s in found]}


@router.get("/{agent}")
async def get_agent(agent: str, request: Request) -> dict[str, Any]:
    principal = await require(request, *_USE)
    return _agent_json(*await _runtime(request).definition(principal.tenant_id, agent))


@router.delete("/{agent}")
async def delete_agent(agent: str, request: Request) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    rt = _runtime(request)
    _, source = await rt.definition(principal.tenant_id, agent)
    if source == "config":
        raise InvalidRequest(f"agent '{agent}' is declared in gureum.yaml; remove it there", param="agent")
    await repo.delete_agent(rt.engine, principal.tenant_id, agent)
    await audited(request, principal, "agent.delete", f"agent:{agent}", {})
    return {"object": "agent.deleted", "name": agent, "deleted": True}


# --------------------------------------------------------------------------- sessions


async def _session(rt: AgentRuntime, principal: Principal, agent: str, sid: str) -> dict[str, Any]:
    row = await repo.get_session(rt.engine, owner(principal), agent, sid)
    if row is None:
        raise NotFound(f"no session '{sid}' of agent '{agent}'", param="session_id")
    return row


@router.post("/{agent}/sessions", status_code=201)
async def create_session(agent: str, request: Request) -> dict[str, Any]:
    principal = await require(request, *_USE)
    req = validate(SessionCreate, await read_json(request, 16 * 1024) if await request.body() else {})
    rt = _runtime(request)
    await rt.definition(principal.tenant_id, agent)
    row = await repo.create_session(rt.engine, owner(principal), agent, req.title)
    await audited(request, principal, "agent.session.create", f"session:{row['id']}", {"agent": agent})
    return repo.session_json(row)


@router.get("/{agent}/sessions")
async def list_sessions(agent: str, request: Request, limit: int = Query(default=50, ge=1, le=500)) -> dict[str, Any]:
    principal = await require(request, *_USE)
    rt = _runtime(request)
    await rt.definition(principal.tenant_id, agent)  # another tenant's agent is not found, as on every route
    rows = await repo.list_sessions(rt.engine, owner(principal), agent, limit)
    return {"object": "list", "data": [repo.session_json(r) for r in rows]}


@router.get("/{agent}/sessions/{sid}")
async def get_session(agent: str, sid: str, request: Request) -> dict[str, Any]:
    principal = await require(request, *_USE)
    rt = _runtime(request)
    row = await _session(rt, principal, agent, sid)
    msgs = await repo.messages(rt.engine, sid)
    calls = await repo.tool_calls(rt.engine, sid)
    return {**repo.session_json(row),
            "messages": [{"turn": m["turn"], **m["message"]} for m in msgs],
            "tool_calls": [{"call_id": c["call_id"], "turn": c["turn"], "tool": c["tool"], "arguments": c["arguments"],
                            "status": c["status"], "approval_id": c["approval_id"], "decided_by": c["decided_by"]}
                           for c in calls]}


@router.delete("/{agent}/sessions/{sid}")
async def delete_session(agent: str, sid: str, request: Request) -> dict[str, Any]:
    principal = await require(request, *_USE)
    if not await repo.delete_session(_runtime(request).engine, owner(principal), agent, sid):
        raise NotFound(f"no session '{sid}' of agent '{agent}'", param="session_id")
    await audited(request, principal, "agent.session.delete", f"session:{sid}", {"agent": agent})
    return {"id": sid, "object": "agent.session.deleted", "deleted": True}


# --------------------------------------------------------------------------- turns


@router.post("/{agent}/sessions/{sid}/messages")
async def post_message(agent: str, sid: str, request: Request) -> Response:
    principal = await require(request, *_USE)
    req = validate(MessageIn, await read_json(request, 256 * 1024))
    rt = _runtime(request)
    definition, _ = await rt.definition(principal.tenant_id, agent)
    await _session(rt, principal, agent, sid)
    lease = platform(request).settings.request_timeout
    if await repo.claim(rt.engine, sid, lease, expected="idle", principal=_principal_json(principal)) is None:
        row = await _session(rt, principal, agent, sid)
        if row["status"] == "awaiting_approval":
            raise Conflict("the session waits for an approval: decide it first (POST …/approvals/{id})")
        raise Conflict("the session is running a turn; retry when it is done")
    await audited(request, principal, "agent.message", f"session:{sid}", {"agent": agent, "chars": len(req.content)})
    return await _render(sid, rt.run(principal, definition, sid, req.content), req.stream)


@router.post("/{agent}/sessions/{sid}/approvals/{approval_id}")
async def decide(agent: str, sid: str, approval_id: str, request: Request) -> Response:
    """Approve or deny a paused risky call: by the session's user, or a tenant admin. The turn
    then continues in this request as the session's user."""
    principal = await require(request, *_USE)
    req = validate(Decision, await read_json(request, 16 * 1024))
    rt = _runtime(request)
    definition, _ = await rt.definition(principal.tenant_id, agent)
    session = await repo.get_session(rt.engine, owner(principal), agent, sid)
    if session is None and principal.role is Role.ADMIN:
        session = await repo.session_in_tenant(rt.engine, principal.tenant_id, agent, sid)
    call = await repo.approval(rt.engine, sid, approval_id) if session is not None else None
    if session is None or call is None:
        await _refuse(request, principal, approval_id, 404, "not the session's user or no such approval")
        raise NotFound(f"no approval '{approval_id}' in session '{sid}'", param="approval_id")
    by = principal.user_id or principal.key_id
    if not await repo.decide(rt.engine, sid, approval_id, req.decision == "approve", by, req.reason):
        await _refuse(request, principal, approval_id, 409, f"already {call['status']}")
        raise Conflict(f"approval '{approval_id}' was already decided ({call['status']})", param="approval_id")
    await audited(request, principal, f"agent.approval.{req.decision}", f"tool:{call['tool']}",
                  {"agent": agent, "session": sid, "approval_id": approval_id, "call_id": call["call_id"],
                   "decided_by": by, "reason": req.reason})
    lease = platform(request).settings.request_timeout
    claimed = await repo.claim(rt.engine, sid, lease, expected="awaiting_approval")
    if claimed is None:
        raise Conflict("the session is running a turn; the decision is recorded and applies when it continues")
    runner = Principal(**{**claimed["principal"], "groups": tuple(claimed["principal"]["groups"]),
                          "role": Role(claimed["principal"]["role"])})
    return await _render(sid, rt.run(runner, definition, sid, None), req.stream)


async def _refuse(request: Request, principal: Principal, approval_id: str, status: int, reason: str) -> None:
    await audited(request, principal, "agent.approval.decide", f"approval:{approval_id}", {"reason": reason},
                  decision="deny", status=status)


def _principal_json(p: Principal) -> dict[str, Any]:
    return {**asdict(p), "role": p.role.value, "groups": list(p.groups)}


async def _guarded(events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """A failure the loop did not turn into an event (the store went away) still ends the turn
    with an `error` and a `done` event, never a hanging or silently cut reply."""
    try:
        async for event in events:
            yield event
    except GureumError as exc:
        yield {"type": "error", "code": exc.code or exc.type, "message": exc.message}
        yield {"type": "done", "status": "error"}


async def _render(sid: str, events: AsyncIterator[Event], stream: bool) -> Response:
    if stream:
        async def sse() -> AsyncIterator[bytes]:
            async for event in _guarded(events):
                yield b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")

    got = [e async for e in _guarded(events)]
    answer = next((e["content"] for e in reversed(got) if e["type"] == "answer"), None)
    pending = [e for e in got if e["type"] == "approval_required"]
    done = got[-1] if got and got[-1]["type"] == "done" else {}
    body = {"object": "agent.turn", "session": sid, "status": done.get("status"), "answer": answer,
            "approvals": pending, "usage": done.get("usage"), "events": got}
    return Response(orjson.dumps(body), media_type="application/json")


# --------------------------------------------------------------------------- memories


@memories_router.get("")
async def list_memories(request: Request, agent: str | None = None) -> dict[str, Any]:
    """The caller's own long-term memories (of one agent, or all)."""
    principal = await require(request, *_USE)
    who = owner(principal)
    return {"object": "list", "data": await memories.list_memories(platform(request).store.engine, who.tenant_id,
                                                                   who.owner, agent)}


@memories_router.delete("")
async def forget(request: Request, user: str | None = None, agent: str | None = None) -> dict[str, Any]:
    """Forget a user: their memories and sessions (of `agent`, or every agent). A user may forget
    themselves; a tenant admin any user of the tenant. Returns the deletion receipt."""
    principal = await require(request, *_USE)
    me = owner(principal)
    subject = user or me.owner
    if subject != me.owner and principal.role is not Role.ADMIN:
        await audited(request, principal, "memory.forget", f"subject:{memories.subject_hash(me.tenant_id, subject)}",
                      {"reason": "only a tenant admin may forget another user"}, decision="deny", status=403)
        raise PermissionDenied("Only a tenant admin may forget another user; leave out `user` to forget yourself.")
    receipt = await memories.forget(platform(request).store.engine, me.tenant_id, subject, agent)
    await audited(request, principal, "memory.forget", f"subject:{memories.subject_hash(me.tenant_id, subject)}",
                  {"receipt": receipt["id"], "agent": agent, "deleted": receipt["deleted"]})
    return receipt
