"""The console in a real browser: log in, filter, open, approve, edit, reject; two
reviewers get different cases; payloads render as text and no script runs; a POST
without the CSRF token is refused; an unauthenticated client is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from confguard.serve import Console
from confguard.serve.demo import DemoCase, seed_case
from tests.browser.conftest import click_and_load, log_in, wait_for

pytestmark = pytest.mark.browser

XSS_ANSWER = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
XSS_CONTEXT = (
    '<img src=x onerror="window.pwned = 3"> says <script>window.pwned = 4</script>'
)


def listed(driver: WebDriver) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.case-row")
    return [str(r.get_attribute("data-id")) for r in rows]


def fresh_case(console: Console, question: str, **fields: object) -> str:
    return seed_case(
        console.store,
        DemoCase(
            question=question,
            answer=str(fields.get("answer", "an answer")),
            contexts=tuple(fields.get("contexts", ("a passage",))),  # type: ignore[arg-type]
            signals={"answer_support": 0.2, "avg_logprob": 0.3},
        ),
    )


def test_log_in_and_filter_the_queue(
    browser: WebDriver, base_url: str, console: Console
) -> None:
    log_in(browser, base_url, "bo")
    assert browser.find_element(By.ID, "who").text == "bo (reviewer)"
    assert len(listed(browser)) >= 4
    route = browser.find_element(By.ID, "f-route")
    route.find_element(By.CSS_SELECTOR, "option[value='oncall']").click()
    click_and_load(browser, "apply-filters", "#cases")
    ids = listed(browser)
    assert [console.queue.get(i).question for i in ids] == ["Who wrote Dune?"]
    assert "route=oncall" in browser.current_url
    browser.find_element(By.ID, "f-max").send_keys("0.3")
    click_and_load(browser, "apply-filters", "#cases")
    assert browser.find_element(By.ID, "count-matching").text == "1 matching"


def resolve_in_browser(
    driver: WebDriver, base_url: str, review_id: str, button: str, **typed: str
) -> None:
    driver.get(f"{base_url}/cases/{review_id}")
    wait_for(driver, "#verdict")
    for field, text in typed.items():
        driver.find_element(By.ID, field).send_keys(text)
    driver.find_element(By.ID, button).click()
    wait_for(driver, "#notice")


def test_open_a_case_then_approve_edit_and_reject(
    browser: WebDriver, base_url: str, console: Console
) -> None:
    ids = [fresh_case(console, f"browser verdict {i}") for i in range(3)]
    log_in(browser, base_url, "bo")
    browser.find_element(By.CSS_SELECTOR, f"tr[data-id='{ids[0]}'] a").click()
    wait_for(browser, "#verdict")
    assert browser.find_element(By.ID, "question").text == "browser verdict 0"
    assert "You hold this case" in browser.find_element(By.ID, "lease").text
    browser.find_element(By.ID, "approve").click()
    wait_for(browser, "#notice")
    resolve_in_browser(
        browser, base_url, ids[1], "edit", **{"edited-answer": "Frank Herbert"}
    )
    resolve_in_browser(
        browser, base_url, ids[2], "reject", **{"reject-note": "not in the passage"}
    )
    got = [console.queue.get(i) for i in ids]
    assert [g.status for g in got] == ["approved", "edited", "rejected"]
    assert got[1].edited_answer == "Frank Herbert"
    assert {g.reviewer for g in got} == {"bo"}
    assert console.store.review_history(ids[2])[0].note == "not in the passage"


def test_the_approve_shortcut_key_works_under_the_csp(
    browser: WebDriver, base_url: str, console: Console
) -> None:
    log_in(browser, base_url, "bo")
    review_id = fresh_case(console, "browser shortcut")
    browser.get(f"{base_url}/cases/{review_id}")
    wait_for(browser, "#verdict")
    browser.find_element(By.TAG_NAME, "body").send_keys("a")
    wait_for(browser, "#notice")
    assert console.queue.get(review_id).status == "approved"


def test_two_reviewers_are_given_different_cases(
    drivers: Callable[[], WebDriver], base_url: str
) -> None:
    first, second = drivers(), drivers()
    log_in(first, base_url, "bo")
    log_in(second, base_url, "cy")
    for driver in (first, second):
        driver.find_element(By.ID, "next-case").click()
        wait_for(driver, "#case-id")
    one = first.find_element(By.ID, "case-id").text
    two = second.find_element(By.ID, "case-id").text
    assert one != two
    # Each sees the other's case as held, with no verdict buttons.
    second.get(f"{base_url}/cases/{one}")
    wait_for(second, "#lease")
    assert "Held by bo" in second.find_element(By.ID, "lease").text
    assert not second.find_elements(By.ID, "approve")


def test_payloads_in_answer_and_context_render_as_text_and_never_run(
    browser: WebDriver, base_url: str, console: Console
) -> None:
    review_id = fresh_case(
        console, "<b>xss</b> question", answer=XSS_ANSWER, contexts=(XSS_CONTEXT,)
    )
    log_in(browser, base_url, "bo")
    browser.get(f"{base_url}/cases/{review_id}")
    wait_for(browser, "#answer")
    assert browser.find_element(By.ID, "answer").text == XSS_ANSWER
    assert browser.find_element(By.ID, "question").text == "<b>xss</b> question"
    assert XSS_CONTEXT in browser.find_element(By.CSS_SELECTOR, ".passage .text").text
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, #question b")
    assert browser.execute_script("return window.pwned === undefined") is True
    browser.get(f"{base_url}/queue?per_page=100")
    wait_for(browser, "#cases")
    assert browser.execute_script("return window.pwned === undefined") is True


def test_a_post_without_the_csrf_token_is_refused(
    browser: WebDriver, base_url: str, console: Console
) -> None:
    review_id = fresh_case(console, "browser csrf")
    log_in(browser, base_url, "bo")
    browser.get(f"{base_url}/cases/{review_id}")
    wait_for(browser, "#verdict")
    # A form like the page's, without its token, posted with the session's cookie.
    browser.execute_script(
        """const f = document.createElement('form');
        f.method = 'post'; f.action = arguments[0];
        const v = document.createElement('input');
        v.name = 'verdict'; v.value = 'approved'; f.appendChild(v);
        document.body.appendChild(f); f.submit();""",
        f"/cases/{review_id}/resolve",
    )
    wait_for(browser, "#error-message")
    assert "CSRF token" in browser.find_element(By.ID, "error-message").text
    assert console.queue.get(review_id).status == "pending"


def test_pages_and_api_refuse_an_unauthenticated_browser(
    browser: WebDriver, base_url: str
) -> None:
    browser.delete_all_cookies()
    browser.get(f"{base_url}/queue")
    wait_for(browser, "#login-form")
    assert browser.current_url.endswith("/login")
    browser.get(f"{base_url}/api/reviews")
    body = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    assert body == {"error": "give an API token (Bearer) or log in", "status": 401}


def test_screenshots_of_queue_case_and_dashboard(
    browser: WebDriver, base_url: str, console: Console, tmp_path: Path
) -> None:
    log_in(browser, base_url, "ada")
    pending = console.store.pending_reviews()
    shots = {
        "queue": "/queue",
        "case": f"/cases/{pending[0].id}",
        "dashboard": "/dashboard",
        "calibration": "/calibration",
    }
    for name, path in shots.items():
        browser.get(f"{base_url}{path}")
        wait_for(browser, "main h1")
        target = tmp_path / f"{name}.png"
        assert browser.save_screenshot(str(target))
        assert target.stat().st_size > 5_000  # a rendered page, not a blank one
