"""The spool: what a guard writes when its store cannot take it, and its replay."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from confguard import FunctionSignal, Guard, Observation
from confguard.cli import main
from confguard.exceptions import ConfigurationError, StoreError, StoreUnavailableError
from confguard.store import AuditRecord, SQLStore
from confguard.store.deadline import Watchdog
from confguard.store.spool import Delivered, Record, Spool, SpoolOp
from confguard.store.spooling import Recorder, replay

FIXED = FunctionSignal(lambda obs: 0.9, name="fixed")


def _record(request_id: str, attempt: int = 1) -> Record:
    audit = AuditRecord(
        request_id=request_id,
        attempt=attempt,
        question="q",
        answer_digest="d",
        confidence=0.9,
        action="accept",
        reason="ok",
        latency_seconds=0.0,
    )
    return Record(record=audit)


def _request_id(op: SpoolOp) -> str:
    assert isinstance(op, Record)
    return op.record.request_id


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/audit.sqlite"


@pytest.fixture
def locked(db: str) -> Iterator[sqlite3.Connection]:
    """Another process's exclusive lock on the SQLite file: writes cannot get in."""
    SQLStore(db).close()  # create the tables first
    holder = sqlite3.connect(db.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    yield holder
    holder.close()


def _unlock(holder: sqlite3.Connection) -> None:
    holder.execute("ROLLBACK")


# -- the spool ------------------------------------------------------------------


def test_entries_come_back_in_the_order_they_were_spooled(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    ops = [_record("r1"), Delivered(escalation_id="e1"), _record("r2")]
    for op in ops:
        spool.append(op)
    assert [entry.op for entry in spool.entries()] == ops
    assert len(spool) == 3


def test_a_claimed_entry_is_hidden_until_released_and_gone_once_done(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path)
    spool.append(_record("r1"))
    entry = next(spool.entries())
    claimed = spool.claim(entry)
    assert claimed is not None and len(spool) == 0
    assert spool.claim(entry) is None  # a second replayer does not get it
    spool.release(claimed)
    claimed = spool.claim(next(spool.entries()))
    assert claimed is not None
    spool.done(claimed)
    assert len(spool) == 0 and list(tmp_path.iterdir()) == []


def test_a_claim_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    path = spool.append(_record("r1"))
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    path.rename(tmp_path / f"{path.stem}.claimed-{dead}")
    assert [_request_id(entry.op) for entry in spool.entries()] == ["r1"]


def test_a_file_that_does_not_parse_is_set_aside_not_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    (tmp_path / "00000000000000000001-1-000000.json").write_text("{not json")
    spool.append(_record("r1"))
    assert [_request_id(entry.op) for entry in spool.entries()] == ["r1"]
    assert [p.name for p in tmp_path.glob("*.bad")] == [
        "00000000000000000001-1-000000.json.bad"
    ]


# -- replay ---------------------------------------------------------------------


def test_replay_skips_a_write_the_store_has_already(db: str, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    with SQLStore(db) as store:
        store.record(_record("r1").record)  # the "timed out" write did commit
        spool.append(_record("r1"))
        spool.append(_record("r2"))
        report = replay(store, spool)
        assert (report.replayed, report.duplicates, report.left) == (1, 1, 0)
        assert sorted(r.request_id for r in store.decisions()) == ["r1", "r2"]


def test_replay_stops_at_the_first_failure_and_keeps_the_rest(
    db: str, tmp_path: Path, locked: sqlite3.Connection
) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append(_record("r1"))
    spool.append(_record("r2"))
    with SQLStore(db, busy_timeout=0.05) as store:
        report = replay(store, spool)
    assert report.replayed == 0 and report.left == 2
    assert report.error is not None and "locked" in report.error


# -- the guard ------------------------------------------------------------------


def test_a_locked_store_makes_the_guard_spool_and_it_replays_by_itself(
    db: str, tmp_path: Path, locked: sqlite3.Connection
) -> None:
    spool = tmp_path / "spool"
    store = SQLStore(db, busy_timeout=0.05)
    with Guard([FIXED], store=store, spool=spool) as guard:
        assert guard.recorder is not None
        guard.recorder.replay_every = 0.1
        results = [
            guard.check(Observation(question=f"q{n}", answer="a")) for n in range(3)
        ]
        assert guard.recorder.spooling and len(Spool(spool)) == 3
        _unlock(locked)
        deadline = time.monotonic() + 20
        while guard.recorder.spooling:
            assert time.monotonic() < deadline, "the spool was not replayed"
            time.sleep(0.05)
        guard.check(Observation(question="after", answer="a"))  # straight in again
    assert len(Spool(spool)) == 0
    stored = {r.request_id for r in store.decisions()}
    assert {r.request_id for r in results} <= stored and len(stored) == 4
    store.close()


def test_the_spool_left_by_an_earlier_process_is_replayed_when_a_guard_starts(
    db: str,
) -> None:
    store = SQLStore(db)
    assert store.spool_directory is not None
    Spool(store.spool_directory).append(_record("from-before"))
    with Guard([FIXED], store=store) as guard:
        assert guard.recorder is not None and guard.recorder.spooling
        guard.recorder.replay()
    assert [r.request_id for r in store.decisions()] == ["from-before"]
    store.close()


def test_on_store_error_raise_raises_the_stores_error(
    db: str, locked: sqlite3.Connection
) -> None:
    with (
        SQLStore(db, busy_timeout=0.05) as store,
        Guard([FIXED], store=store, on_store_error="raise") as guard,
        pytest.raises(StoreUnavailableError, match="locked"),
    ):
        guard.check(Observation(question="q", answer="a"))


async def test_the_async_guard_spools_too(
    db: str, tmp_path: Path, locked: sqlite3.Connection
) -> None:
    spool = tmp_path / "spool"
    with SQLStore(db, busy_timeout=0.05) as store:
        guard = Guard([FIXED], store=store, spool=spool).as_async()
        result = await guard.acheck(Observation(question="q", answer="a"))
        await guard.aclose()
    assert result.decision.action == "accept"
    assert [_request_id(e.op) for e in Spool(spool).entries()] == [result.request_id]


class _BrokenStore:
    """A store whose write is wrong, not late: nothing a spool could fix."""

    def record(self, record: AuditRecord) -> None:
        raise StoreError("cannot serialise the record")

    async def arecord(self, record: AuditRecord) -> None:
        self.record(record)


def test_an_error_that_is_not_unavailability_is_raised_not_spooled(
    tmp_path: Path,
) -> None:
    recorder = Recorder(_BrokenStore(), Spool(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="serialise"):
        recorder.write(_record("r1"))
    assert len(Spool(tmp_path)) == 0 and not recorder.spooling


def test_on_store_error_must_be_spool_or_raise() -> None:
    with pytest.raises(ConfigurationError, match="on_store_error"):
        Guard([FIXED], on_store_error="ignore")  # type: ignore[arg-type]


def test_retries_keeps_the_bound_a_policy_has() -> None:
    with pytest.raises(ConfigurationError, match="from 1 to 10"):
        Guard([FIXED], retries=11)


def test_an_in_memory_store_has_no_spool_so_its_errors_are_raised() -> None:
    with SQLStore("sqlite://") as store:
        assert store.spool_directory is None
        with Guard([FIXED], store=store) as guard:
            assert guard.recorder is not None and guard.recorder.spool is None


# -- deadlines ------------------------------------------------------------------


def test_the_watchdog_interrupts_a_statement_that_overruns(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "x.sqlite", check_same_thread=False)
    forever = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
        "SELECT count(*) FROM n"
    )
    watchdog = Watchdog(0.2)
    start = time.monotonic()
    with (
        pytest.raises(sqlite3.OperationalError, match="interrupted"),
        watchdog.watching(connection),
    ):
        connection.execute(forever).fetchall()
    assert time.monotonic() - start < 5 and watchdog.interrupted == 1
    watchdog.stop()


# -- the command ----------------------------------------------------------------


def test_store_replay_writes_the_spool_and_status_counts_it(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with SQLStore(db) as store:
        assert store.spool_directory is not None
        spool = Spool(store.spool_directory)
    spool.append(_record("r1"))
    assert main(["store", "status", "--store", db]) == 0
    assert "1 spooled writes waiting" in capsys.readouterr().out
    assert main(["store", "replay", "--store", db]) == 0
    assert "replayed 1 spooled writes (0 already in the store), 0 left" in (
        capsys.readouterr().out
    )
    with SQLStore(db) as store:
        assert [r.request_id for r in store.decisions()] == ["r1"]


def test_store_replay_exits_1_when_the_store_still_refuses(
    db: str,
    tmp_path: Path,
    locked: sqlite3.Connection,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append(_record("r1"))
    code = main(["store", "replay", "--store", db, "--spool", str(spool.directory)])
    assert code == 1
    assert "0 left" not in capsys.readouterr().out and len(spool) == 1
