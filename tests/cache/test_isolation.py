"""Every way a cache hit could cross a boundary, through running gureum servers and a fake
upstream that counts what it received: tenant, user (when sharing is per user), model, system
prompt, conversation history, tool set, each output-changing parameter, RAG ACL principals, a
collection's documents changing (generation bump), the request opting out, and TTL expiry.

Each case first proves the entry exists (a repeat is a hit) so a miss means "kept apart", not
"never stored"."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY, gateway_settings
from tests.knowledge.conftest import Api, kn_gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import make_key as member_key
from tests.support.servers import serve_app


@pytest.fixture(scope="module")
def gw(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from gureum.app import create_app

    url = upstream[1]
    deployments = [
        {"name": name, "provider": "fake", "model": f"{name}-model", "price": {"input": 1.0, "output": 2.0},
         "region": "us", "tier": 3}
        for name in ("gpt-test", "gpt-other")
    ]
    cache = {"semantic_timeout": 30, "tenants": {"private": {"share": "user"}, "short": {"ttl": 1}}}
    settings = gateway_settings(database_url, {"fake": url}, tmp_path_factory.mktemp("iso"), deployments=deployments,
                                cache=cache)
    with serve_app(create_app(settings)) as base:
        yield base


def make_key(base: str, tenant: str, user: str | None = None, groups: list[str] | None = None) -> str:
    return member_key(base, tenant, user=user, groups=groups)


def post(base: str, body: dict[str, Any], key: str = ADMIN_KEY, headers: dict[str, str] | None = None) -> str:
    """Send a chat request; return the cache state the gateway reported."""
    payload = {"model": "gpt-test", "temperature": 0, **body}
    r = httpx.post(f"{base}/v1/chat/completions", json=payload, timeout=60,
                   headers={"authorization": f"Bearer {key}", **(headers or {})})
    assert r.status_code == 200, r.text
    return r.headers["x-gureum-cache"]


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def unique(text: str) -> str:
    return f"{text} #{uuid.uuid4().hex[:6]}"


def stored(base: str, body: dict[str, Any], key: str = ADMIN_KEY) -> None:
    assert post(base, body, key) == "miss"
    assert post(base, body, key) == "exact"


def test_tenants_never_share(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    a, b, c = (make_key(gw, f"tenant-{x}") for x in "abc")
    q = unique("What is our vacation policy?")
    stored(gw, {"messages": user(q)}, a)
    n = len(fake.requests)
    assert post(gw, {"messages": user(q)}, b) == "miss"  # not exactly …
    assert post(gw, {"messages": user(q.replace("What is", "What's"))}, c) == "miss"  # … nor semantically
    assert len(fake.requests) == n + 2


def test_user_scoped_sharing(gw: str) -> None:
    alice, bob = make_key(gw, "private", "alice"), make_key(gw, "private", "bob")
    q = unique("Summarise my last ticket")
    stored(gw, {"messages": user(q)}, alice)
    assert post(gw, {"messages": user(q)}, bob) == "miss"


def test_models_never_share(gw: str) -> None:
    q = unique("Which model are you?")
    stored(gw, {"messages": user(q)})
    assert post(gw, {"model": "gpt-other", "messages": user(q)}) == "miss"


def test_system_prompt_and_history_are_part_of_the_scope(gw: str) -> None:
    q = unique("How should I greet the customer?")
    pirate = [{"role": "system", "content": "You are a pirate."}, *user(q)]
    lawyer = [{"role": "system", "content": "You are a lawyer."}, *user(q)]
    stored(gw, {"messages": pirate})
    assert post(gw, {"messages": lawyer}) == "miss"
    # nor a paraphrase under a third system prompt (semantic)
    judge = {"role": "system", "content": "You are a judge."}
    assert post(gw, {"messages": [judge, *user(q.replace("How should I", "How do I"))]}) == "miss"
    earlier = [{"role": "user", "content": "We sell boats."}, {"role": "assistant", "content": "Noted."}]
    other = [{"role": "user", "content": "We sell cars."}, {"role": "assistant", "content": "Noted."}]
    stored(gw, {"messages": [*earlier, *user(q)]})
    assert post(gw, {"messages": [*other, *user(q)]}) == "miss"


def test_tool_sets_never_share(gw: str) -> None:
    def tool(name: str) -> dict[str, Any]:
        return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}

    q = unique("Look up the order status")
    stored(gw, {"messages": user(q), "tools": [tool("orders")], "tool_choice": "none"})
    assert post(gw, {"messages": user(q), "tools": [tool("refunds")], "tool_choice": "none"}) == "miss"
    assert post(gw, {"messages": user(q)}) == "miss"


@pytest.mark.parametrize(
    "change",
    [
        {"max_tokens": 17},
        {"response_format": {"type": "json_object"}},
        {"top_p": 0.5},
        {"stop": ["\n"]},
        {"seed": 7},
        {"presence_penalty": 0.5},
        {"logit_bias": {"50256": -100}},
    ],
)
def test_output_changing_parameters_never_share(gw: str, change: dict[str, Any]) -> None:
    q = unique("Write one sentence about Seoul")
    stored(gw, {"messages": user(q), "max_tokens": 16})
    assert post(gw, {"messages": user(q), "max_tokens": 16, **change}) == "miss"


def test_opting_out(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    q = unique("Opt-out isolation")
    stored(gw, {"messages": user(q)})
    n = len(fake.requests)
    assert post(gw, {"messages": user(q)}, headers={"cache-control": "no-store"}) == "bypass"
    assert post(gw, {"messages": user(q)}, headers={"x-gureum-cache": "off"}) == "bypass"
    assert len(fake.requests) == n + 2
    fresh = unique("Never written")
    assert post(gw, {"messages": user(fresh)}, headers={"cache-control": "no-store"}) == "bypass"
    assert post(gw, {"messages": user(fresh)}) == "miss"


def test_ttl_expiry(gw: str) -> None:
    key = make_key(gw, "short")  # this tenant's entries live 1 s
    q = unique("Expiring answer")
    stored(gw, {"messages": user(q)}, key)
    time.sleep(2.2)
    assert post(gw, {"messages": user(q)}, key) == "miss"


# --- RAG: ACL principals and collection generations ---------------------------------------------

DOCS = [
    ("leave.txt", "연차 휴가는 입사 첫해 15일이며 2년마다 1일씩 늘어난다. 신청은 그룹웨어에서 한다."),
    ("expense.txt", "출장비 정산은 출장 종료 후 14일 이내에 영수증과 함께 제출한다."),
]


@pytest.fixture(scope="module")
def rag(database_url: str, upstream: tuple[FakeOpenAI, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app

    settings = kn_gateway_settings(database_url, upstream[1], tmp_path_factory.mktemp("rag"),
                                   cache={"semantic_timeout": 30})
    with serve_app(create_app(settings)) as base:
        api = Api(base)
        keys = {
            "admin": api.key(ADMIN_KEY, "acme", "admin", user="acme-admin"),
            "alice": api.key(ADMIN_KEY, "acme", user="alice", groups=["eng"]),
            "bob": api.key(ADMIN_KEY, "acme", user="bob", groups=["eng"]),
            "svc-eng": api.key(ADMIN_KEY, "acme", groups=["eng"]),
            "svc-hr": api.key(ADMIN_KEY, "acme", groups=["hr"]),
        }
        r = api.call("POST", "/v1/collections", keys["admin"], {"name": "hrfaq", "default_acl": ["*"]})
        assert r.status_code == 201, r.text  # type: ignore[attr-defined]
        r = api.call("POST", "/v1/collections/hrfaq/documents", keys["admin"],
                     {"documents": [{"uri": u, "text": t, "title": u} for u, t in DOCS]})
        assert r.status_code == 200, r.text  # type: ignore[attr-defined]
        yield {"base": base, "keys": keys, "settings": settings}


def rag_ask(env: dict[str, Any], who: str, question: str) -> str:
    return post(env["base"], {"model": "rag/hrfaq", "messages": user(question)}, env["keys"][who])


def test_rag_answers_are_scoped_to_the_callers_principals(rag: dict[str, Any]) -> None:
    q = "연차 휴가는 며칠인가요?"
    assert rag_ask(rag, "alice", q) == "miss"
    assert rag_ask(rag, "alice", q) == "exact"
    assert rag_ask(rag, "bob", q) == "miss"  # another user: other principals, other entries
    assert rag_ask(rag, "svc-eng", q) == "miss"
    assert rag_ask(rag, "svc-hr", q) == "miss"  # other groups
    assert rag_ask(rag, "svc-eng", q) == "exact"


def test_rag_answers_die_with_a_collection_change(rag: dict[str, Any]) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from gureum.cache import bump_collection
    from gureum.store.engine import _driver_url

    q = "출장비 정산 기한은 언제까지인가요?"
    assert rag_ask(rag, "alice", q) == "miss"
    assert rag_ask(rag, "alice", q) == "exact"

    async def bump(tenant: str) -> int:
        engine = create_async_engine(_driver_url(rag["settings"].database_url))
        try:
            return await bump_collection(tenant, "hrfaq", engine)
        finally:
            await engine.dispose()

    assert asyncio.run(bump("other-tenant")) >= 1
    assert rag_ask(rag, "alice", q) == "exact"  # another tenant's collection of the same name changed
    assert asyncio.run(bump("acme")) >= 1
    assert rag_ask(rag, "alice", q) == "miss"  # same documents, same prompt: the generation alone separates
    assert rag_ask(rag, "alice", q) == "exact"


def test_purging_a_collection_voids_its_answers(rag: dict[str, Any]) -> None:
    q = "사내 식당은 몇 시에 여나요?"
    assert rag_ask(rag, "alice", q) == "miss"
    assert rag_ask(rag, "alice", q) == "exact"
    r = httpx.delete(f"{rag['base']}/v1/cache", params={"collection": "hrfaq"}, timeout=60,
                     headers={"authorization": f"Bearer {rag['keys']['admin']}"})
    assert r.status_code == 200 and r.json()["collection"] == "hrfaq" and r.json()["deleted"] >= 1, r.text
    assert rag_ask(rag, "alice", q) == "miss"


# --- the key builder on its own ----------------------------------------------------------------

def test_key_scoping_rules() -> None:
    from gureum.cache.keys import build_keys, policy_for
    from gureum.cache.settings import CacheSettings

    s = CacheSettings()
    plain = policy_for(s, "t", "gpt")
    rag = policy_for(s, "t", "auto", collection="hr")
    body = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q?"}], "temperature": 0}

    def keys(**kw: Any) -> Any:
        args = {"body": body, "model": "gpt", "tenant_id": "t", "user_id": "u", "principals": ["*", "user:u"],
                "policy": plain, "generation": 0} | kw
        return build_keys(**args)

    base = keys()
    assert keys(user_id="v").exact == base.exact  # shared within the tenant …
    assert keys(user_id="v", policy=policy_for(CacheSettings(share="user"), "t", "gpt")).exact != base.exact  # … or not
    assert keys(principals=["*", "user:v"]).exact == base.exact  # ACL is not part of plain chat keys
    r = keys(policy=rag)
    assert keys(policy=rag, principals=["*", "user:v"]).exact != r.exact  # … but of RAG keys
    assert keys(policy=rag, generation=1).exact != r.exact
    assert keys(body={**body, "stream": True, "user": "x", "metadata": {"a": 1}}).exact == base.exact
    assert keys(body={**body, "temperature": 0.0, "max_tokens": 5}).exact != base.exact
    # the semantic scope leaves out the last user turn only
    other_q = {**body, "messages": [body["messages"][0], {"role": "user", "content": "Other?"}]}
    assert keys(body=other_q).scope == base.scope and keys(body=other_q).exact != base.exact
    # a grounded RAG prompt: the context joins the scope, the question is compared
    grounded = {"messages": [{"role": "user", "content": "Document excerpts:\n\n[1] A\n\nQuestion: How long?"}]}
    g = keys(body=grounded, policy=rag)
    assert g.query == "How long?" and g.scope is not None
    other_ctx = {"messages": [{"role": "user", "content": "Document excerpts:\n\n[1] B\n\nQuestion: How long?"}]}
    assert keys(body=other_ctx, policy=rag).scope != g.scope
    assert keys(body={"messages": [{"role": "user", "content": "no label"}]}, policy=rag).scope is None


def test_policy_decisions() -> None:
    from gureum.cache.keys import policy_for
    from gureum.cache.service import decide, storable
    from gureum.cache.settings import CacheSettings

    s = CacheSettings(tenants={"off": {"enabled": False}})
    p = policy_for(s, "t", "m")
    assert decide(s, p, {}, {"temperature": 0}).read
    assert not decide(s, p, {}, {}).write  # unset temperature: not cached by default
    assert decide(CacheSettings(cache_unset_temperature=True), p, {}, {}).read
    assert not decide(s, p, {}, {"temperature": 0, "n": 2}).write
    assert not decide(s, policy_for(s, "off", "m"), {}, {"temperature": 0}).write
    d = decide(s, p, {"cache-control": "no-cache"}, {"temperature": 0})
    assert d.write and not d.read
    assert not decide(s, p, {"x-gureum-cache": "exact"}, {"temperature": 0}).semantic
    ok = {"choices": [{"message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}]}
    assert storable(ok, False)
    assert not storable({"choices": [{"message": {"content": "x"}, "finish_reason": "content_filter"}]}, False)
    call = {"choices": [{"message": {"tool_calls": [{"id": "c"}]}, "finish_reason": "tool_calls"}]}
    assert not storable(call, False) and storable(call, True)
    assert not storable({"choices": [ok["choices"][0], ok["choices"][0]]}, False)


def test_an_acl_change_through_the_api_invalidates_cached_answers(rag: dict[str, Any]) -> None:
    """The answer quoting a document must not outlive a caller's access to it."""
    base, keys = rag["base"], rag["keys"]
    q = "연차 휴가는 입사 첫해에 며칠인가요?"
    assert rag_ask(rag, "svc-eng", q) == "miss"
    assert rag_ask(rag, "svc-eng", q) == "exact"
    docs = httpx.get(f"{base}/v1/collections/hrfaq/documents", timeout=30,
                     headers={"authorization": f"Bearer {keys['admin']}"}).json()["data"]
    leave = next(d for d in docs if d["uri"] == "leave.txt")
    r = httpx.put(f"{base}/v1/collections/hrfaq/documents/{leave['id']}/acl", json={"groups": ["hr"]}, timeout=30,
                  headers={"authorization": f"Bearer {keys['admin']}"})
    assert r.status_code == 200, r.text
    assert rag_ask(rag, "svc-eng", q) == "miss"
    r = httpx.post(f"{base}/v1/chat/completions", timeout=60, headers={"authorization": f"Bearer {keys['svc-eng']}"},
                   json={"model": "rag/hrfaq", "temperature": 0, "messages": user("연차 휴가 일수는 몇 일인가요?")})
    assert r.headers["x-gureum-cache"] != "semantic" and "15일" not in r.text
