"""The calibration page in a real browser: a stratum's own target is typed into the
form, the proposal certifies the stratum at it and shows each stratum's figures,
and a target for a stratum the policy lacks is refused above the form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from confguard import Policy
from confguard.serve import Console
from confguard.serve.demo import seed_verdicts
from tests.browser.conftest import click_and_load, log_in, wait_for

pytestmark = pytest.mark.browser

SUPPORTED = {
    "thresholds": {"accept": 0.8, "annotate": 0.2},
    "strata": [
        {
            "name": "supported",
            "when": {"signal": "answer_support", "confidence": {"ge": 0.5}},
            "thresholds": {"accept": 0.5, "annotate": 0.3},
        }
    ],
}


@pytest.fixture(scope="module")
def stratified(console: Console) -> Iterator[Console]:
    """The module's console under a policy with a named stratum, and 300 verdicts
    whose support decides them."""
    seed_verdicts(console.store, 300, seed=7, right_above=0.3)
    before, console.base = console.base, Policy.from_dict(SUPPORTED)
    yield console
    console.base = before


def open_calibration(driver: WebDriver, base_url: str) -> None:
    log_in(driver, base_url, "ada")
    driver.get(f"{base_url}/calibration")
    wait_for(driver, "#propose-form")


def propose(driver: WebDriver, strata_targets: str, shown: str) -> None:
    driver.find_element(By.ID, "target-risk").clear()
    driver.find_element(By.ID, "target-risk").send_keys("0.1")
    field = driver.find_element(By.ID, "stratum-risk")
    field.clear()
    field.send_keys(strata_targets)
    click_and_load(driver, "propose", shown)


def test_a_stratum_is_proposed_at_the_target_typed_for_it(
    browser: WebDriver, base_url: str, stratified: Console
) -> None:
    open_calibration(browser, base_url)
    field = browser.find_element(By.ID, "stratum-risk")
    assert field.get_attribute("placeholder") == "supported=0.5"
    propose(browser, "supported=0.09", "#proposal")
    lines = browser.find_elements(By.CSS_SELECTOR, "#proposal-strata li")
    assert lines[0].text.startswith("stratum 'supported': accept >= ")
    assert "certified for risk <= 0.09 on " in lines[0].text
    table = browser.find_element(By.CSS_SELECTOR, "#proposal table.strata-figures")
    assert "'supported'" in table.text and "(target 0.09, δ 0.050)" in table.text
    kept = browser.find_element(By.ID, "stratum-risk").get_attribute("value")
    assert kept == "supported=0.09"


def test_a_target_for_a_stratum_the_policy_lacks_is_refused_above_the_form(
    browser: WebDriver, base_url: str, stratified: Console
) -> None:
    open_calibration(browser, base_url)
    propose(browser, "nosuch=0.1", "#invalid")
    said = browser.find_element(By.ID, "invalid").text
    assert "the policy has no stratum named 'nosuch'" in said
    assert "its named strata: 'supported'" in said
    assert not browser.find_elements(By.ID, "proposal")
