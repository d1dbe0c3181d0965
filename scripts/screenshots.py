"""Screenshots of the review console for docs/review.md, taken in Debian's chromium.

    python scripts/screenshots.py [--out docs/img]

A demo store (the seeded cases, 300 generated cases resolved by a reviewer so the
dashboard and the calibration page have verdicts to show, and a week of other
decisions) is served on a free port of 127.0.0.1; headless /usr/bin/chromium,
driven by /usr/bin/chromedriver, logs in as an admin and saves queue.png,
case.png, dashboard.png and calibration.png.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from confguard.serve import Console, ConsoleSettings, create_app
from confguard.serve.background import running
from confguard.serve.demo import seed_demo, seed_verdicts
from confguard.serve.security import hash_password
from confguard.store import AuditRecord, SQLStore, digest

PASSWORD = "screenshots only"


def demo(folder: Path) -> Console:
    url = f"sqlite:///{folder}/screens.sqlite"
    console = Console(SQLStore(url, store_answers=True), ConsoleSettings(store_url=url))
    seed_verdicts(console.store, 300, seed=5, right_above=0.4, flip=0.02)
    seed_demo(console.store)
    history(console.store, random.Random(5))
    console.accounts.add("ada", hash_password(PASSWORD), "admin")
    return console


def history(store: SQLStore, rng: random.Random) -> None:
    """A week of other decisions, so the dashboard has days and actions to show."""
    now = datetime.now(timezone.utc)
    for i in range(600):
        confidence = rng.betavariate(4, 2)
        action = "accept" if confidence >= 0.7 else "annotate"
        if confidence < 0.3:
            action = "abstain"
        store.record(
            AuditRecord(
                request_id=f"history-{i}",
                attempt=1,
                question=f"past question {i}",
                answer_digest=digest(f"past answer {i}"),
                confidence=confidence,
                action=action,
                reason=f"confidence {confidence:.2f}",
                latency_seconds=0.1,
                created_at=now - timedelta(days=rng.randint(0, 6), hours=rng.random()),
            )
        )


def driver() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1500",
    ):
        options.add_argument(flag)
    made = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    made.set_page_load_timeout(30)
    return made


def shoot(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        console = demo(Path(folder))
        case = next(
            i for i in console.store.pending_reviews() if i.question.startswith("Which")
        )
        pages = {
            "queue": "/queue?sort=confidence",
            "case": f"/cases/{case.id}",
            "dashboard": "/dashboard",
            "calibration": "/calibration",
        }
        saved = []
        with running(create_app(console)) as base:
            browser = driver()
            try:
                browser.get(f"{base}/login")
                browser.find_element(By.ID, "username").send_keys("ada")
                browser.find_element(By.ID, "password").send_keys(PASSWORD)
                browser.find_element(By.ID, "login").click()
                WebDriverWait(browser, 10).until(
                    lambda d: d.find_elements(By.ID, "cases")
                )
                for name, path in pages.items():
                    browser.get(f"{base}{path}")
                    WebDriverWait(browser, 10).until(
                        lambda d: d.find_elements(By.CSS_SELECTOR, "main h1")
                    )
                    if name == "calibration":
                        browser.find_element(By.ID, "target-risk").clear()
                        browser.find_element(By.ID, "target-risk").send_keys("0.2")
                        browser.find_element(By.ID, "propose").click()
                        WebDriverWait(browser, 30).until(
                            lambda d: (
                                d.find_elements(By.ID, "proposal")
                                or d.find_elements(By.ID, "refusal")
                            )
                        )
                    target = out / f"{name}.png"
                    browser.save_screenshot(str(target))
                    saved.append(target)
            finally:
                browser.quit()
        console.store.close()
    return saved


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/img"))
    for path in shoot(p.parse_args().out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
