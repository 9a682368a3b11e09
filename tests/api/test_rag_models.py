"""`rag/<collection>` models in `/v1/models` and `/v1/models/{id}`, driven with the official openai
SDK: each tenant sees its own collections and never another tenant's; a model is listed exactly
when the caller's chat with it would pass the tenant's allow-list (for the `rag/` name, the
collection's answer model and its embedder), which the last test checks by chatting with every
collection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import ADMIN_KEY
from tests.knowledge.conftest import Api, kn_gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

T = uuid.uuid4().hex[:6]
A, B, LIMITED, RAG_ONLY, NO_EMBEDDER = f"ta{T}", f"tb{T}", f"tc{T}", f"td{T}", f"te{T}"
COLLECTIONS = {
    A: ["handbook", "faq"],
    B: ["b-wiki"],
    LIMITED: ["public-news", "hr-salaries", "other"],
    RAG_ONLY: ["docs"],
    NO_EMBEDDER: ["notes"],
}


@pytest.fixture(scope="module")
def env(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app

    governance = {"tenants": {
        # A collection's embedder is a model its calls use like any other: the allow-list names it.
        LIMITED: {"allowed_models": ["gpt-test", "local-embed", "rag/public-*"], "group_models": {"hr": ["rag/hr-*"]}},
        RAG_ONLY: {"allowed_models": ["rag/*", "local-embed"]},  # the rag/ name, but not its answer model gpt-test
        NO_EMBEDDER: {"allowed_models": ["gpt-test", "rag/*"]},  # every model but the collections' embedder
    }}
    settings = kn_gateway_settings(database_url, upstream[1], tmp_path_factory.mktemp("ragmodels"),
                                   governance=governance)
    with serve_app(create_app(settings)) as base:
        api = Api(base)
        for tenant, names in COLLECTIONS.items():
            admin = api.key(ADMIN_KEY, tenant, "admin", user="admin")
            for name in names:
                r = api.call("POST", "/v1/collections", admin, {"name": name, "description": f"{name} documents"})
                assert r.status_code == 201, r.text  # type: ignore[attr-defined]
            r = api.call("POST", f"/v1/collections/{names[0]}/documents", admin,
                         {"documents": [{"uri": "a.md", "text": "# 안내\n\n회사 안내 문서입니다."}]})
            if tenant == NO_EMBEDDER:  # its documents cannot be embedded: the embedder is not on the list
                assert r.status_code == 403 and "'local-embed' is not allowed" in r.text, r.text  # type: ignore[attr-defined]
            else:
                assert r.status_code == 200, r.text  # type: ignore[attr-defined]
        yield {"base": base, "api": api}


def sdk(env: dict[str, Any], tenant: str, role: str = "member", groups: list[str] | None = None) -> openai.OpenAI:
    key = env["api"].key(ADMIN_KEY, tenant, role, user=f"u-{uuid.uuid4().hex[:6]}", groups=groups)
    return openai.OpenAI(base_url=f"{env['base']}/v1", api_key=key, max_retries=0)


def rag_ids(client: openai.OpenAI) -> set[str]:
    return {m.id for m in client.models.list() if m.id.startswith("rag/")}


def test_each_collection_is_a_model_with_metadata(env: dict[str, Any]) -> None:
    client = sdk(env, A)
    models = {m.id: m for m in client.models.list()}
    assert {"gpt-test", "local-embed", "rag/handbook", "rag/faq"} <= set(models)  # beside the catalog
    card = models["rag/handbook"]
    assert card.object == "model" and card.owned_by == "gureum" and card.created > 0
    meta = card.model_extra["gureum"]  # type: ignore[index]
    assert meta["kind"] == "rag" and meta["collection"] == "handbook"
    assert meta["answer_model"] == "gpt-test" and meta["answer"] == "generative" and meta["extractive_reason"] is None
    assert meta["embedder"] == "local-embed"
    assert "Retrieval-augmented" in meta["description"] and "handbook documents" in meta["description"]
    one = client.models.retrieve("rag/handbook")
    assert one.id == "rag/handbook" and one.model_extra == card.model_extra


def test_tenants_never_see_each_others_collections(env: dict[str, Any]) -> None:
    a, b = sdk(env, A), sdk(env, B)
    assert rag_ids(a) == {"rag/handbook", "rag/faq"}
    assert rag_ids(b) == {"rag/b-wiki"}
    with pytest.raises(openai.NotFoundError) as err:
        b.models.retrieve("rag/handbook")
    assert err.value.status_code == 404
    body = err.value.response.json()["error"]
    assert body["code"] == "model_not_found" and body["type"] == "invalid_request_error" and body["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        a.models.retrieve("rag/b-wiki")
    with pytest.raises(openai.NotFoundError):
        a.models.retrieve("rag/no-such-collection")
    # The root tenant's admin has its own (empty) set of collections, not everyone's.
    root = openai.OpenAI(base_url=f"{env['base']}/v1", api_key=ADMIN_KEY, max_retries=0)
    assert not rag_ids(root) & {"rag/handbook", "rag/faq", "rag/b-wiki"}


def test_the_allow_list_decides_what_is_listed(env: dict[str, Any]) -> None:
    assert rag_ids(sdk(env, LIMITED)) == {"rag/public-news"}
    hr = sdk(env, LIMITED, groups=["hr"])
    assert rag_ids(hr) == {"rag/public-news", "rag/hr-salaries"}  # group_models add to the tenant's list
    assert hr.models.retrieve("rag/hr-salaries").id == "rag/hr-salaries"
    with pytest.raises(openai.NotFoundError):
        sdk(env, LIMITED).models.retrieve("rag/hr-salaries")
    # rag/* is allowed but the answer model is not: a chat would be refused, so nothing is listed.
    assert rag_ids(sdk(env, RAG_ONLY)) == set()
    # Nor when the collection's embedder is not: its retrieval would be refused.
    assert rag_ids(sdk(env, NO_EMBEDDER)) == set()
    # Auditor keys may call no model at all.
    assert rag_ids(sdk(env, A, role="auditor")) == set()


@pytest.mark.parametrize("tenant,groups", [(A, []), (LIMITED, []), (LIMITED, ["hr"]), (RAG_ONLY, []), (NO_EMBEDDER, [])])
def test_listed_exactly_when_a_chat_is_allowed(env: dict[str, Any], tenant: str, groups: list[str]) -> None:
    client = sdk(env, tenant, groups=groups)
    listed = rag_ids(client)
    for name in COLLECTIONS[tenant]:
        try:
            client.chat.completions.create(model=f"rag/{name}", messages=[{"role": "user", "content": "안내 문서"}])
            allowed = True
        except openai.PermissionDeniedError:
            allowed = False
        assert (f"rag/{name}" in listed) == allowed, name
