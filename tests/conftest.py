"""Shared fixtures: audit stores on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from confguard.store import SQLStore
from confguard.store.schema import VERSION_TABLE, Base
from tests.otel import telemetry

__all__ = ["telemetry"]  # the in-memory OpenTelemetry fixture, for every test

POSTGRES_URL_VARIABLE = "CONFGUARD_TEST_POSTGRES_URL"


@pytest.fixture(autouse=True)
def isolated_state_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test's own confguard state folder, so no test replays another's spool."""
    folder = tmp_path_factory.mktemp("confguard-state")
    monkeypatch.setenv("CONFGUARD_STATE_DIR", str(folder))
    return folder


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLStore]:
    """A SQLStore on a fresh SQLite file that keeps answers."""
    with SQLStore(f"sqlite:///{tmp_path}/audit.sqlite", store_answers=True) as store:
        yield store


@pytest.fixture
def postgres_url() -> str:
    """The URL of the test PostgreSQL database, emptied of confguard's tables."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(
            f"{POSTGRES_URL_VARIABLE} is not set: no PostgreSQL server to test "
            "against (start one with `bash .ci/postgres.sh` and source its output)"
        )
    drop_confguard_tables(url)
    return url


def drop_confguard_tables(url: str) -> None:
    """Empty a database of confguard's tables and its schema-version table."""
    engine = create_engine(url)
    try:
        Base.metadata.drop_all(engine)
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
    finally:
        engine.dispose()


STARTUP_WAIT = 30.0
"""Seconds a child may take to reach the work a kill should land in."""


def kill_after(
    target: Callable[[str], None],
    url: str,
    delay: float,
    started: Callable[[], bool] | None = None,
) -> None:
    """Run `target(url)` in a forked child and SIGKILL it after `delay` seconds.

    With `started`, the delay counts from when `started()` first holds, so a loaded
    machine's slow start-up cannot swallow the moment the kill was meant to hit.
    """
    child = multiprocessing.get_context("fork").Process(target=target, args=(url,))
    child.start()
    if started is not None:
        deadline = time.monotonic() + STARTUP_WAIT
        while not started():
            assert child.is_alive(), "the child died before it started its work"
            assert time.monotonic() < deadline, "the child never started its work"
            time.sleep(0.01)
    time.sleep(delay)
    child.kill()
    child.join(timeout=10)
    assert not child.is_alive()


@pytest.fixture
def empty_database() -> Callable[[str], None]:
    """`drop_confguard_tables`, for tests that empty a database more than once."""
    return drop_confguard_tables


@pytest.fixture
def killer() -> Callable[[Callable[[str], None], str, float], None]:
    """`kill_after`: run a function in a child process and SIGKILL it mid-way."""
    return kill_after
