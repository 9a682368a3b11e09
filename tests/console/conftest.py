"""The console's server (the shared gateway with an `auto` virtual model) and a headless chromium
(Debian's, through Selenium) for the console's end-to-end tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                    reason="chromium and chromedriver are not installed (scripts/test.sh installs them)")


@pytest.fixture(scope="module")
def gateway(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[str]:
    """The shared gateway, plus an `auto` virtual model for the routing page."""
    from gureum.app import create_app

    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("console"),
                                virtual_models={"auto": {"candidates": ["gpt-test"], "strategy": "cost"}})
    with serve_app(create_app(settings)) as base:
        yield base


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1360,1000",
                "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def browser_login(driver: Any, base: str, key: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/console/login")
    driver.find_element(By.ID, "api_key").send_keys(key)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.ID, "who")))


def shot(driver: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(SHOTS / f"{name}.png"))
