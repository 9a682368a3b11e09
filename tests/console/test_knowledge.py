"""The knowledge page and the admin playground over real HTTP: documents listed through the ACL
scope of the viewer, and answers asked as a chosen user through the governed answer path (the
embedded e5 embedder, a fake OpenAI-wire chat upstream)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.console.conftest import browser_login, needs_chromium, shot
from tests.console.support import csrf, login
from tests.knowledge.conftest import Api, kn_gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app


@pytest.fixture(scope="module")
def env(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app

    settings = kn_gateway_settings(database_url, upstream[1], tmp_path_factory.mktemp("console-kn"))
    with serve_app(create_app(settings)) as base:
        api = Api(base)
        admin = api.key(ADMIN_KEY, "kn", "admin", user="boss")
        member = api.key(ADMIN_KEY, "kn", "member", user="lee")
        auditor = api.key(ADMIN_KEY, "kn", "auditor", user="park")
        r = api.call("POST", "/v1/collections", admin, {"name": "handbook", "description": "사내 규정"})
        assert r.status_code == 201, r.text  # type: ignore[attr-defined]
        r = api.call("POST", "/v1/collections/handbook/documents", admin, {"documents": [
            {"uri": "vpn.md", "text": "# VPN\n\n외부에서 사내망에 접속할 때는 항상 VPN을 사용합니다."},
            {"uri": "salary.md", "text": "# 급여\n\n급여 지급일은 매월 25일입니다.", "acl": {"users": ["kim"]}},
        ]})
        assert r.status_code == 200, r.text  # type: ignore[attr-defined]
        yield {"base": base, "admin": admin, "member": member, "auditor": auditor}


def _uris(page: str, table: str) -> set[str]:
    body = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return set(re.findall(r"<td>(\w+\.md)</td>", body))


def test_member_sees_only_documents_its_acl_allows(env: dict[str, Any]) -> None:
    page = login(env["base"], env["member"]).get("/console/knowledge").text
    assert 'data-collection="handbook"' in page
    assert _uris(page, "documents") == {"vpn.md"}
    assert 'id="playground"' not in page  # the playground is an admin's
    admin_page = login(env["base"], env["admin"]).get("/console/knowledge").text
    assert _uris(admin_page, "documents") == {"vpn.md"}  # an admin's key carries its own ACL too
    assert 'id="playground"' in admin_page


def test_auditor_and_member_cannot_use_the_playground(env: dict[str, Any]) -> None:
    auditor = login(env["base"], env["auditor"])
    assert auditor.get("/console/knowledge").status_code == 403
    member = login(env["base"], env["member"])
    token = csrf(member.get("/console").text)
    r = member.post("/console/knowledge/ask", data={"csrf": token, "collection": "handbook", "query": "급여일?"})
    assert r.status_code == 403


def test_playground_answers_as_the_chosen_user(env: dict[str, Any]) -> None:
    admin = login(env["base"], env["admin"])
    token = csrf(admin.get("/console/knowledge").text)
    ask = {"csrf": token, "collection": "handbook", "query": "급여 지급일은 언제인가요?"}
    as_kim = admin.post("/console/knowledge/ask", data={**ask, "user": "kim"}, headers={"hx-request": "true"}).text
    as_lee = admin.post("/console/knowledge/ask", data={**ask, "user": "lee"}, headers={"hx-request": "true"}).text
    assert 'id="answer-text"' in as_kim and "<html" not in as_kim
    assert 'data-uri="salary.md"' in as_kim
    assert 'data-uri="salary.md"' not in as_lee
    # The call went through the governed path: it is in the ledger and the audit, as the admin's key.
    r = Api(env["base"]).http.get("/v1/audit/events", params={"action": "console.*"},
                                  headers={"authorization": f"Bearer {env['admin']}"})
    actions = [e["action"] for e in r.json()["data"]]
    assert "console.answer" in actions and "console.playground" in actions


@needs_chromium
def test_playground_in_the_browser(env: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser_login(browser, env["base"], env["admin"])
    browser.get(f"{env['base']}/console/knowledge")
    shot(browser, "knowledge")
    browser.find_element(By.ID, "as-user").send_keys("kim")
    browser.find_element(By.ID, "question").send_keys("급여 지급일은 언제인가요?")
    browser.find_element(By.ID, "ask").click()
    cites = WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.ID, "citations")))
    assert "salary.md" in {li.get_attribute("data-uri") for li in cites.find_elements(By.TAG_NAME, "li")}
    shot(browser, "playground")
