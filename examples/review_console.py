"""The review console over a demo store with a few seeded cases (offline, no LLM).

    python examples/review_console.py            # serve on http://127.0.0.1:8000/
    python examples/review_console.py --check    # start, log in, list, stop

It makes a fresh SQLite store, queues four escalated demo answers (one routed to
`oncall`, one with a signal that failed), creates an admin account and prints its
password, then serves the console until interrupted (Ctrl-C). `--check` instead
starts it on a free port, logs in through the form as a browser would, prints the
queue's counts through the JSON API and stops.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import httpx

from confguard.serve import Console, ConsoleSettings, create_app
from confguard.serve.background import running
from confguard.serve.demo import seed_demo
from confguard.serve.security import hash_password, new_token
from confguard.store import SQLStore


def demo_console(folder: Path) -> tuple[Console, str, str]:
    """A console over a new demo store; (console, admin password, API token)."""
    url = f"sqlite:///{folder}/review-demo.sqlite"
    console = Console(SQLStore(url, store_answers=True), ConsoleSettings(store_url=url))
    seed_demo(console.store)
    password, token = new_token()[:16], new_token()
    console.accounts.add("admin", hash_password(password), "admin")
    console.accounts.add_token("admin", token, "example")
    return console, password, token


def check(base: str, password: str, token: str) -> None:
    """Log in through the form, then read the queue through the API."""
    with httpx.Client(base_url=base, follow_redirects=False) as browser:
        form = browser.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        fields = {"username": "admin", "password": password, "csrf_token": csrf[1]}
        logged_in = browser.post("/login", data=fields)
        print(f"login: {logged_in.status_code} -> {logged_in.headers['location']}")
        print(f"queue page: {browser.get('/queue').status_code}")
    headers = {"Authorization": f"Bearer {token}"}
    body = httpx.get(f"{base}/api/reviews", headers=headers).json()
    print(f"pending cases: {body['counts']['pending']}")
    for item in body["items"]:
        print(f"  {item['confidence']:.2f}  {item['question']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="start, log in, list, stop")
    p.add_argument("--port", type=int, default=8000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        console, password, token = demo_console(Path(folder))
        port = 0 if args.check else args.port
        with running(create_app(console), port=port) as base:
            print(f"console on {base}/  (log in as admin / {password})")
            if args.check:
                check(base, password, token)
            else:
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    print("stopped")
        console.store.close()


if __name__ == "__main__":
    main()
