"""Model allow-lists per tenant and group (Authorize check + Route filter), layered tenant
policies, and roles: every refusal is a 403 that names the rule, and is audited as a deny."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from gureum.governance.policy import Policy
from gureum.governance.settings import GovernanceSettings
from tests.conftest import ADMIN_KEY, gateway_settings
from tests.governance.helpers import chat, make_key
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

# --- resolution -----------------------------------------------------------------------------------


def test_layers_and_pii_precedence() -> None:
    gov = GovernanceSettings.model_validate({
        "pii": {"default": {"*": "mask", "KR_RRN": "block"}, "by_region": {"local": {"*": "allow"}}},
        "defaults": {"rpm": 100, "allowed_models": ["fast"], "pii": {"default": {"EMAIL": "redact"}}},
        "tenants": {"acme": {"rpm": 5, "pii": {"by_region": {"local": {"KR_RRN": "block"}}}, "audit_masked_text": True}},
    })
    policy = Policy(gov)
    acme, other = policy.for_tenant("acme"), policy.for_tenant("other")
    assert (acme.rpm, other.rpm) == (5, 100)
    assert acme.allowed_models == ("fast",) and acme.audit_masked_text and not other.audit_masked_text
    # region's type > region's * > default's type > default's * > mask
    assert acme.pii_action("KR_RRN", "local") == "block"
    assert other.pii_action("KR_RRN", "local") == "allow"
    assert acme.pii_action("EMAIL", "us") == "redact"
    assert acme.pii_action("KR_PHONE", "us") == "mask"
    assert acme.strictest("KR_PHONE", {"us", "local"}) == "mask"
    assert acme.strictest("KR_RRN", {"us", "local"}) == "block"
    assert other.possible_actions({"local"}) == {"allow"}
    assert other.possible_actions({"us"}) == {"mask", "block", "redact"}


def test_unlisted_type_without_wildcard_is_masked() -> None:
    policy = Policy(GovernanceSettings.model_validate({"pii": {"default": {"EMAIL": "allow"}}}))
    rules = policy.for_tenant("t")
    assert rules.pii_action("KR_PHONE", "us") == "mask"
    assert rules.pii_action("EMAIL", "us") == "allow"


# --- through the gateway ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def second() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI(reply="Hello from the second upstream.", name="fake2")
    with serve_app(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="module")
def gw(database_url: str, upstream: tuple[FakeOpenAI, str], second: tuple[FakeOpenAI, str],
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from gureum.app import create_app

    t = uuid.uuid4().hex[:6]
    deployments = [
        {"name": "gpt-test", "provider": "fake", "model": "fake-model", "region": "us"},
        {"name": "gpt-mini", "provider": "fake2", "model": "mini-model", "region": "us"},
    ]
    gov = {
        "tenants": {
            f"pa{t}": {"allowed_models": ["gpt-mini", "auto"], "group_models": {"ml": ["gpt-t*"]}},
            f"pb{t}": {"allowed_models": ["gpt-test"]},
        },
    }
    settings = gateway_settings(
        database_url, {"fake": upstream[1], "fake2": second[1]}, tmp_path_factory.mktemp("pol"),
        deployments=deployments, governance=gov,
        virtual_models={"auto": {"candidates": ["gpt-mini", "gpt-test"]}},
        routing={"retries": 0, "fallbacks": {"gpt-test": ["gpt-mini"]}},
    )
    with serve_app(create_app(settings)) as base:
        yield base, t


def _last_deny(database_url: str, tenant: str) -> tuple[str, int, str]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT decision, status, detail->>'reason' FROM audit_events WHERE tenant_id = %s ORDER BY seq DESC "
            "LIMIT 1", (tenant,)
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def test_allow_list_blocks_and_names_the_rule(gw: tuple[str, str], database_url: str) -> None:
    base, t = gw
    key = make_key(base, f"pa{t}")
    r = chat(base, key, model="gpt-test")
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "policy_blocked" and err["param"] == "model"
    assert "allow-list" in err["message"] and f"pa{t}" in err["message"]
    decision, status, reason = _last_deny(database_url, f"pa{t}")
    assert (decision, status) == ("deny", 403) and "allow-list" in reason
    assert chat(base, key, model="gpt-mini").status_code == 200


def test_group_models_add_to_the_tenant_list(gw: tuple[str, str]) -> None:
    base, t = gw
    ml = make_key(base, f"pa{t}", user="ana", groups=["ml"])
    r = chat(base, ml, model="gpt-test")
    assert r.status_code == 200 and r.headers["x-gureum-deployment"] == "gpt-test@fake"


def test_allowed_virtual_model_allows_its_candidates(gw: tuple[str, str], upstream: tuple[FakeOpenAI, str],
                                                    second: tuple[FakeOpenAI, str]) -> None:
    base, t = gw
    key = make_key(base, f"pa{t}")
    # auto = [gpt-mini, gpt-test]; the tenant lists only gpt-mini and auto, yet auto may fall back to gpt-test
    second[0].script("error:500")
    r = chat(base, key, model="auto")
    assert r.status_code == 200 and r.headers["x-gureum-deployment"] == "gpt-test@fake"


def test_fallbacks_outside_the_allow_list_are_dropped(gw: tuple[str, str], upstream: tuple[FakeOpenAI, str],
                                                     second: tuple[FakeOpenAI, str]) -> None:
    base, t = gw
    key = make_key(base, f"pb{t}")
    before = len(second[0].requests)
    upstream[0].script("error:500")
    r = chat(base, key, model="gpt-test")
    assert r.status_code == 502  # gpt-test failed; its fallback gpt-mini is not allowed for this tenant
    assert len(second[0].requests) == before
    # while for a tenant without a list the fallback answers
    upstream[0].script("error:500")
    r = chat(base, ADMIN_KEY, model="gpt-test")
    assert r.status_code == 200 and r.headers["x-gureum-deployment"] == "gpt-mini@fake2"


def test_auditor_cannot_call_models(gw: tuple[str, str], database_url: str) -> None:
    base, t = gw
    auditor = make_key(base, f"pa{t}", role="auditor")
    r = chat(base, auditor, model="gpt-mini")
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    decision, status, _ = _last_deny(database_url, f"pa{t}")
    assert (decision, status) == ("deny", 403)
