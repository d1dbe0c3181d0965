"""The console under test: a real SQLite store, real accounts, FastAPI's TestClient."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")

from fastapi.testclient import TestClient

from confguard.serve import Console, ConsoleSettings, create_app
from confguard.serve.demo import seed_demo
from confguard.serve.security import hash_password, new_token
from confguard.store import SQLStore

PASSWORD = "correct horse battery"


@functools.cache
def password_hash() -> str:
    """PASSWORD's argon2 hash, made once (argon2 is slow on purpose)."""
    return hash_password(PASSWORD)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh SQLite audit store's URL."""
    return f"sqlite:///{tmp_path}/audit.sqlite"


@pytest.fixture
def console(store_url: str) -> Iterator[Console]:
    """A console over a store holding the demo cases and two accounts."""
    console = Console(
        SQLStore(store_url, store_answers=True, busy_timeout=0.5),
        ConsoleSettings(store_url=store_url),
    )
    console.accounts.add("ada", password_hash(), "admin")
    console.accounts.add("bo", password_hash(), "reviewer")
    console.accounts.add("cy", password_hash(), "reviewer")
    seed_demo(console.store)
    yield console
    console.store.close()


@pytest.fixture
def client(console: Console) -> TestClient:
    """An HTTP client of the console app (not logged in)."""
    return TestClient(create_app(console), follow_redirects=False)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log `client` in through the form; returns the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/queue").text)


@pytest.fixture
def api_token(console: Console) -> str:
    """An API token of reviewer bo."""
    token = new_token()
    console.accounts.add_token("bo", token, "tests")
    return token


@pytest.fixture
def admin_token(console: Console) -> str:
    """An API token of admin ada."""
    token = new_token()
    console.accounts.add_token("ada", token, "tests")
    return token
