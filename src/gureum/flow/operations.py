"""The kinds of call the flow serves, as data: what each stage does for a call is read from its
`Operation`, so a new kind of call (an agent step, a batch line, a sub-call) is one row here and
not a branch in every stage.

`text` says where a request's text is, for the PII guard and the token estimate of limits:
`messages` (a chat body), `input` (an embeddings body), `rerank` (`query` + `documents`) or
`none`. `knowledge` says what the retrieve stage does: `search` answers the call itself,
`answer` always grounds it in a collection, `rag_model` grounds a chat whose model is
`rag/<collection>`. `call` is what the terminal stage asks of a provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Text = Literal["messages", "input", "rerank", "none"]
Knowledge = Literal["search", "answer", "rag_model"]
ProviderCall = Literal["chat", "embed", "rerank"]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # the ledger's `endpoint` and the audit action's suffix
    text: Text
    call: ProviderCall | None  # None: a stage answers (retrieval)
    knowledge: Knowledge | None = None
    cacheable: bool = False  # the response cache may answer it and store its answer
    fit_context: bool = False  # long conversations are fitted into the model's context budget
    leak_check: bool = False  # the reply is model text that may carry PII the policy forbids
    cheapest: bool = False  # route to the cheapest permitted deployment only (internal sub-calls)
    # Answer afresh what the cache would serve and record whether the two differ (the shadow sample).
    compare_cached: bool = False

    @property
    def catalog_kind(self) -> str:
        """Which deployments of the catalog serve it."""
        return {"embed": "embedding", "rerank": "rerank"}.get(self.call or "chat", "chat")


CHAT = Operation("chat", "messages", "chat", knowledge="rag_model", cacheable=True, fit_context=True, leak_check=True)
EMBEDDINGS = Operation("embeddings", "input", "embed", cacheable=True)
RETRIEVE = Operation("retrieve", "none", None, knowledge="search")
ANSWER = Operation("answer", "messages", "chat", knowledge="answer", cacheable=True, fit_context=True, leak_check=True)
# Sub-calls the platform makes for a request (children of it in ledger and audit).
RERANK = Operation("rerank", "rerank", "rerank")
SUMMARY = Operation("summary", "messages", "chat", leak_check=True, cheapest=True)
SHADOW = Operation("shadow", "messages", "chat", fit_context=True, leak_check=True, compare_cached=True)
# One model call of an agent's tool-calling loop, made as the session's user. Not cached: a step
# carries the session's tool results, and a replayed tool call would act twice.
AGENT_STEP = Operation("agent_step", "messages", "chat", fit_context=True, leak_check=True)

OPERATIONS = {op.name: op for op in (CHAT, EMBEDDINGS, RETRIEVE, ANSWER, RERANK, SUMMARY, SHADOW, AGENT_STEP)}

__all__ = ["AGENT_STEP", "ANSWER", "CHAT", "EMBEDDINGS", "OPERATIONS", "RERANK", "RETRIEVE", "SHADOW", "SUMMARY",
           "Operation"]
