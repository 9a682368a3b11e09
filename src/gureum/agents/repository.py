"""The agents' rows: definitions, sessions, messages and tool calls. Every query of a session is
scoped by tenant and owner here, so a session of another user or tenant is never found."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gureum.agents.tables import (
    agent_messages,
    agent_sessions,
    agent_tool_calls,
    agents,
)


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose sessions: a tenant and a user (or, for a key without a user, the key)."""

    tenant_id: str
    owner: str


# --------------------------------------------------------------------------- definitions


async def save_agent(engine: AsyncEngine, tenant_id: str, name: str, definition: dict[str, Any],
                     created_by: str) -> bool:
    """Insert a definition; False when the tenant already has an agent of that name."""
    async with engine.begin() as conn:
        stmt = pg_insert(agents).values(tenant_id=tenant_id, name=name, definition=definition, created_by=created_by)
        return (await conn.execute(stmt.on_conflict_do_nothing().returning(agents.c.name))).first() is not None


async def stored_agents(engine: AsyncEngine, tenant_id: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(agents).where(agents.c.tenant_id == tenant_id).order_by(agents.c.name))
        return [dict(r._mapping) for r in rows]


async def stored_agent(engine: AsyncEngine, tenant_id: str, name: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(agents).where(agents.c.tenant_id == tenant_id, agents.c.name == name))).first()
        return dict(row._mapping) if row else None


async def delete_agent(engine: AsyncEngine, tenant_id: str, name: str) -> bool:
    """Delete a definition with its sessions, their messages and tool calls."""
    async with engine.begin() as conn:
        ids = select(agent_sessions.c.id).where(agent_sessions.c.tenant_id == tenant_id, agent_sessions.c.agent == name)
        await conn.execute(delete(agent_messages).where(agent_messages.c.session_id.in_(ids)))
        await conn.execute(delete(agent_tool_calls).where(agent_tool_calls.c.session_id.in_(ids)))
        await conn.execute(delete(agent_sessions).where(agent_sessions.c.tenant_id == tenant_id,
                                                        agent_sessions.c.agent == name))
        result = await conn.execute(delete(agents).where(agents.c.tenant_id == tenant_id, agents.c.name == name))
        return bool(result.rowcount)


# --------------------------------------------------------------------------- sessions


def _mine(who: Owner, agent: str) -> Any:
    return and_(agent_sessions.c.tenant_id == who.tenant_id, agent_sessions.c.owner == who.owner,
                agent_sessions.c.agent == agent)


async def create_session(engine: AsyncEngine, who: Owner, agent: str, title: str) -> dict[str, Any]:
    sid = "sess_" + uuid.uuid4().hex
    async with engine.begin() as conn:
        row = (await conn.execute(insert(agent_sessions).values(
            id=sid, tenant_id=who.tenant_id, agent=agent, owner=who.owner, title=title).returning(agent_sessions))).one()
        return dict(row._mapping)


async def list_sessions(engine: AsyncEngine, who: Owner, agent: str, limit: int) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(agent_sessions).where(_mine(who, agent))
                                  .order_by(agent_sessions.c.created_at.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


async def get_session(engine: AsyncEngine, who: Owner, agent: str, sid: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(agent_sessions).where(_mine(who, agent), agent_sessions.c.id == sid))).first()
        return dict(row._mapping) if row else None


async def session_in_tenant(engine: AsyncEngine, tenant_id: str, agent: str, sid: str) -> dict[str, Any] | None:
    """A tenant admin's view: any session of the tenant's agent (for deciding approvals)."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(agent_sessions).where(
            agent_sessions.c.tenant_id == tenant_id, agent_sessions.c.agent == agent, agent_sessions.c.id == sid))).first()
        return dict(row._mapping) if row else None


async def delete_session(engine: AsyncEngine, who: Owner, agent: str, sid: str) -> bool:
    async with engine.begin() as conn:
        result = await conn.execute(delete(agent_sessions).where(_mine(who, agent), agent_sessions.c.id == sid))
        if not result.rowcount:
            return False
        await conn.execute(delete(agent_messages).where(agent_messages.c.session_id == sid))
        await conn.execute(delete(agent_tool_calls).where(agent_tool_calls.c.session_id == sid))
        return True


async def claim(engine: AsyncEngine, sid: str, lease: float, *, expected: str,
                principal: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Hold the session for a new turn (`expected` = idle, with the `principal` running it) or for
    the continuation of a paused one (`expected` = awaiting_approval). None when the session is
    in another state, e.g. held by another replica; a hold that ran out (its replica crashed) may
    be taken over."""
    now = func.now()
    values: dict[str, Any] = {"status": "running", "lease_until": now + timedelta(seconds=lease), "updated_at": now}
    if principal is not None:
        values.update(turns=agent_sessions.c.turns + 1, turn_tokens=0, turn_cost=0.0, principal=principal)
    async with engine.begin() as conn:
        row = (await conn.execute(update(agent_sessions).where(
            agent_sessions.c.id == sid,
            or_(agent_sessions.c.status == expected,
                and_(agent_sessions.c.status == "running", agent_sessions.c.lease_until < now)),
        ).values(**values).returning(agent_sessions))).first()
        return dict(row._mapping) if row else None


async def release(engine: AsyncEngine, sid: str, status: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(agent_sessions).where(agent_sessions.c.id == sid)
                           .values(status=status, lease_until=None, updated_at=func.now()))


async def session_row(engine: AsyncEngine, sid: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        return dict((await conn.execute(select(agent_sessions).where(agent_sessions.c.id == sid))).one()._mapping)


async def charge(engine: AsyncEngine, sid: str, tokens: int, cost: float) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(agent_sessions).where(agent_sessions.c.id == sid).values(
            tokens=agent_sessions.c.tokens + tokens, cost=agent_sessions.c.cost + cost,
            turn_tokens=agent_sessions.c.turn_tokens + tokens, turn_cost=agent_sessions.c.turn_cost + cost,
            updated_at=func.now()))


# --------------------------------------------------------------------------- messages


async def add_message(engine: AsyncEngine, sid: str, turn: int, message: dict[str, Any],
                      conn: AsyncConnection | None = None) -> None:
    stmt = insert(agent_messages).values(session_id=sid, turn=turn, message=message)
    if conn is not None:
        await conn.execute(stmt)
        return
    async with engine.begin() as own:
        await own.execute(stmt)


async def messages(engine: AsyncEngine, sid: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(agent_messages.c.message, agent_messages.c.turn, agent_messages.c.created_at)
                                  .where(agent_messages.c.session_id == sid).order_by(agent_messages.c.id))
        return [dict(r._mapping) for r in rows]


# --------------------------------------------------------------------------- tool calls


async def tool_calls(engine: AsyncEngine, sid: str, turn: int | None = None) -> list[dict[str, Any]]:
    q = select(agent_tool_calls).where(agent_tool_calls.c.session_id == sid)
    if turn is not None:
        q = q.where(agent_tool_calls.c.turn == turn)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(q.order_by(agent_tool_calls.c.id))]


async def record_call(engine: AsyncEngine, sid: str, turn: int, call_id: str, tool: str, arguments: dict[str, Any],
                      status: str, approval_id: str | None = None) -> bool:
    """The durable intent of a call (committed before the tool runs); False when it exists."""
    async with engine.begin() as conn:
        stmt = pg_insert(agent_tool_calls).values(session_id=sid, turn=turn, call_id=call_id, tool=tool,
                                                  arguments=arguments, status=status, approval_id=approval_id)
        new = stmt.on_conflict_do_nothing(constraint="agent_tool_calls_call").returning(agent_tool_calls.c.id)
        return (await conn.execute(new)).first() is not None


async def start_call(engine: AsyncEngine, sid: str, call_id: str, expected: str) -> bool:
    """Move an approved call to `running`, once: a second resume finds it taken."""
    async with engine.begin() as conn:
        result = await conn.execute(update(agent_tool_calls).where(
            agent_tool_calls.c.session_id == sid, agent_tool_calls.c.call_id == call_id,
            agent_tool_calls.c.status == expected).values(status="running", updated_at=func.now()))
        return bool(result.rowcount)


async def finish_call(engine: AsyncEngine, sid: str, turn: int, call_id: str, status: str, result: str) -> None:
    """The call's outcome and the tool message that carries it to the model, in one transaction."""
    async with engine.begin() as conn:
        await conn.execute(update(agent_tool_calls).where(
            agent_tool_calls.c.session_id == sid, agent_tool_calls.c.call_id == call_id,
        ).values(status=status, result=result, updated_at=func.now()))
        await add_message(engine, sid, turn, {"role": "tool", "tool_call_id": call_id, "content": result}, conn)


async def approval(engine: AsyncEngine, sid: str, approval_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(agent_tool_calls).where(
            agent_tool_calls.c.session_id == sid, agent_tool_calls.c.approval_id == approval_id))).first()
        return dict(row._mapping) if row else None


async def decide(engine: AsyncEngine, sid: str, approval_id: str, approved: bool, by: str, reason: str) -> bool:
    """Record a decision on a pending call, once: a replayed decision changes nothing."""
    async with engine.begin() as conn:
        result = await conn.execute(update(agent_tool_calls).where(
            agent_tool_calls.c.session_id == sid, agent_tool_calls.c.approval_id == approval_id,
            agent_tool_calls.c.status == "pending",
        ).values(status="approved" if approved else "denied", decided_by=by, reason=reason, updated_at=func.now()))
        return bool(result.rowcount)


def session_json(row: dict[str, Any]) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        return v.isoformat() if v else None

    return {"id": row["id"], "object": "agent.session", "agent": row["agent"], "title": row["title"],
            "status": row["status"], "turns": row["turns"], "tokens": row["tokens"], "cost": row["cost"],
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}
