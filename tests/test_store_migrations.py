"""The audit store's versioned schema: created new, refused when outdated, upgraded.

On a SQLite file here and, when configured, on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from confguard.cli import main
from confguard.cli.output import console
from confguard.exceptions import StoreError
from confguard.store import ReviewRequest, SQLStore
from confguard.store.migrate import current_revision
from confguard.store.schema import (
    DECISIONS,
    REVIEWS,
    SCHEMA_REVISION,
    VERSION_TABLE,
    Base,
)

INDEXES = {
    "decisions": {"ix_decisions_request_id"},
    "reviews": {"ix_reviews_request_id", "ix_reviews_status"},
    "review_events": {"ix_review_events_review_id"},
    "escalations": {"ix_escalations_request_id", "ix_escalations_due"},
}


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a new SQLite file, or the emptied test PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.sqlite"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    """A plain engine on `url`, for setting up and inspecting by hand."""
    engine = create_engine(url)
    yield engine
    engine.dispose()


def db_upgrade(url: str) -> tuple[int, str]:
    """Run `confguard db upgrade --store URL`; (exit code, output)."""
    with console.capture() as captured:
        code = main(["db", "upgrade", "--store", url])
    return code, captured.get()


def indexes(engine: Engine) -> dict[str, set[str]]:
    """Every confguard table's index names."""
    found = inspect(engine)
    return {t: {str(i["name"]) for i in found.get_indexes(t)} for t in INDEXES}


def test_a_new_store_is_created_at_the_current_revision_matching_the_models(
    url: str, engine: Engine
) -> None:
    SQLStore(url).close()
    with engine.connect() as connection:
        assert current_revision(connection) == SCHEMA_REVISION
        # The migration and the ORM models describe one schema: nothing to migrate.
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE}
        )
        assert compare_metadata(context, Base.metadata) == []
    assert indexes(engine) == INDEXES


def test_an_interrupted_table_creation_is_refused_then_repaired_by_the_upgrade(
    url: str, engine: Engine
) -> None:
    # What a kill during the first open left: tables without their indexes, and
    # no revision (it is written last).
    for table in (DECISIONS, REVIEWS):
        table.create(engine)
    with engine.begin() as connection:
        for name in ("ix_reviews_request_id", "ix_reviews_status"):
            connection.execute(text(f"DROP INDEX {name}"))
    with pytest.raises(StoreError, match="has no schema revision") as refused:
        SQLStore(url)
    assert "run `confguard db upgrade --store " in str(refused.value)
    code, out = db_upgrade(url)
    assert code == 0
    assert out.endswith(f"schema at revision {SCHEMA_REVISION} (had no revision)\n")
    assert indexes(engine) == INDEXES
    with SQLStore(url) as store:
        store.enqueue_review(make_request())


def make_request() -> ReviewRequest:
    """A case for the review queue."""
    return ReviewRequest(
        request_id="r1", question="q", answer="a", confidence=0.3, reason="low"
    )


def test_a_store_made_before_versioning_keeps_its_rows_through_the_upgrade(
    url: str, engine: Engine
) -> None:
    for table in (DECISIONS, REVIEWS):  # what an earlier confguard created
        table.create(engine)
    with SQLStore("sqlite://") as scratch:
        scratch.enqueue_review(make_request())
        (old,) = scratch.reviews()
    with engine.begin() as connection:
        connection.execute(REVIEWS.insert(), old.model_dump())
    with pytest.raises(StoreError, match="confguard db upgrade"):
        SQLStore(url)
    assert db_upgrade(url)[0] == 0
    with SQLStore(url) as store:
        assert store.reviews() == [old]
        store.resolve_review(old.id, "approved", reviewer="ada")
        assert [e.reviewer for e in store.review_history(old.id)] == ["ada"]


def test_the_upgrade_is_idempotent(url: str) -> None:
    SQLStore(url).close()
    code, out = db_upgrade(url)
    assert code == 0
    assert out.endswith(
        f"schema at revision {SCHEMA_REVISION} (was at {SCHEMA_REVISION})\n"
    )


def test_a_store_at_a_revision_this_code_does_not_know_is_refused(
    url: str, engine: Engine
) -> None:
    SQLStore(url).close()
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(
        StoreError, match=f"newer than this confguard's {SCHEMA_REVISION}"
    ):
        SQLStore(url)
    code, out = db_upgrade(url)
    assert code == 2
    assert out.startswith("error: cannot upgrade the audit store: ")
    assert out.count("\n") == 1


def test_db_upgrade_refuses_a_sqlite_file_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "typo.sqlite"
    code, out = db_upgrade(f"sqlite:///{missing}")
    assert code == 2
    assert out.startswith(f"error: --store: no audit store at {missing}")
    assert not missing.exists()


def upgrade_to(engine: Engine, revision: str) -> None:
    """Migrate `engine`'s store to `revision` only (as an older confguard left it)."""
    from alembic import command
    from alembic.config import Config

    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", "confguard.store:migrations")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_a_store_at_0001_is_refused_then_upgraded_to_the_outbox_keeping_rows(
    url: str, engine: Engine
) -> None:
    upgrade_to(engine, "0001")
    with SQLStore("sqlite://") as scratch:
        scratch.enqueue_review(make_request())
        (old,) = scratch.reviews()
    with engine.begin() as connection:
        connection.execute(REVIEWS.insert(), old.model_dump())
        assert "escalations" not in inspect(connection).get_table_names()
    with pytest.raises(StoreError, match="schema 0001, older than ours"):
        SQLStore(url)
    code, out = db_upgrade(url)
    assert code == 0
    assert out.endswith(f"schema at revision {SCHEMA_REVISION} (was at 0001)\n")
    assert indexes(engine) == INDEXES
    with SQLStore(url) as store:
        assert store.reviews() == [old]
        assert store.escalations() == []
