"""GroupCommit: concurrent writes committed in batches, each caller told after commit.

On a SQLite file and, when configured, PostgreSQL, with a table of the test's own
(a unique `caller` column, so a duplicate is a bad record the database refuses).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from confguard.exceptions import StoreError
from confguard.store.group_commit import GroupCommit, Rows

METADATA = MetaData()
CALLS = Table(
    "group_commit_calls",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("caller", Integer, unique=True, nullable=False),
)


class Counted:
    """A transaction opener on `engine` that counts the transactions it opened."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.opened = 0

    def __call__(self) -> AbstractContextManager[Connection]:
        self.opened += 1  # only ever called from one thread at a time here
        return self.engine.begin()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine with an empty `group_commit_calls` table."""
    url = (
        f"sqlite:///{tmp_path}/calls.sqlite"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_engine(url)
    METADATA.drop_all(engine)
    METADATA.create_all(engine)
    yield engine
    METADATA.drop_all(engine)
    engine.dispose()


@pytest.fixture
def begin(engine: Engine) -> Counted:
    return Counted(engine)


def write(caller: int) -> Callable[[Connection], int]:
    """A unit inserting `caller`'s row; it returns the caller, to check outcomes."""

    def unit(connection: Connection) -> int:
        connection.execute(insert(CALLS), {"caller": caller})
        return caller

    return unit


def callers(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(select(CALLS.c.caller)).scalars())


def hold(commits: GroupCommit) -> threading.Event:
    """Keep the writer busy in a batch of its own until the returned event is set.

    Returns once the writer is held, so everything submitted next is queued for
    one later batch.
    """
    started, gate = threading.Event(), threading.Event()

    def held(_connection: Connection) -> None:
        started.set()
        gate.wait(10)

    commits.submit(held)
    assert started.wait(10)
    return gate


def test_many_concurrent_callers_each_get_their_row_exactly_once(
    engine: Engine, begin: Counted
) -> None:
    commits = GroupCommit(begin)

    async def main() -> list[int]:
        return await asyncio.gather(*(commits.arun(write(i)) for i in range(2000)))

    try:
        assert asyncio.run(main()) == list(range(2000))
    finally:
        commits.close()
    assert sorted(callers(engine)) == list(range(2000))
    assert begin.opened < 2000  # they were grouped, not one transaction each


def test_a_caller_is_told_only_once_its_row_is_committed(
    engine: Engine, begin: Counted
) -> None:
    commits = GroupCommit(begin)

    async def caller(i: int) -> bool:
        await commits.arun(write(i))
        # Another connection sees the row, so the transaction had committed.
        return await asyncio.to_thread(lambda: i in callers(engine))

    async def main() -> list[bool]:
        return await asyncio.gather(*(caller(i) for i in range(200)))

    try:
        assert all(asyncio.run(main()))
    finally:
        commits.close()


def test_a_failing_unit_fails_only_its_own_caller(
    engine: Engine, begin: Counted
) -> None:
    commits = GroupCommit(begin)
    gate = hold(commits)

    def broken(_connection: Connection) -> None:
        raise ValueError("a bad record")

    futures: list[Future[Any]] = [commits.submit(write(i)) for i in range(10)]
    futures.insert(3, commits.submit(write(5)))  # a duplicate: the database refuses
    futures.insert(7, commits.submit(broken))
    gate.set()
    commits.close()
    assert isinstance(futures[3].exception(), IntegrityError)
    assert isinstance(futures[7].exception(), ValueError)
    good = [f for i, f in enumerate(futures) if i not in (3, 7)]
    assert [f.result() for f in good] == list(range(10))
    assert sorted(callers(engine)) == list(range(10))
    # The held batch, one batch tried and rolled back, the 12 units alone.
    assert begin.opened == 14


def test_rows_of_a_batch_go_in_one_insert_and_a_bad_one_fails_alone(
    engine: Engine, begin: Counted
) -> None:
    commits = GroupCommit(begin)
    gate = hold(commits)
    good = [commits.submit(Rows.of(CALLS, {"caller": i})) for i in range(50)]
    bad = commits.submit(Rows.of(CALLS, {"caller": 7}))
    gate.set()
    commits.close()
    assert [f.result() for f in good] == [None] * 50
    assert isinstance(bad.exception(), IntegrityError)
    assert sorted(callers(engine)) == list(range(50))


def test_rows_commit_together_when_all_are_good(engine: Engine, begin: Counted) -> None:
    commits = GroupCommit(begin)
    gate = hold(commits)
    rows = [commits.submit(Rows.of(CALLS, {"caller": i})) for i in range(100)]
    gate.set()
    commits.close()
    assert all(f.result() is None for f in rows)
    assert begin.opened == 2  # the held unit's batch, then all 100 rows in one
    assert sorted(callers(engine)) == list(range(100))


def test_close_commits_everything_queued_then_refuses_more(
    engine: Engine, begin: Counted
) -> None:
    commits = GroupCommit(begin, max_batch=7)
    futures = [commits.submit(write(i)) for i in range(300)]
    commits.close()
    assert all(f.done() for f in futures)
    assert sorted(callers(engine)) == list(range(300))
    with pytest.raises(StoreError, match="closed"):
        commits.submit(write(300))
    commits.close()  # idempotent


def test_callers_on_several_event_loops(engine: Engine, begin: Counted) -> None:
    commits = GroupCommit(begin)

    def loop(offset: int) -> None:
        async def main() -> None:
            units = (commits.arun(write(offset + i)) for i in range(250))
            await asyncio.gather(*units)

        asyncio.run(main())

    threads = [threading.Thread(target=loop, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    commits.close()
    expected = sorted(k * 1000 + i for k in range(4) for i in range(250))
    assert sorted(callers(engine)) == expected


def test_sync_callers_run_directly_without_a_writer_thread(
    engine: Engine, begin: Counted
) -> None:
    commits = GroupCommit(begin, name="sync-only-commits")
    assert commits.run(write(1)) == 1
    assert "sync-only-commits" not in {t.name for t in threading.enumerate()}
    commits.close()
    assert callers(engine) == [1]


def test_a_unit_cancelled_before_it_started_never_runs(
    engine: Engine, begin: Counted
) -> None:
    commits = GroupCommit(begin)
    gate = hold(commits)
    withdrawn = commits.submit(write(1))
    kept = commits.submit(write(2))
    assert withdrawn.cancel()
    gate.set()
    commits.close()
    assert kept.result() == 2
    assert callers(engine) == [2]


def test_a_failed_commit_is_not_retried(engine: Engine) -> None:
    ran: list[int] = []

    @contextmanager
    def failing_commit() -> Iterator[Connection]:
        with engine.connect() as connection:
            yield connection
            connection.rollback()
        raise StoreError("COMMIT failed")  # the database may have kept it

    def unit(i: int) -> Callable[[Connection], None]:
        return lambda _connection: ran.append(i)

    commits = GroupCommit(failing_commit)
    gate = hold(commits)
    futures = [commits.submit(unit(i)) for i in range(5)]
    gate.set()
    commits.close()
    assert all(isinstance(f.exception(), StoreError) for f in futures)
    assert ran == list(range(5))  # each ran once: no second try after COMMIT
