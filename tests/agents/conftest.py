"""Agent fixtures: a scripted model upstream speaking OpenAI's real chat wire format (each chat
call answers with the next queued reply, and every request is recorded), the embedded e5
embedder for knowledge search, real PostgreSQL and Redis, and two gureum replicas (real HTTP) on
the same store, so a session begun on one continues on the other."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.agents import tools as _tools  # noqa: F401  (registers the test tools)
from tests.knowledge.conftest import kn_gateway_settings
from tests.support.keys import make_key
from tests.support.servers import serve_app
from tests.support.wire.base import Call, Reply, Tokens, Wire
from tests.support.wire.openai import OpenAIWire

WIRE = OpenAIWire()
STEP = Tokens(40, 10)  # what each scripted step reports
T = uuid.uuid4().hex[:6]
TENANT = f"ag{T}"


class ScriptedModel:
    """A chat upstream that plays a script of replies in one provider's wire format (OpenAI's
    chat.completions by default; Anthropic's Messages API is served at /v1/messages)."""

    def __init__(self, wire: Wire = WIRE) -> None:
        self.wire = wire
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"]),
                                     Route("/v1/messages", self.chat, methods=["POST"])])

    def calls(self, *calls: Call, tokens: Tokens = STEP) -> None:
        self.replies.append(self.wire.tool_calls(list(calls), tokens))

    def say(self, text: str, tokens: Tokens = STEP) -> None:
        self.replies.append(self.wire.text(text, tokens))

    async def chat(self, request: Request) -> Response:
        self.requests.append(orjson.loads(await request.body()))
        if not self.replies:
            return JSONResponse({"error": {"message": "unscripted call", "type": "server_error"}}, status_code=500)
        r = self.replies.popleft()
        return Response(r.body, status_code=r.status, headers=r.headers)


AGENT = {
    "name": "helper", "tenant": TENANT, "model": "gpt-test", "instructions": "You help with errands.",
    "tools": [{"name": "weather"}, {"name": "pay"}, {"name": "admin_report", "roles": ["admin"]},
              {"name": "slow"}, {"name": "broken"}, {"name": "fetch_page", "groups": ["web"]},
              {"name": "knowledge_search"}],
    "collections": ["handbook"],
    "limits": {"max_steps": 4, "tool_timeout": 0.5, "max_repeats": 2},
}


@dataclass
class Env:
    model: ScriptedModel
    base: str
    other: str  # a second replica on the same store
    admin: str  # tenant admin key
    kim: str  # member, user kim, group web
    lee: str  # member, user lee

    def call(self, method: str, path: str, key: str, body: Any = None, base: str | None = None) -> httpx.Response:
        return httpx.request(method, f"{base or self.base}{path}", json=body, timeout=60,
                             headers={"authorization": f"Bearer {key}"})

    def session(self, key: str, agent: str = "helper") -> str:
        r = self.call("POST", f"/v1/agents/{agent}/sessions", key, {"title": "t"})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def say(self, key: str, sid: str, text: str, agent: str = "helper", base: str | None = None) -> httpx.Response:
        return self.call("POST", f"/v1/agents/{agent}/sessions/{sid}/messages", key, {"content": text}, base)


def make_settings(database_url: str, model_url: str, tmp: Path, redis_url: str, **extra: Any) -> Any:
    return kn_gateway_settings(database_url, model_url, tmp, agents=[AGENT], redis_url=redis_url,
                               governance={"redis_prefix": f"ag{T}"}, **extra)


@pytest.fixture(scope="module")
def env(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from gureum.app import create_app

    model = ScriptedModel()
    with serve_app(model.app) as model_url:
        settings = make_settings(database_url, model_url, tmp_path_factory.mktemp("ag"), redis_url)
        with serve_app(create_app(settings)) as base, serve_app(create_app(settings)) as other:
            admin = make_key(base, TENANT, "admin", user="boss")
            from tests.conftest import ADMIN_KEY

            def member(user: str, groups: list[str]) -> str:
                r = httpx.post(f"{base}/v1/admin/keys", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=60,
                               json={"tenant_id": TENANT, "role": "member", "user_id": user, "groups": groups})
                assert r.status_code == 201, r.text
                return str(r.json()["key"])

            yield Env(model, base, other, admin, member("kim", ["web"]), member("lee", []))
