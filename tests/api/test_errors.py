"""Bad input gets OpenAI-shaped errors with the right status — never a 500 with a traceback."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import ADMIN_KEY


@pytest.fixture(scope="module")
def http(gateway: str) -> httpx.Client:
    return httpx.Client(base_url=gateway, headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)


def _assert_openai_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"] and "Traceback" not in err["message"]
    if code:
        assert err["code"] == code
    return err


def test_malformed_json(http: httpx.Client) -> None:
    r = http.post("/v1/chat/completions", content=b'{"model": "gpt-test", "messages": [', headers={"content-type": "application/json"})
    _assert_openai_error(r, 400)


def test_non_object_body(http: httpx.Client) -> None:
    _assert_openai_error(http.post("/v1/chat/completions", json=[1, 2]), 400)


def test_wrong_types(http: httpx.Client) -> None:
    err = _assert_openai_error(http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": "hi"}), 422)
    assert err["param"] == "messages"
    err = _assert_openai_error(
        http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": [{"role": "user", "content": "x"}], "temperature": 9}),
        422,
    )
    assert err["param"] == "temperature"


def test_unsupported_parameter_value(http: httpx.Client) -> None:
    r = http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": [{"role": "user", "content": "x"}], "n": 3})
    _assert_openai_error(r, 422)


def test_unknown_model(http: httpx.Client) -> None:
    err = _assert_openai_error(
        http.post("/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "x"}]}),
        404, "model_not_found",
    )
    assert "nope" in err["message"]


def test_embedding_model_is_not_a_chat_model(http: httpx.Client) -> None:
    r = http.post("/v1/embeddings", json={"model": "gpt-test", "input": "x"})
    _assert_openai_error(r, 404, "model_not_found")


def test_oversized_body(gateway: str) -> None:
    big = b"x" * (9 * 1024 * 1024)
    r = httpx.post(f"{gateway}/v1/chat/completions", content=big,
                   headers={"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"}, timeout=30)
    _assert_openai_error(r, 413)


def test_missing_and_wrong_key(gateway: str) -> None:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]}
    _assert_openai_error(httpx.post(f"{gateway}/v1/chat/completions", json=body), 401, "missing_api_key")
    _assert_openai_error(
        httpx.post(f"{gateway}/v1/chat/completions", json=body, headers={"authorization": "Bearer gk-wrong"}),
        401, "invalid_api_key",
    )


def test_unknown_route_and_method(http: httpx.Client) -> None:
    _assert_openai_error(http.get("/v1/nothing-here"), 404)
    _assert_openai_error(http.get("/v1/chat/completions"), 405)


def test_sdk_raises_typed_errors(gateway: str) -> None:
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key="gk-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=ADMIN_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="missing", messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/v1/memories?user=%00"), ("GET", "/v1/memories?agent=a%00b"), ("GET", "/v1/agents/a%00b"),
    ("GET", "/v1/jobs?state=%00"),
])
def test_nul_in_the_url_is_a_400_not_a_store_error(http: httpx.Client, method: str, path: str) -> None:
    err = _assert_openai_error(http.request(method, path), 400, "invalid_value")
    assert "NUL" in err["message"]


def test_nul_in_a_stored_json_field_is_a_400(http: httpx.Client) -> None:
    r = http.post("/v1/admin/keys", json={"name": "a\u0000b", "role": "member"})
    err = _assert_openai_error(r, 400, "invalid_value")
    assert "NUL" in err["message"]
