"""The console end to end in Debian's headless chromium (Selenium) against a running server with
real data: each role logs in and sees only its pages; the charts are drawn from numbers that
match the ledger; the audit filter swaps the table through htmx; the chain is verified. Each page
is saved as a screenshot under docs/screenshots/."""

from __future__ import annotations

import httpx
import pytest

from tests.console.support import tenants_with_traffic

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.console.conftest import browser_login as _login  # noqa: E402
from tests.console.conftest import needs_chromium, shot  # noqa: E402

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def keys(gateway: str) -> dict[str, str]:
    return tenants_with_traffic(gateway)


def _only_own_requests(driver: webdriver.Chrome, base: str) -> None:
    names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert names and all(n.startswith(base) for n in names), names


def _nav(driver: webdriver.Chrome) -> set[str]:
    return {a.get_attribute("id") for a in driver.find_elements(By.CSS_SELECTOR, "header nav a")}


def test_member_sees_charts_of_own_tenant(browser: webdriver.Chrome, gateway: str, keys: dict[str, str]) -> None:
    _login(browser, gateway, keys["acme_member"])
    browser.get(f"{gateway}/console?range=24h&group=model")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-charts") == "drawn")
    api = httpx.get(f"{gateway}/v1/usage", headers={"authorization": f"Bearer {keys['acme_member']}"}).json()["totals"]
    assert int(browser.find_element(By.ID, "total-requests").text) == api["requests"] == 3
    # The chart's data are the page's numbers: the bars add up to the tile.
    bars = browser.execute_script("return Chart.getChart('chart-requests').data.datasets[0].data")
    assert sum(bars) == api["requests"]
    assert _nav(browser) == {"nav-overview", "nav-budgets", "nav-routing", "nav-knowledge"}
    _only_own_requests(browser, gateway)
    shot(browser, "overview-member")
    browser.get(f"{gateway}/console/budgets")
    assert browser.find_element(By.CSS_SELECTOR, "section[data-tenant]").get_attribute("data-tenant") == "acme"
    shot(browser, "budgets-member")
    browser.get(f"{gateway}/console/audit")
    assert "role" in browser.find_element(By.ID, "error").text
    r = httpx.post(f"{gateway}/v1/chat/completions", headers={"authorization": f"Bearer {keys['acme_member']}"},
                   json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
    assert r.status_code == 200, r.text
    browser.get(f"{gateway}/console/routing")
    assert "gpt-test" in browser.find_element(By.CSS_SELECTOR, ".decision .winner").text
    shot(browser, "routing")


def test_platform_auditor_filters_and_verifies(browser: webdriver.Chrome, gateway: str, keys: dict[str, str]) -> None:
    _login(browser, gateway, keys["root_auditor"])
    browser.get(f"{gateway}/console?range=24h&group=tenant")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-charts") == "drawn")
    rows = {r.get_attribute("data-key") for r in browser.find_elements(By.CSS_SELECTOR, "#breakdown tbody tr")}
    assert {"acme", "beta"} <= rows
    shot(browser, "overview-platform")
    assert _nav(browser) == {"nav-overview", "nav-budgets", "nav-routing", "nav-audit"}
    browser.get(f"{gateway}/console/audit")
    field = browser.find_element(By.CSS_SELECTOR, "#audit-filters input[name=actor]")
    field.send_keys("lee")
    browser.find_element(By.CSS_SELECTOR, "#audit-filters input[name=action]").send_keys("api.chat")
    browser.find_element(By.ID, "audit-filter").click()
    WebDriverWait(browser, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")) == 5)
    assert "actor=lee" in browser.current_url  # hx-push-url: the filtered view can be bookmarked
    shot(browser, "audit-filtered")
    browser.find_element(By.ID, "verify-chain").click()
    result = WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "verify-result")))
    assert "Chain intact" in result.text
    _only_own_requests(browser, gateway)
    shot(browser, "audit-verified")
    browser.find_element(By.CSS_SELECTOR, "#audit-table tbody tr a").click()
    assert "api.chat" in browser.find_element(By.ID, "event").text
    shot(browser, "audit-event")


def test_korean_ui(browser: webdriver.Chrome, gateway: str, keys: dict[str, str]) -> None:
    _login(browser, gateway, keys["acme_auditor"])
    browser.find_element(By.ID, "lang-switch").click()
    WebDriverWait(browser, 10).until(lambda d: "개요" in d.find_element(By.ID, "nav-overview").text)
    browser.get(f"{gateway}/console/audit")
    assert browser.find_element(By.ID, "nav-audit").text == "감사"
    assert not browser.find_elements(By.ID, "verify-chain")  # a tenant auditor does not verify the global chain
    shot(browser, "audit-korean")
