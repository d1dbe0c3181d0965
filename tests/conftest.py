"""Shared fixtures: audit stores on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from confguard.store import SQLStore
from confguard.store.schema import VERSION_TABLE, Base

POSTGRES_URL_VARIABLE = "CONFGUARD_TEST_POSTGRES_URL"


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
    engine = create_engine(url)
    try:
        Base.metadata.drop_all(engine)
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
    finally:
        engine.dispose()
    return url
