"""Text no database can hold is repaired on the way in, and the decision is recorded.

A lone surrogate (what ``json.loads`` makes of an emoji cut in half) is written as
U+FFFD and NUL as the four characters ``\\x00``, in every text and JSON column, on
SQLite and (when configured) PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from confguard import Guard, Policy
from confguard.observation import Observation
from confguard.results import SignalResult
from confguard.routes import ReviewQueueRoute
from confguard.signals import FunctionSignal
from confguard.store import AuditRecord, SQLStore, digest
from confguard.store.text import storable, storable_json

CUT_EMOJI = json.loads('"cut \\ud83d emoji"')
"""A lone high surrogate, as a truncated JSON payload decodes."""
assert CUT_EMOJI == "cut \ud83d emoji"

DIRTY = f"{CUT_EMOJI}, NUL \x00, low \udc00, whole 😀"
CLEAN = "cut \ufffd emoji, NUL \\x00, low \ufffd, whole 😀"

POLICY = Policy.from_dict(
    {
        "thresholds": {"accept": 0.8, "annotate": 0.6, "escalate": 0.2},
        "escalate": {"route": "review", "pending_message": "a human will answer"},
    }
)


def repaired(mapping: dict[str, object]) -> dict[str, object]:
    """`mapping` after a round trip, with its keys checked and set aside.

    pydantic serialises a dict key with a lone surrogate byte by byte (three U+FFFD
    for one surrogate) before the store sees it; keys are checked to be storable.
    """
    for key in mapping:
        assert storable(key) == key, key
    return {(CLEAN if key.startswith("cut ") else key): v for key, v in mapping.items()}


def dirty_signal(obs: Observation) -> SignalResult:
    """A signal whose details quote the dirty text, in keys and values."""
    return SignalResult(
        name="quoting",
        confidence=0.3,
        raw=0.3,
        details={"quote": obs.answer, DIRTY: [DIRTY, 1]},
    )


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    """A store that keeps answers, on a SQLite file or the test PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/audit.sqlite"
    else:
        url = request.getfixturevalue("postgres_url")
    with SQLStore(url, store_answers=True) as store:
        yield store


def test_storable_repairs_surrogates_and_escapes_nul_only() -> None:
    assert storable(DIRTY) == CLEAN
    assert storable("naïve ✓ 日本") == "naïve ✓ 日本"
    assert storable("\ud83d\ude00") == "😀"  # a pair spelled as two code points
    assert json.loads(storable_json({DIRTY: [DIRTY]})) == {CLEAN: [CLEAN]}


def test_a_check_on_dirty_text_is_recorded_with_the_text_repaired(
    store: SQLStore,
) -> None:
    guard = Guard(
        [FunctionSignal(dirty_signal)],
        POLICY,
        store=store,
        routes={"review": ReviewQueueRoute(store)},
    )
    result = guard.check(Observation(question=DIRTY, answer=DIRTY))
    assert result.decision.action == "escalate"
    (row,) = store.decisions(request_id=result.request_id)
    assert (row.question, row.answer, row.action) == (CLEAN, CLEAN, "escalate")
    assert row.answer_digest == digest(DIRTY)
    assert repaired(row.signals[0].details) == {"quote": CLEAN, CLEAN: [CLEAN, 1]}
    (item,) = store.pending_reviews()
    assert (item.question, item.answer) == (CLEAN, CLEAN)


def test_a_dirty_record_is_written_whole(store: SQLStore) -> None:
    record = AuditRecord(
        request_id=DIRTY,
        attempt=1,
        question="q",
        answer_digest=digest(DIRTY),
        confidence=None,
        action="abstain",
        reason=DIRTY,
        strategy=DIRTY,
        route=DIRTY,
        latency_seconds=0.0,
        metadata={DIRTY: DIRTY, "list": [DIRTY, {"k": DIRTY}]},
    )
    store.record(record)
    (row,) = store.decisions()
    assert (row.request_id, row.reason, row.strategy, row.route) == (CLEAN,) * 4
    assert repaired(row.metadata) == {CLEAN: CLEAN, "list": [CLEAN, {"k": CLEAN}]}


def test_a_dirty_verdict_is_resolved_with_its_text_repaired(store: SQLStore) -> None:
    guard = Guard(
        [FunctionSignal(dirty_signal)],
        POLICY,
        store=store,
        routes={"review": ReviewQueueRoute(store)},
    )
    guard.check(Observation(question="q", answer="a"))
    (item,) = store.pending_reviews()
    resolved = store.resolve_review(
        item.id, "edited", edited_answer=DIRTY, reviewer=DIRTY, note=DIRTY
    )
    assert (resolved.edited_answer, resolved.reviewer) == (CLEAN, CLEAN)
    (event,) = store.review_history(item.id)
    assert (event.edited_answer, event.reviewer, event.note) == (CLEAN,) * 3
