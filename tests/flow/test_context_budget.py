"""Context budgets: long conversations are compacted to the budget (system prompt and recent turns
kept, older turns summarised by the cheapest allowed deployment, or extractively when that
fails), tokens saved are recorded, the summary call is billed on its own ledger row, and RAG
passages are fitted by relevance."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from gureum.economy.context import SUMMARY_PREFIX_EN, SUMMARY_PREFIX_KO, compact, fit_passages, split_turns
from gureum.flow.stages.context import SUMMARY_PROMPT
from gureum.tokens import estimate_messages
from tests.conftest import ADMIN_KEY, gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import make_key
from tests.support.servers import serve_app


def conversation(turns: int = 10, words: int = 60, korean: bool = False) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "You are the support assistant of ACME."}]
    for i in range(turns):
        if korean:
            msgs.append({"role": "user", "content": f"{i}번째 질문입니다. " + "배송 관련 문의 " * words})
            msgs.append({"role": "assistant", "content": f"{i}번째 답변입니다. " + "확인해 보겠습니다 " * words})
        else:
            msgs.append({"role": "user", "content": f"Question {i} is about order {1000 + i}. " + "details " * words})
            msgs.append({"role": "assistant", "content": f"Answer {i} says it shipped. " + "more " * words})
    return msgs


# --- the compaction itself ---------------------------------------------------------------------

def test_under_budget_is_untouched() -> None:
    msgs = conversation(2, 5)
    c = compact(msgs, 10_000, 2)
    assert c.method == "none" and c.messages is msgs and c.saved == 0


def test_extractive_keeps_system_and_recent_turns() -> None:
    msgs = conversation()
    c = compact(msgs, 500, keep_recent=2)
    assert c.after <= 500 < c.before and c.saved == c.before - c.after
    assert c.messages[0] == msgs[0]
    assert c.messages[-4:] == msgs[-4:]  # the last two turns verbatim
    summary = c.messages[1]["content"]
    assert summary.startswith(SUMMARY_PREFIX_EN) and c.method == "extractive"
    assert "- user: Question 7 is about order 1007." in summary  # the first sentence of older messages
    assert "details details" not in summary
    assert c.turns_compacted == 8


def test_a_model_summary_is_used_when_it_fits() -> None:
    msgs = conversation()
    c = compact(msgs, 500, 2, summary="The customer asked about orders 1000-1007; all shipped.")
    assert c.method == "summary" and "orders 1000-1007" in c.messages[1]["content"]
    too_long = compact(msgs, 500, 2, summary="word " * 2000)
    assert too_long.method == "extractive" and too_long.after <= 500


def test_korean_summary_label_and_turn_split() -> None:
    c = compact(conversation(words=8, korean=True), 600, 2)
    assert c.messages[1]["content"].startswith(SUMMARY_PREFIX_KO)
    split = split_turns(conversation(3, 1), 2)
    assert len(split.system) == 1 and len(split.old) == 1 and len(split.recent) == 2


def test_when_even_recent_turns_do_not_fit() -> None:
    c = compact(conversation(3, 300), 100, 2)
    assert c.after > 100 and any("exceed the budget" in n for n in c.notes)
    assert estimate_messages(c.messages) == c.after


def test_fit_passages_by_relevance() -> None:
    passages = [("low relevance " * 5, 0.1), ("best " * 10, 0.9), ("huge " * 500, 0.8), ("good " * 10, 0.5)]
    chosen = fit_passages(passages, 30)
    assert chosen == ["best " * 10, "good " * 10]  # the huge one is skipped, smaller ones still fit
    assert fit_passages(passages, 0) == []

    class Hit:
        def __init__(self, text: str) -> None:
            self.text = text

    hits = [(Hit("a " * 10), 0.2), (Hit("b " * 10), 0.7)]
    assert [h.text[0] for h in fit_passages(hits, 100)] == ["b", "a"]


# --- through a running gureum ------------------------------------------------------------------

DEPLOYMENTS = [
    {"name": "kr-model", "provider": "fake", "model": "kr-model", "region": "kr", "tier": 3,
     "price": {"input": 1.0, "output": 2.0}},
    {"name": "cheap-us", "provider": "fake", "model": "cheap-us", "region": "us", "tier": 1,
     "price": {"input": 0.1, "output": 0.2}},
]


@pytest.fixture(scope="module")
def gw(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from gureum.app import create_app

    economy = {"context_budget": {
        "models": {"chat": {"max_input_tokens": 600, "keep_recent_turns": 2}},
        "tenants": {"lean": {"max_input_tokens": 300, "keep_recent_turns": 1, "summarize": False}},
    }}
    governance = {"tenants": {"kronly": {"residency": ["kr-only"]}}}
    settings = gateway_settings(
        database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("ctx"), deployments=DEPLOYMENTS,
        virtual_models={"chat": {"candidates": ["kr-model", "cheap-us"]}}, economy=economy, governance=governance,
    )
    with serve_app(create_app(settings)) as base:
        yield base


def member(base: str, tenant: str) -> str:
    return make_key(base, tenant, user=f"u-{tenant}")


def send(base: str, messages: list[dict[str, Any]], key: str = ADMIN_KEY, model: str = "chat") -> str:
    rid = "req_" + uuid.uuid4().hex
    r = httpx.post(f"{base}/v1/chat/completions", timeout=60, json={"model": model, "messages": messages},
                   headers={"authorization": f"Bearer {key}", "x-request-id": rid})
    assert r.status_code == 200, r.text
    return rid


def ledger(database_url: str, rid: str) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        cur = conn.execute("SELECT model, endpoint, parent_id, deployment, cost, tokens_saved, route FROM ledger "
                           "WHERE request_id = %s", (rid,))
        row = cur.fetchone()
        names = [d.name for d in cur.description or []]
    assert row is not None, rid
    return dict(zip(names, row, strict=True))


def test_long_chat_is_summarised_by_the_cheapest_allowed_model(
    gw: str, upstream: tuple[FakeOpenAI, str], database_url: str
) -> None:
    fake = upstream[0]
    msgs = conversation()
    n = len(fake.requests)
    rid = send(gw, msgs)
    summary_call, main_call = fake.requests[n:]
    assert summary_call["model"] == "cheap-us"  # the cheapest candidate summarises
    assert summary_call["messages"][0]["content"] == SUMMARY_PROMPT
    assert "Question 0 is about order 1000" in summary_call["messages"][1]["content"]
    sent = main_call["messages"]
    assert sent[0] == msgs[0] and sent[-4:] == msgs[-4:]
    assert sent[1]["content"] == f"{SUMMARY_PREFIX_EN}:\n{fake.reply}"
    main = ledger(database_url, rid)
    assert main["tokens_saved"] > 1000
    ctx = main["route"]["context"]
    assert ctx["method"] == "summary" and ctx["summariser"] == "cheap-us@fake" and ctx["after"] <= ctx["budget"] == 600
    # The summary is a sub-call of the chat: its own ledger row (and audit event) under the chat's id.
    summary = ledger(database_url, f"{rid}:summary")
    assert summary["endpoint"] == "summary" and summary["parent_id"] == rid and summary["model"] == "chat"
    assert summary["deployment"] == "cheap-us@fake" and summary["cost"] > 0
    with psycopg.connect(database_url) as conn:
        action, detail = conn.execute("SELECT action, detail FROM audit_events WHERE request_id = %s",
                                      (f"{rid}:summary",)).fetchone()
    assert action == "api.summary" and detail["parent"] == rid and detail["deployment"] == "cheap-us@fake"


def test_the_summariser_respects_residency(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    n = len(fake.requests)
    send(gw, conversation(12), member(gw, "kronly"))
    assert [r["model"] for r in fake.requests[n:]] == ["kr-model", "kr-model"]


def test_summariser_failure_falls_back_to_extractive(
    gw: str, upstream: tuple[FakeOpenAI, str], database_url: str
) -> None:
    fake = upstream[0]
    fake.script("error:500", "error:500")  # the summary call and its retry
    n = len(fake.requests)
    rid = send(gw, conversation(11))
    sent = fake.requests[-1]["messages"]
    assert len(fake.requests) == n + 3
    assert "- user: Question 8 is about order 1008." in sent[1]["content"]
    assert ledger(database_url, rid)["route"]["context"]["method"] == "extractive"


def test_tenant_budget_is_tighter_and_may_skip_summaries(gw: str, upstream: tuple[FakeOpenAI, str], database_url: str) -> None:
    fake = upstream[0]
    n = len(fake.requests)
    rid = send(gw, conversation(6, 20), member(gw, "lean"))
    assert len(fake.requests) == n + 1  # summarize: false — no summary call
    ctx = ledger(database_url, rid)["route"]["context"]
    assert ctx["budget"] == 300 and ctx["method"] == "extractive" and ctx["after"] <= 300


def test_short_chats_and_other_models_are_untouched(gw: str, upstream: tuple[FakeOpenAI, str], database_url: str) -> None:
    fake = upstream[0]
    msgs = conversation(1, 5)
    rid = send(gw, msgs)
    assert fake.requests[-1]["messages"] == msgs
    assert "context" not in (ledger(database_url, rid)["route"] or {})
    long = conversation()
    send(gw, long, model="kr-model")  # no budget for this model
    assert fake.requests[-1]["messages"] == long
