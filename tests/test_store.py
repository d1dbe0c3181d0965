"""The audit store contract, on InMemoryStore and SQLStore (SQLite here).

tests/test_store_postgres.py runs the same SQL contract on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import statistics
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from confguard.exceptions import (
    InputError,
    ReviewConflictError,
    StoreError,
    UnknownReviewError,
)
from confguard.results import Cost, SignalResult
from confguard.store import (
    AuditRecord,
    AuditStore,
    InMemoryStore,
    ReviewRequest,
    SQLStore,
    digest,
)
from confguard.store.base import Verdict

SIGNALS = (
    SignalResult(
        name="token.avg_logprob",
        confidence=0.8125,
        raw=-0.2076393647782445,
        details={"tokens": 7, "per_token": [0.5, 0.25], "note": "naïve ✓"},
        cost=Cost(seconds=0.000125),
    ),
    SignalResult.skipped("judge", "no generator configured", tried=["a", "b"]),
    SignalResult.failed("nli", TimeoutError("took 2.5 s")),
)


def make_record(
    request_id: str = "req-1", attempt: int = 1, **changes: Any
) -> AuditRecord:
    """A decision as the guard would log it, with three signals of every status."""
    fields: dict[str, Any] = {
        "request_id": request_id,
        "attempt": attempt,
        "question": "What is the capital of France?",
        "answer_digest": digest("Paris"),
        "confidence": 0.8125,
        "action": "retry",
        "reason": "confidence 0.81 < 0.9",
        "strategy": "temperature_zero",
        "signals": SIGNALS,
        "latency_seconds": 0.0015,
        "cost": Cost(llm_calls=2, tokens=31, seconds=0.75),
        "created_at": datetime(2025, 3, 1, 12, 30, 45, 123456, tzinfo=timezone.utc),
        "metadata": {"user": "u-7", "tags": ["eu", None], "nested": {"k": 1.5}},
    }
    return AuditRecord(**{**fields, **changes})


def make_request(
    request_id: str = "req-1", confidence: float | None = 0.4
) -> ReviewRequest:
    """A low-confidence case for the review queue."""
    return ReviewRequest(
        request_id=request_id,
        question="Who wrote Dune?",
        answer="Isaac Asimov",
        confidence=confidence,
        reason="confidence 0.40 < 0.5",
        metadata={"route": "human"},
    )


class StoreContract:
    """What every AuditStore does; subclasses provide the `store` fixture."""

    def test_is_an_audit_store(self, store: AuditStore) -> None:
        assert isinstance(store, AuditStore)

    def test_a_recorded_decision_reads_back_equal_with_every_signal(
        self, store: AuditStore
    ) -> None:
        record = make_record()
        store.record(record)
        assert store.decisions() == [record]
        back = store.decisions()[0]
        assert back.signals[0].details["per_token"] == [0.5, 0.25]
        assert back.signals[2].reason == "TimeoutError: took 2.5 s"
        assert back.cost == Cost(llm_calls=2, tokens=31, seconds=0.75)

    def test_decisions_keep_insertion_order_and_filter_by_request(
        self, store: AuditStore
    ) -> None:
        for request_id, attempt in [("a", 1), ("b", 1), ("a", 2), ("a", 3)]:
            store.record(make_record(request_id, attempt))
        assert [r.attempt for r in store.decisions("a")] == [1, 2, 3]
        assert [r.request_id for r in store.decisions()] == ["a", "b", "a", "a"]
        assert store.decisions("unknown") == []

    def test_decisions_limit_keeps_the_oldest(self, store: AuditStore) -> None:
        for attempt in (1, 2, 3):
            store.record(make_record("a", attempt))
        assert [r.attempt for r in store.decisions("a", limit=2)] == [1, 2]

    async def test_a_thousand_concurrent_arecords_lose_no_row(
        self, store: AuditStore
    ) -> None:
        ids = [f"req-{i:04d}" for i in range(1000)]
        await asyncio.gather(*(store.arecord(make_record(i)) for i in ids))
        stored = store.decisions(limit=5000)
        assert len(stored) == 1000
        assert sorted(r.request_id for r in stored) == ids

    def test_an_enqueued_review_is_pending_without_a_label(
        self, store: AuditStore
    ) -> None:
        review_id = store.enqueue_review(make_request())
        (item,) = store.pending_reviews()
        assert (item.id, item.request_id, item.status) == (
            review_id,
            "req-1",
            "pending",
        )
        assert (item.answer, item.confidence, item.label) == ("Isaac Asimov", 0.4, None)
        assert item.resolved_at is None

    def test_an_approved_review_leaves_the_queue_with_a_true_label(
        self, store: AuditStore
    ) -> None:
        review_id = store.enqueue_review(make_request())
        resolved = store.resolve_review(review_id, "approved", reviewer="ada")
        assert (resolved.status, resolved.reviewer, resolved.label) == (
            "approved",
            "ada",
            True,
        )
        assert resolved.resolved_at is not None
        assert store.pending_reviews() == []
        assert store.reviews("approved") == [resolved]

    async def test_an_edited_review_keeps_the_correction_and_a_false_label(
        self, store: AuditStore
    ) -> None:
        review_id = await store.aenqueue_review(make_request())
        store.resolve_review(review_id, "edited", edited_answer="Frank Herbert")
        (item,) = store.reviews("edited")
        assert (item.edited_answer, item.label) == ("Frank Herbert", False)

    def test_pending_reviews_come_oldest_first_up_to_the_limit(
        self, store: AuditStore
    ) -> None:
        ids = [store.enqueue_review(make_request(f"req-{i}")) for i in range(3)]
        assert [i.id for i in store.pending_reviews()] == ids
        assert [i.id for i in store.pending_reviews(limit=2)] == ids[:2]

    def test_reviews_filter_by_status(self, store: AuditStore) -> None:
        first, second = (store.enqueue_review(make_request(r)) for r in ("a", "b"))
        store.resolve_review(second, "rejected")
        assert [i.id for i in store.reviews()] == [first, second]
        assert [i.id for i in store.reviews("pending")] == [first]
        assert [i.id for i in store.reviews("rejected")] == [second]

    def test_reviewed_pairs_each_resolved_review_with_its_last_decision(
        self, store: AuditStore
    ) -> None:
        store.record(make_record("req-1", attempt=1, action="retry"))
        store.record(make_record("req-1", attempt=2, action="escalate"))
        store.record(make_record("req-2", attempt=1, action="escalate"))
        first = store.enqueue_review(make_request("req-1"))
        store.enqueue_review(make_request("req-2"))  # pending: left out
        orphan = store.enqueue_review(make_request("req-3"))  # no decision logged
        store.resolve_review(orphan, "rejected")
        store.resolve_review(first, "approved")
        cases = store.reviewed()
        assert [(c.item.id, c.item.status) for c in cases] == [
            (first, "approved"),
            (orphan, "rejected"),
        ]  # oldest review first, as `reviews()` lists them
        assert cases[0].decision is not None
        assert (cases[0].decision.attempt, cases[0].decision.action) == (2, "escalate")
        assert cases[0].decision.signals == SIGNALS
        assert cases[1].decision is None

    def test_resolving_an_unknown_review_raises_unknown_review_error(
        self, store: AuditStore
    ) -> None:
        with pytest.raises(UnknownReviewError, match="no review with id 'nope'") as e:
            store.resolve_review("nope", "approved")
        assert e.value.review_id == "nope"
        assert not isinstance(e.value, KeyError)
        assert store.review_history("nope") == []

    def test_a_second_resolution_raises_a_conflict_naming_the_first(
        self, store: AuditStore
    ) -> None:
        review_id = store.enqueue_review(make_request())
        first = store.resolve_review(review_id, "approved", reviewer="ada")
        with pytest.raises(ReviewConflictError) as conflict:
            store.resolve_review(review_id, "rejected", reviewer="bo")
        error = conflict.value
        assert isinstance(error, StoreError)
        assert (error.review_id, error.verdict, error.resolved_by) == (
            review_id,
            "approved",
            "ada",
        )
        assert error.resolved_at == first.resolved_at
        assert str(error) == (
            f"review {review_id} was already approved by ada "
            f"at {first.resolved_at.isoformat()}"  # type: ignore[union-attr]
        )
        assert store.reviews() == [first]

    def test_the_same_verdict_twice_is_a_conflict_too(self, store: AuditStore) -> None:
        review_id = store.enqueue_review(make_request())
        store.resolve_review(review_id, "rejected")
        with pytest.raises(ReviewConflictError, match="by an unnamed reviewer"):
            store.resolve_review(review_id, "rejected")

    def test_the_history_keeps_reviewer_note_and_verdict_of_the_winner_only(
        self, store: AuditStore
    ) -> None:
        review_id = store.enqueue_review(make_request())
        won = store.resolve_review(
            review_id,
            "edited",
            edited_answer="Frank Herbert",
            reviewer="ada",
            note="Asimov wrote Foundation",
        )
        with pytest.raises(ReviewConflictError):
            store.resolve_review(review_id, "approved", reviewer="bo", note="fine")
        (event,) = store.review_history(review_id)
        assert (event.review_id, event.verdict, event.reviewer, event.note) == (
            review_id,
            "edited",
            "ada",
            "Asimov wrote Foundation",
        )
        assert event.edited_answer == "Frank Herbert"
        assert event.created_at == won.resolved_at

    def test_an_unknown_verdict_is_an_input_error_and_changes_nothing(
        self, store: AuditStore
    ) -> None:
        review_id = store.enqueue_review(make_request())
        with pytest.raises(InputError, match="verdict"):
            store.resolve_review(review_id, "maybe")  # type: ignore[arg-type]
        assert [i.id for i in store.pending_reviews()] == [review_id]

    async def test_aresolve_review_is_the_same_compare_and_set(
        self, store: AuditStore
    ) -> None:
        review_id = await store.aenqueue_review(make_request())
        won = await store.aresolve_review(review_id, "approved", reviewer="ada")
        with pytest.raises(ReviewConflictError, match="approved by ada"):
            await store.aresolve_review(review_id, "rejected", reviewer="bo", note="x")
        with pytest.raises(UnknownReviewError):
            await store.aresolve_review("nope", "approved")
        assert store.reviews() == [won]
        assert [e.reviewer for e in store.review_history(review_id)] == ["ada"]


class TestInMemoryStore(StoreContract):
    """The contract on the in-process store."""

    @pytest.fixture
    def store(self) -> InMemoryStore:
        return InMemoryStore()

    def test_an_answer_is_kept_only_when_the_store_keeps_answers(self) -> None:
        digests_only, full = InMemoryStore(), InMemoryStore(store_answers=True)
        digests_only.record(make_record("a", answer="Paris"))
        full.record(make_record("b", answer="Paris"))
        (a,), (b,) = digests_only.decisions(), full.decisions()
        assert (a.answer, a.answer_digest) == (None, digest("Paris"))
        assert (b.answer, b.answer_digest) == ("Paris", digest("Paris"))


class SQLStoreContract(StoreContract):
    """What every SQLStore does; subclasses provide `url` and `lock_writes`."""

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def lock_writes(self, url: str) -> AbstractContextManager[None]:
        """A context in which another connection holds the write lock."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, url: str) -> Iterator[SQLStore]:
        with SQLStore(url, store_answers=True) as store:
            yield store

    def test_an_answer_is_kept_only_when_the_store_keeps_answers(
        self, url: str
    ) -> None:
        with SQLStore(url) as digests_only:
            digests_only.record(make_record("a", answer="Paris"))
        with SQLStore(url, store_answers=True) as full:
            full.record(make_record("b", answer="Paris"))
            a, b = full.decisions()
        assert (a.answer, a.answer_digest) == (None, digest("Paris"))
        assert (b.answer, b.answer_digest) == ("Paris", digest("Paris"))

    def test_rows_survive_closing_and_reopening(self, url: str) -> None:
        with SQLStore(url) as first:
            first.record(make_record())
            review_id = first.enqueue_review(make_request())
        with SQLStore(url) as second:
            assert second.decisions() == [make_record()]
            assert [i.id for i in second.pending_reviews()] == [review_id]

    def test_json_columns_round_trip_exact_floats_and_unicode(
        self, store: SQLStore
    ) -> None:
        signal = SignalResult(
            name="s", confidence=0.1, raw=1e-300, details={"x": 0.1 + 0.2, "é": "日本"}
        )
        store.record(make_record(signals=(signal,), metadata={"π": 3.141592653589793}))
        (back,) = store.decisions()
        assert back.signals == (signal,)
        assert back.signals[0].details["x"] == 0.30000000000000004
        assert back.metadata == {"π": 3.141592653589793}

    def test_created_at_reads_back_as_the_same_instant_in_utc(
        self, store: SQLStore
    ) -> None:
        paris = timezone(timedelta(hours=2))
        store.record(make_record(created_at=datetime(2025, 6, 1, 14, 0, tzinfo=paris)))
        (back,) = store.decisions()
        assert back.created_at == datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
        assert back.created_at.utcoffset() == timedelta(0)

    def test_labels_pair_confidence_with_whether_the_reviewer_approved(
        self, store: SQLStore
    ) -> None:
        verdicts: dict[str, Verdict | None] = {
            "a": "approved",
            "b": "edited",
            "c": "rejected",
            "d": None,
        }
        for request_id, verdict in verdicts.items():
            review_id = store.enqueue_review(make_request(request_id, 0.25))
            if verdict is not None:
                store.resolve_review(review_id, verdict)
        unknown = store.enqueue_review(make_request("e", confidence=None))
        store.resolve_review(unknown, "approved")
        assert store.labels() == [(0.25, True), (0.25, False), (0.25, False)]

    async def test_async_twins_answer_like_the_sync_methods(
        self, store: SQLStore
    ) -> None:
        await store.arecord(make_record())
        review_id = await store.aenqueue_review(make_request())
        assert await store.apending_reviews() == store.pending_reviews()
        resolved = await store.aresolve_review(review_id, "approved", reviewer="bo")
        assert await store.areviews("approved") == [resolved]
        assert await store.adecisions("req-1") == [make_record()]
        assert await store.alabels() == [(0.4, True)]

    def test_a_blocked_write_raises_store_error_and_keeps_earlier_rows(
        self, url: str, lock_writes: AbstractContextManager[None]
    ) -> None:
        with SQLStore(url, busy_timeout=0.05) as store:
            store.record(make_record("kept", 1))
            store.record(make_record("kept", 2))
            with lock_writes, pytest.raises(StoreError, match="could not write"):
                store.record(make_record("lost"))
            assert [r.attempt for r in store.decisions()] == [1, 2]
            store.record(make_record("after"))
            assert [r.request_id for r in store.decisions()] == [
                "kept",
                "kept",
                "after",
            ]

    def test_an_unserialisable_record_raises_store_error_and_writes_nothing(
        self, store: SQLStore
    ) -> None:
        with pytest.raises(StoreError, match="cannot serialise"):
            store.record(make_record(metadata={"handle": object()}))
        assert store.decisions() == []

    async def test_a_closed_store_refuses_work_with_store_error(
        self, store: SQLStore
    ) -> None:
        store.close()
        store.close()
        with pytest.raises(StoreError, match="is closed"):
            store.record(make_record())
        with pytest.raises(StoreError, match="is closed"):
            await store.arecord(make_record())
        with pytest.raises(StoreError, match="is closed"):
            store.decisions()


class TestSQLiteStore(SQLStoreContract):
    """The SQL contract on a SQLite file."""

    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/audit.sqlite"

    @pytest.fixture
    def lock_writes(self, tmp_path: Path) -> AbstractContextManager[None]:
        @contextmanager
        def exclusive() -> Iterator[None]:
            other = sqlite3.connect(tmp_path / "audit.sqlite", isolation_level=None)
            other.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                other.rollback()
                other.close()

        return exclusive()


def test_sqlite_runs_in_wal_mode_with_normal_sync_and_the_busy_timeout(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/a.sqlite"
    with SQLStore(url, busy_timeout=1.5) as store, store.engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout")
        }
    assert pragma == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 1500}


def test_a_sqlite_file_in_missing_folders_is_created(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "audit.sqlite"
    with SQLStore(f"sqlite:///{path}") as store:
        store.record(make_record())
    assert path.is_file()


async def test_an_in_memory_sqlite_store_is_shared_by_every_thread() -> None:
    with SQLStore("sqlite://") as store:
        await asyncio.gather(*(store.arecord(make_record(f"r{i}")) for i in range(50)))
        assert len(await store.adecisions()) == 50


def test_an_unreachable_url_raises_store_error_naming_it_with_the_password_masked() -> (
    None
):
    url = "postgresql+psycopg://bob:s3cret@127.0.0.1:1/audit"
    with pytest.raises(StoreError) as caught:
        SQLStore(url)
    message = str(caught.value)
    assert "postgresql+psycopg://bob:***@127.0.0.1:1/audit" in message
    assert "s3cret" not in message
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "not a database URL"),
        ("nosuchdb://u:pw@host/db", "cannot open audit store nosuchdb://u:***@host/db"),
        ("sqlite:////proc/no/such/dir/a.sqlite", "cannot open audit store sqlite:"),
    ],
)
def test_a_bad_url_raises_store_error_at_construction(url: str, expected: str) -> None:
    with pytest.raises(StoreError, match=re.escape(expected)):
        SQLStore(url)


def test_the_repr_and_url_never_show_the_password(tmp_path: Path) -> None:
    with SQLStore(f"sqlite:///{tmp_path}/a.sqlite") as store:
        assert repr(store) == f"SQLStore('sqlite:///{tmp_path}/a.sqlite')"


def test_one_sqlite_record_takes_well_under_a_millisecond(
    sqlite_store: SQLStore,
) -> None:
    record = make_record()
    timings = []
    for _ in range(300):
        start = time.perf_counter()
        sqlite_store.record(record)
        timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 0.001


def test_the_tables_have_the_documented_columns(sqlite_store: SQLStore) -> None:
    with sqlite_store.engine.connect() as connection:
        columns = {
            table: [
                row[1]
                for row in connection.execute(text(f"PRAGMA table_info({table})"))
            ]
            for table in ("decisions", "reviews", "review_events")
        }
    assert columns["decisions"] == [
        *("id", "request_id", "attempt", "created_at", "question", "answer_digest"),
        *("answer", "confidence", "action", "reason", "strategy", "route"),
        *("signals", "latency_seconds", "llm_calls", "tokens", "cost_seconds"),
        "metadata",
    ]
    assert columns["reviews"] == [
        *("id", "request_id", "question", "answer", "confidence", "reason"),
        *("status", "edited_answer", "reviewer", "created_at", "resolved_at"),
    ]
    assert columns["review_events"] == [
        *("id", "review_id", "verdict", "reviewer", "note", "edited_answer"),
        "created_at",
    ]


# -- the `confguard review` command ---------------------------------------------


def review_cli(*args: str) -> tuple[int, str]:
    """Run `confguard review ARGS` in this process; (exit code, output)."""
    from confguard.cli import main
    from confguard.cli.output import console

    with console.capture() as captured:
        code = main(["review", *args])
    return code, captured.get()


@pytest.fixture
def queued(tmp_path: Path) -> tuple[str, str]:
    """(store URL, id of one pending review in it)."""
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    with SQLStore(url) as store:
        return url, store.enqueue_review(make_request())


def test_the_review_command_resolves_once_and_exits_1_on_a_second_verdict(
    queued: tuple[str, str],
) -> None:
    url, review_id = queued
    assert review_cli("approve", review_id, "--store", url, "--reviewer", "ada") == (
        0,
        f"review {review_id}: approved\n",
    )
    code, out = review_cli("reject", review_id, "--store", url, "--reviewer", "bo")
    assert code == 1
    assert out.count("\n") == 1
    assert out.startswith(f"error: review {review_id} was already approved by ada at ")
    with SQLStore(url) as store:
        assert [i.status for i in store.reviews()] == ["approved"]


def test_the_review_command_records_reviewer_and_note(
    queued: tuple[str, str],
) -> None:
    url, review_id = queued
    code, _ = review_cli(
        *("edit", review_id, "--store", url, "--answer", "Frank Herbert"),
        *("--reviewer", "ada", "--note", "Asimov wrote Foundation"),
    )
    assert code == 0
    with SQLStore(url) as store:
        (event,) = store.review_history(review_id)
    assert (event.verdict, event.edited_answer) == ("edited", "Frank Herbert")
    assert (event.reviewer, event.note) == ("ada", "Asimov wrote Foundation")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("approve", "nope"), "error: no review with id 'nope' in sqlite:///"),
        (("approve",), "error: give the review id to resolve"),
        (("edit", "ID"), "error: `edit` needs the corrected answer: --answer TEXT"),
        (("approve", "ID", "--answer", "x"), "error: --answer goes with `edit`"),
    ],
)
def test_bad_review_input_exits_2_with_one_line(
    queued: tuple[str, str], args: tuple[str, ...], message: str
) -> None:
    url, review_id = queued
    args = tuple(review_id if a == "ID" else a for a in args)
    code, out = review_cli(*args, "--store", url)
    assert code == 2
    assert out.startswith(message)
    assert out.count("\n") == 1


def test_the_review_command_refuses_a_store_that_does_not_exist(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "typo.sqlite"
    code, out = review_cli("list", "--store", f"sqlite:///{missing}")
    assert code == 2
    assert out.startswith(f"error: --store: no audit store at {missing}")
    assert not missing.exists()


async def test_close_commits_every_write_still_queued(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    store = SQLStore(url)
    writes = [
        asyncio.ensure_future(store.arecord(make_record(f"r{n}"))) for n in range(50)
    ]
    await asyncio.sleep(0)  # every write is queued; few, if any, are committed
    await store.aclose()
    await asyncio.gather(*writes)  # none was refused for the close
    with SQLStore(url) as reopened:
        assert len(reopened.decisions()) == 50
