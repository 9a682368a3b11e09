"""The console over real HTTP against a running server with real PostgreSQL: sessions, role and
tenant scoping, numbers that match the ledger (read through the JSON API), the audit explorer and
chain verification, including after a tampered row."""

from __future__ import annotations

import re

import httpx
import psycopg
import pytest

from tests.conftest import ADMIN_KEY
from tests.console.support import csrf, login, tenants_with_traffic


@pytest.fixture(scope="module")
def keys(gateway: str) -> dict[str, str]:
    return tenants_with_traffic(gateway)


def _usage(base: str, key: str, **params: str) -> dict:
    r = httpx.get(f"{base}/v1/usage", headers={"authorization": f"Bearer {key}"}, params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _tile(page: str, name: str) -> str:
    m = re.search(rf'id="{name}">([^<]+)<', page)
    assert m, f"no {name} on the page"
    return m.group(1).strip()


def test_no_session_redirects_to_login(gateway: str) -> None:
    r = httpx.get(f"{gateway}/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    r = httpx.get(f"{gateway}/console/audit", follow_redirects=False, cookies={"gureum_console": "forged"})
    assert r.status_code == 303


def test_login_cookie_is_httponly_strict_and_bad_key_refused(gateway: str, keys: dict[str, str]) -> None:
    r = httpx.post(f"{gateway}/console/login", data={"api_key": keys["acme_member"]}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and keys["acme_member"].lower() not in cookie
    r = httpx.post(f"{gateway}/console/login", data={"api_key": "sk-wrong"}, follow_redirects=False)
    assert r.status_code == 401 and 'id="login-error"' in r.text
    r = httpx.post(f"{gateway}/console/login", data={"api_key": keys["acme_member"]},
                   headers={"origin": "http://evil.example"}, follow_redirects=False)
    assert r.status_code == 403


def test_member_sees_own_tenant_numbers_matching_the_ledger(gateway: str, keys: dict[str, str]) -> None:
    client = login(gateway, keys["acme_member"])
    page = client.get("/console", params={"range": "24h", "group": "model"}).text
    api = _usage(gateway, keys["acme_member"])["totals"]
    assert int(_tile(page, "total-requests")) == api["requests"] == 3
    assert float(_tile(page, "total-cost")) == pytest.approx(api["cost"], abs=1e-6)
    assert api["cost"] > 0
    beta = _usage(gateway, keys["beta_member"])["totals"]
    assert beta["requests"] == 5  # the other tenant's traffic exists, and is not on acme's page
    assert 'id="series"' in page and 'id="nav-audit"' not in page
    # Asking for another tenant is refused, as the JSON API refuses it.
    r = client.get("/console", params={"tenant": "beta"})
    assert r.status_code == 403 and "own tenant" in r.text
    assert client.get("/console/budgets", params={"tenant": "beta"}).status_code == 403


def test_platform_auditor_sees_every_tenant_and_can_pick_one(gateway: str, keys: dict[str, str]) -> None:
    client = login(gateway, keys["root_auditor"])
    everything = _usage(gateway, ADMIN_KEY)["totals"]["requests"]
    assert int(_tile(client.get("/console", params={"range": "24h"}).text, "total-requests")) == everything
    page = client.get("/console", params={"range": "24h", "group": "tenant", "tenant": "beta"}).text
    assert int(_tile(page, "total-requests")) == 5
    assert 'data-key="acme"' not in page and 'data-key="beta"' in page


def test_member_cannot_open_the_audit_explorer(gateway: str, keys: dict[str, str]) -> None:
    client = login(gateway, keys["acme_member"])
    assert client.get("/console/audit").status_code == 403
    assert client.get("/console/audit/rows").status_code == 403
    assert client.get("/console/audit/events/1").status_code == 403


def test_tenant_auditor_sees_only_its_tenants_events(gateway: str, keys: dict[str, str]) -> None:
    client = login(gateway, keys["acme_auditor"])
    page = client.get("/console/audit", params={"action": "api.*"}).text
    assert 'id="nav-overview"' in page and 'id="verify-chain"' not in page
    tenants = set(re.findall(r"<td>(acme|beta|root)</td>", page))
    assert tenants == {"acme"}
    # An htmx filter swap: the table alone.
    rows = client.get("/console/audit/rows", params={"outcome": "allow", "action": "api.chat"},
                      headers={"hx-request": "true"}).text
    assert "<html" not in rows and rows.count('class="allow"') == 3
    # Verifying the global chain is a platform auditor's action.
    r = client.post("/console/audit/verify", data={"csrf": csrf(page)})
    assert r.status_code == 403


def test_event_detail_and_filters(gateway: str, keys: dict[str, str]) -> None:
    client = login(gateway, keys["root_auditor"])
    page = client.get("/console/audit", params={"actor": "lee", "action": "api.chat"}).text
    seqs = [int(s) for s in re.findall(r'data-seq="(\d+)"', page)]
    assert len(seqs) == 5
    detail = client.get(f"/console/audit/events/{seqs[0]}").text
    assert "api.chat" in detail and "beta" in detail and 'id="event-detail"' in detail
    denied = client.get("/console/audit/rows", params={"outcome": "deny", "action": "admin.*"}).text
    assert 'class="allow"' not in denied


def test_verify_needs_csrf_and_names_the_tampered_event(gateway: str, keys: dict[str, str], database_url: str) -> None:
    client = login(gateway, keys["root_auditor"])
    page = client.get("/console/audit").text
    assert client.post("/console/audit/verify", data={"csrf": "0" * 64}).status_code == 403
    ok = client.post("/console/audit/verify", data={"csrf": csrf(page)}, headers={"hx-request": "true"}).text
    assert "✔" in ok and "<html" not in ok
    seqs = [int(s) for s in re.findall(r'data-seq="(\d+)"',
                                       client.get("/console/audit", params={"action": "api.chat"}).text)]
    victim = seqs[1]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_append_only")
        conn.execute("UPDATE audit_events SET cost = cost + 1 WHERE seq = %s", (victim,))
        conn.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_append_only")
    bad = client.post("/console/audit/verify", data={"csrf": csrf(page)}).text
    assert f'id="bad-seq">#{victim}<' in bad and "altered" in bad


def test_korean_when_the_browser_asks_and_switchable(gateway: str, keys: dict[str, str]) -> None:
    assert "로그인" in httpx.get(f"{gateway}/console/login", headers={"accept-language": "ko-KR,ko;q=0.9,en;q=0.8"}).text
    assert "Log in" in httpx.get(f"{gateway}/console/login", headers={"accept-language": "en-US,en;q=0.9,ko;q=0.5"}).text
    client = login(gateway, keys["acme_member"], **{"accept-language": "en"})
    client.get("/console/lang/ko", headers={"referer": f"{gateway}/console/budgets"})
    assert "예산" in client.get("/console/budgets").text


def test_logout_ends_the_session(gateway: str, keys: dict[str, str]) -> None:
    client = login(gateway, keys["acme_member"])
    page = client.get("/console").text
    assert client.post("/console/logout", data={"csrf": csrf(page)}, follow_redirects=False).status_code == 303
    client.cookies.clear()
    client2 = login(gateway, keys["acme_member"])
    token = client2.cookies.get("gureum_console")
    client2.post("/console/logout", data={"csrf": csrf(client2.get("/console").text)})
    r = httpx.get(f"{gateway}/console", cookies={"gureum_console": token or ""}, follow_redirects=False)
    assert r.status_code == 303


def test_assets_are_served_by_gureum_itself(gateway: str, keys: dict[str, str]) -> None:
    page = login(gateway, keys["acme_member"]).get("/console")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert srcs and all(s.startswith("/") for s in srcs)
    for asset in ("htmx.min.js", "chart.umd.min.js", "console.js", "console.css"):
        assert httpx.get(f"{gateway}/console/static/{asset}").status_code == 200


def test_routing_page_explains_auto_decisions_of_own_tenant(gateway: str, keys: dict[str, str]) -> None:
    for key in (keys["acme_member"], keys["beta_member"]):
        r = httpx.post(f"{gateway}/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, timeout=30,
                       json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
    page = login(gateway, keys["acme_member"]).get("/console/routing").text
    assert page.count('class="card decision"') == 1
    assert 'class="winner">gpt-test@fake<' in page and "cheapest of 1" in page and 'class="why"' in page
    assert "beta" not in page.split("<main>", 1)[1]
    everything = login(gateway, keys["root_auditor"]).get("/console/routing").text
    assert everything.count('class="card decision"') == 2
