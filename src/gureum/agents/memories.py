"""Long-term memories per user and agent, on pgvector: the built-in `remember` and `recall` tools,
and forgetting. A memory is embedded through the governed flow as the user (an `embeddings` call,
`no-store`, so neither the fact nor a recall query stays in the response cache), and is found
only by the same tenant, user and agent. Forgetting a user deletes their memories and their
sessions (messages, tool calls) in one transaction and returns a receipt; the audit records the
counts, not what was forgotten."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.agents.tables import (
    agent_memories,
    agent_messages,
    agent_sessions,
    agent_tool_calls,
)
from gureum.agents.tools import ToolContext, tool
from gureum.flow.gateway import Request
from gureum.flow.operations import EMBEDDINGS

MAX_FACT = 2000


async def _embed(ctx: ToolContext, text: str, kind: str) -> list[float]:
    model = ctx.agent.memory_embedder
    body = {"model": model, "input": [text], "input_type": kind}
    reply = await ctx.platform.complete(ctx.principal, Request(EMBEDDINGS, body, model,
                                                               headers={"cache-control": "no-store"}), origin="agent")
    return list((reply.body or {})["data"][0]["embedding"])


def _owner(ctx: ToolContext) -> tuple[str, str]:
    return ctx.principal.tenant_id, ctx.principal.user_id or ctx.principal.key_id


@tool("remember")
async def remember(ctx: ToolContext, fact: str) -> dict[str, Any]:
    """Store a fact about the user for later sessions with this agent (one short sentence)."""
    fact = fact.strip()[:MAX_FACT]
    if not fact:
        return {"error": "nothing to remember"}
    vector = await _embed(ctx, fact, "passage")
    tenant, who = _owner(ctx)
    async with ctx.platform.store.engine.begin() as conn:
        await conn.execute(insert(agent_memories).values(tenant_id=tenant, owner=who, agent=ctx.agent.name, text=fact,
                                                         embedder=ctx.agent.memory_embedder, embedding=vector))
    return {"remembered": fact}


@tool("recall")
async def recall(ctx: ToolContext, query: str, k: int = 5) -> dict[str, Any]:
    """Find the facts remembered about this user that are most relevant to `query`."""
    vector = await _embed(ctx, query, "query")
    tenant, who = _owner(ctx)
    m = agent_memories.c
    q = (select(m.text).where(m.tenant_id == tenant, m.owner == who, m.agent == ctx.agent.name,
                              m.embedder == ctx.agent.memory_embedder)
         .order_by(m.embedding.cosine_distance(vector)).limit(max(1, min(int(k), 20))))
    async with ctx.platform.store.engine.connect() as conn:
        return {"memories": [r[0] for r in await conn.execute(q)]}


async def list_memories(engine: AsyncEngine, tenant: str, owner: str, agent: str | None) -> list[dict[str, Any]]:
    m = agent_memories.c
    q = select(m.id, m.agent, m.text, m.created_at).where(m.tenant_id == tenant, m.owner == owner)
    if agent is not None:
        q = q.where(m.agent == agent)
    async with engine.connect() as conn:
        return [{"id": r.id, "object": "memory", "agent": r.agent, "text": r.text,
                 "created_at": r.created_at.isoformat()} for r in await conn.execute(q.order_by(m.id))]


async def forget(engine: AsyncEngine, tenant: str, owner: str, agent: str | None) -> dict[str, Any]:
    """Delete a user's memories and sessions (of one agent, or all); the deletion receipt."""
    m, s = agent_memories.c, agent_sessions.c
    mem_where = [m.tenant_id == tenant, m.owner == owner] + ([m.agent == agent] if agent else [])
    ses_where = [s.tenant_id == tenant, s.owner == owner] + ([s.agent == agent] if agent else [])
    async with engine.begin() as conn:
        ids = [r[0] for r in await conn.execute(select(s.id).where(*ses_where))]
        counts = {
            "memories": (await conn.execute(delete(agent_memories).where(*mem_where))).rowcount,
            "messages": (await conn.execute(delete(agent_messages).where(agent_messages.c.session_id.in_(ids)))).rowcount,
            "tool_calls": (await conn.execute(
                delete(agent_tool_calls).where(agent_tool_calls.c.session_id.in_(ids)))).rowcount,
            "sessions": (await conn.execute(delete(agent_sessions).where(*ses_where))).rowcount,
        }
        left = (await conn.execute(select(func.count()).select_from(agent_memories).where(*mem_where))).scalar_one()
    return {"id": "del_" + uuid.uuid4().hex, "object": "memories.deletion_receipt", "tenant": tenant,
            "user": owner, "agent": agent, "deleted": counts, "remaining_memories": left,
            "at": datetime.now(UTC).isoformat()}


def subject_hash(tenant: str, owner: str) -> str:
    """Who was forgotten, as the audit keeps it: not the name, only a hash to match a request to."""
    return hashlib.sha256(f"{tenant}\n{owner}".encode()).hexdigest()[:16]


__all__ = ["forget", "list_memories", "recall", "remember", "subject_hash"]
