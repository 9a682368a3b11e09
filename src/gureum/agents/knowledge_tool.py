"""The built-in `knowledge_search` tool: a retrieval through the governed flow as the session's
user, so their ACL decides what can be found, and the retrieval is audited and accounted like
any other (`agent.retrieve`). Only the agent's own collections may be searched."""

from __future__ import annotations

from typing import Any

from gureum.agents.tools import ToolContext, tool
from gureum.flow.gateway import Request
from gureum.flow.operations import RETRIEVE

MAX_PASSAGE = 1200


@tool("knowledge_search")
async def knowledge_search(ctx: ToolContext, query: str, collection: str | None = None, k: int = 5) -> dict[str, Any]:
    """Search the agent's knowledge collections for passages relevant to `query`; returns the
    passages with their citations. `collection` defaults to the agent's first collection."""
    allowed = ctx.agent.collections
    if not allowed:
        return {"error": "this agent has no knowledge collections"}
    name = collection or allowed[0]
    if name not in allowed:
        return {"error": f"collection '{name}' is not one of this agent's collections: {', '.join(allowed)}"}
    body = {"collection": name, "query": query, "k": max(1, min(int(k), 10)), "mode": "hybrid"}
    reply = await ctx.platform.complete(ctx.principal, Request(RETRIEVE, body, f"rag/{name}",
                                                               request_id=f"{ctx.request_id}:retrieve"), origin="agent")
    data = (reply.body or {}).get("data") or []
    return {"collection": name, "passages": [
        {"n": i, "title": h.get("title") or h.get("uri"), "uri": h.get("uri"), "text": str(h.get("text", ""))[:MAX_PASSAGE]}
        for i, h in enumerate(data, 1)]}
