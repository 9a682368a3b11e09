"""Data residency: tagged data only goes to regions its rules allow. Tags come from the tenant,
from the flow (RAG fills ctx.data_tags) and from the `x-gureum-data-tags` header, which can only
add. The router never sees a deployment outside the allowed regions; with none left, a 403 names
the rule and the audit records it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from gureum.errors import PolicyBlocked
from gureum.governance.policy import Policy
from gureum.governance.settings import GovernanceSettings
from tests.conftest import gateway_settings
from tests.governance.helpers import chat, make_key
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app


@pytest.fixture(scope="module")
def kr_upstream() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI(reply="안녕하세요, 서울 리전입니다.", name="kr")
    with serve_app(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="module")
def gw(database_url: str, upstream: tuple[FakeOpenAI, str], kr_upstream: tuple[FakeOpenAI, str],
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from gureum.app import create_app

    t = uuid.uuid4().hex[:6]
    deployments = [
        {"name": "gpt-test", "provider": "us", "model": "m-us", "region": "us", "id": "gpt-test@us"},
        {"name": "gpt-test", "provider": "kr", "model": "m-kr", "region": "kr", "id": "gpt-test@kr"},
        {"name": "smart", "provider": "us", "model": "smart-us", "region": "us"},
    ]
    gov = {"tenants": {f"kr{t}": {"residency": ["kr-only"]}}}
    settings = gateway_settings(database_url, {"us": upstream[1], "kr": kr_upstream[1]},
                                tmp_path_factory.mktemp("res"), deployments=deployments, governance=gov)
    with serve_app(create_app(settings)) as base:
        yield base, t


def test_kr_only_tenant_is_routed_to_kr(gw: tuple[str, str], upstream: tuple[FakeOpenAI, str],
                                        database_url: str) -> None:
    base, t = gw
    key = make_key(base, f"kr{t}")
    us_before = len(upstream[0].requests)
    for _ in range(6):  # load balancing would otherwise pick us about half the time
        r = chat(base, key)
        assert r.status_code == 200 and r.headers["x-gureum-deployment"] == "gpt-test@kr"
    assert len(upstream[0].requests) == us_before
    with psycopg.connect(database_url) as conn:
        tags, region = conn.execute(
            "SELECT detail->'data_tags', detail->>'region' FROM audit_events WHERE tenant_id = %s ORDER BY seq DESC "
            "LIMIT 1", (f"kr{t}",)
        ).fetchone()
    assert tags == ["kr-only"] and region == "kr"


def test_no_allowed_region_is_a_403_naming_the_rule(gw: tuple[str, str], database_url: str) -> None:
    base, t = gw
    key = make_key(base, f"kr{t}")
    r = chat(base, key, model="smart")
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "residency_blocked"
    assert "'kr-only' allows kr, local" in err["message"] and "smart@us in us" in err["message"]
    with psycopg.connect(database_url) as conn:
        decision, reason = conn.execute(
            "SELECT decision, detail->>'reason' FROM audit_events WHERE tenant_id = %s ORDER BY seq DESC LIMIT 1",
            (f"kr{t}",),
        ).fetchone()
    assert decision == "deny" and "kr-only" in reason


def test_header_adds_tags_and_cannot_remove(gw: tuple[str, str]) -> None:
    base, t = gw
    free = make_key(base, f"free{t}")
    assert chat(base, free, headers={"x-gureum-data-tags": "kr-only"}).headers["x-gureum-deployment"] == "gpt-test@kr"
    r = chat(base, free, headers={"x-gureum-data-tags": "eu-only"})
    assert r.status_code == 403 and "'eu-only' allows eu, local" in r.json()["error"]["message"]
    # a tag without a rule is a label: it does not restrict routing
    assert chat(base, free, model="smart", headers={"x-gureum-data-tags": "confidential"}).status_code == 200
    # the kr-only tenant cannot lift its tag with the header: an empty header changes nothing, and
    # another tag only narrows further (kr-only ∩ eu-only = local, which has no deployment)
    kr = make_key(base, f"kr{t}")
    assert chat(base, kr, model="smart", headers={"x-gureum-data-tags": ""}).status_code == 403
    r = chat(base, kr, headers={"x-gureum-data-tags": "eu-only"})
    assert r.status_code == 403 and "kr-only" in r.json()["error"]["message"]


def test_tags_set_by_the_flow_are_enforced() -> None:
    """RAG puts a collection's tags on the call; the filter honours them without any header."""
    from gureum.config import DeploymentSettings
    from gureum.routing.breaker import CircuitBreaker
    from gureum.routing.catalog import Deployment, Plan

    def dep(region: str) -> Deployment:
        ds = DeploymentSettings(name="m", provider="p", model="x", region=region, id=f"m@{region}")
        return Deployment(ds, provider=None, breaker=CircuitBreaker(5, 30))  # type: ignore[arg-type]

    policy = Policy(GovernanceSettings())
    plan = Plan("m", [[dep("us"), dep("kr")], [dep("local")]])
    route: dict[str, Any] = {}
    assert [d.region for d in policy.keep_regions(plan, set(), route).deployments()] == ["us", "kr", "local"]
    assert [d.region for d in policy.keep_regions(plan, {"kr-only"}, route).deployments()] == ["kr", "local"]
    assert route["policy"]["residency"]["removed"] == ["m@us (us)"]
    assert [d.region for d in policy.keep_regions(plan, {"kr-only", "eu-only"}, route).deployments()] == ["local"]
    with pytest.raises(PolicyBlocked, match="residency"):
        policy.keep_regions(Plan("m", [[dep("us")]]), {"kr-only"}, route)
