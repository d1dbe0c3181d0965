"""A real console on 127.0.0.1 (uvicorn, a random free port) and Debian's chromium,
headless, driven through chromedriver. Never a browser downloaded by a tool.

Without chromium the browser tests skip and say why; under CI (CI=true) they fail.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("selenium", reason="selenium (the dev extra) is not installed")

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from confguard.serve import Console, ConsoleSettings, create_app
from confguard.serve.background import running
from confguard.serve.demo import seed_demo
from confguard.serve.security import hash_password
from confguard.store import SQLStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "correct horse battery"
WAIT = 10.0
"""The longest any browser step waits, in seconds."""


def need_browser() -> None:
    """Skip without Debian's chromium and chromedriver, or fail under CI."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if not missing:
        return
    reason = (
        f"no {' or '.join(missing)}: install Debian's chromium and chromium-driver "
        "(`bash .ci/browser.sh`)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"under CI the browser tests must run: {reason}")
    pytest.skip(reason)


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A console over a fresh SQLite store with the demo cases and three accounts."""
    url = f"sqlite:///{tmp_path_factory.mktemp('console')}/audit.sqlite"
    console = Console(SQLStore(url, store_answers=True), ConsoleSettings(store_url=url))
    for name, role in (("ada", "admin"), ("bo", "reviewer"), ("cy", "reviewer")):
        console.accounts.add(name, password_hash(), role)  # type: ignore[arg-type]
    seed_demo(console.store)
    yield console
    console.store.close()


@pytest.fixture(scope="module")
def base_url(console: Console) -> Iterator[str]:
    """The console, served by uvicorn on a random free port of 127.0.0.1."""
    need_browser()
    with running(create_app(console)) as url:
        yield url


def new_driver() -> WebDriver:
    """Headless system chromium with bounded waits."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT * 2)
    driver.set_script_timeout(WAIT)
    return driver


@pytest.fixture(scope="module")
def drivers() -> Iterator[Callable[[], WebDriver]]:
    """Make browsers (each a separate session); all are quit at the end."""
    need_browser()
    made: list[WebDriver] = []

    def make() -> WebDriver:
        made.append(new_driver())
        return made[-1]

    yield make
    for driver in made:
        driver.quit()


@pytest.fixture(scope="module")
def browser(drivers: Callable[[], WebDriver]) -> WebDriver:
    """One browser for the module."""
    return drivers()


def wait_for(driver: WebDriver, css: str) -> None:
    """Wait (at most WAIT s) until an element matching `css` is on the page."""
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, css), message=f"no {css}"
    )


def click_and_load(driver: WebDriver, element_id: str, css: str) -> None:
    """Click `element_id`, wait (at most WAIT s) until its page is replaced, then
    for `css` on the new one: the old page may match `css` too, and its elements go
    stale under a reader that looked too early."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()
    WebDriverWait(driver, WAIT).until(
        expected_conditions.staleness_of(page), message=f"{element_id} loaded nothing"
    )
    wait_for(driver, css)


def log_in(driver: WebDriver, base_url: str, username: str) -> None:
    """Log in through the form, landing on the queue."""
    driver.delete_all_cookies()
    driver.get(f"{base_url}/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login").click()
    wait_for(driver, "#cases")
