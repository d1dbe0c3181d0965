"""A process killed while it creates a store never leaves a store silently incomplete.

A real child process opens a new store and is SIGKILLed at a random moment of it.
Afterwards the store either opens complete, or is refused with a StoreError naming
`confguard db upgrade`, which then completes it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from confguard.exceptions import StoreError
from confguard.store import SQLStore
from confguard.store.schema import VERSION_TABLE, Base
from confguard.store.sql import upgrade_store

Killer = Callable[[Callable[[str], None], str, float], None]

KILLS = 20
LONGEST_DELAY = 0.1
"""Kills land between 0 and this many seconds after the child starts creating."""

INDEXES = {
    "decisions": {"ix_decisions_request_id"},
    "reviews": {"ix_reviews_request_id", "ix_reviews_status"},
    "review_events": {"ix_review_events_review_id"},
}


def create_store(url: str) -> None:  # pragma: no cover - runs in the child
    """Open (and so create) the store at `url`, as an application's first start."""
    SQLStore(url).close()


def assert_complete(url: str) -> None:
    """The store has every table and index, at the current revision."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            found = inspect(connection)
            names = {t: {str(i["name"]) for i in found.get_indexes(t)} for t in INDEXES}
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE}
            )
            assert compare_metadata(context, Base.metadata) == []
        assert names == INDEXES
    finally:
        engine.dispose()


def open_or_repair(url: str) -> str:
    """Open the store after a kill; 'opened', or 'repaired' by the upgrade."""
    try:
        SQLStore(url).close()
    except StoreError as refused:
        assert "confguard db upgrade" in str(refused)
        upgrade_store(url)
        SQLStore(url).close()
        return "repaired"
    return "opened"


def test_every_killed_sqlite_creation_opens_complete_or_is_repaired(
    tmp_path: Path, killer: Killer
) -> None:
    SQLStore("sqlite://").close()  # the parent imports everything before forking
    rng = random.Random(12)
    outcomes = []
    for i in range(KILLS):
        url = f"sqlite:///{tmp_path}/audit-{i}.sqlite"
        killer(create_store, url, rng.uniform(0, LONGEST_DELAY))
        outcomes.append(open_or_repair(url))
        assert_complete(url)
    assert set(outcomes) <= {"opened", "repaired"}


@pytest.mark.postgres
def test_every_killed_postgres_creation_opens_complete_or_is_repaired(
    postgres_url: str, killer: Killer, empty_database: Callable[[str], None]
) -> None:
    SQLStore("sqlite://").close()
    rng = random.Random(12)
    for i in range(KILLS // 2):  # each round also empties the database: slower
        if i:  # empty the database again, as the fixture did for the first round
            empty_database(postgres_url)
        killer(create_store, postgres_url, rng.uniform(0, LONGEST_DELAY))
        open_or_repair(postgres_url)
        assert_complete(postgres_url)
