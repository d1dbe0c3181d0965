"""The dashboard's figures: decisions by action and day, confidences, verdict metrics.

Read from the store in a bounded window (the latest `DECISION_WINDOW` decisions);
the verdict metrics are computed from reviewers' labels, with their counts.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from confguard.evaluation.metrics import auroc, reliability, selective
from confguard.results import Action
from confguard.store.accounts import transaction
from confguard.store.schema import DECISIONS, REVIEWS, as_utc
from confguard.store.sql import SQLStore

ACTIONS: tuple[Action, ...] = ("accept", "annotate", "retry", "escalate", "abstain")
DECISION_WINDOW = 20_000
BINS = 10


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class DayCount(_Frozen):
    """How many decisions of each action were made on one day (UTC)."""

    day: date
    counts: dict[str, int]


class Bin(_Frozen):
    """One reliability bin: mean confidence, share right, and how many labels."""

    confidence: float
    accuracy: float
    count: int


class Stats(_Frozen):
    """Everything the dashboard and `GET /api/stats` show."""

    decisions: int
    by_action: dict[str, int]
    by_day: tuple[DayCount, ...]
    histograms: dict[str, tuple[int, ...]]
    """Per action: counts of confidences in ten equal bins of [0, 1]."""
    reviews: dict[str, int]
    labels: int
    """Resolved reviews with a confidence: the labels behind the figures below."""
    reliability: tuple[Bin, ...]
    auroc: float | None
    threshold: float | None
    accepted_labels: int
    """Labels at or above the threshold (what the error rate is measured on)."""
    accepted_error: float | None


def _histogram(values: list[float]) -> tuple[int, ...]:
    counts = [0] * BINS
    for v in values:
        counts[min(BINS - 1, int(v * BINS))] += 1
    return tuple(counts)


def _decisions(store: SQLStore) -> list[tuple[object, str, float | None]]:
    c = DECISIONS.c
    query = (
        select(c.created_at, c.action, c.confidence)
        .order_by(c.id.desc())
        .limit(DECISION_WINDOW)
    )
    with transaction(store.engine, "read decisions") as connection:
        return [
            (r.created_at, r.action, r.confidence) for r in connection.execute(query)
        ]


def _labels(store: SQLStore) -> tuple[list[float], list[bool], dict[str, int]]:
    c = REVIEWS.c
    with transaction(store.engine, "read verdicts") as connection:
        statuses: dict[str, int] = dict(
            connection.execute(select(c.status, func.count()).group_by(c.status)).all()
        )
        rows = connection.execute(
            select(c.confidence, c.status).where(
                c.status != "pending", c.confidence.is_not(None)
            )
        ).all()
    confidence = [float(r.confidence) for r in rows]
    return confidence, [r.status == "approved" for r in rows], statuses


def _by_day(rows: list[tuple[object, str, float | None]]) -> tuple[DayCount, ...]:
    days: dict[date, Counter[str]] = {}
    for created, action, _ in rows:
        day = as_utc(created).date()  # type: ignore[arg-type]
        days.setdefault(day, Counter())[action] += 1
    return tuple(
        DayCount(day=d, counts={a: days[d].get(a, 0) for a in ACTIONS})
        for d in sorted(days)
    )


def stats(store: SQLStore, threshold: float | None) -> Stats:
    """The dashboard's figures, with `threshold` the current accept threshold."""
    rows = _decisions(store)
    by_action = Counter(action for _, action, _ in rows)
    histograms = {
        a: _histogram([c for _, action, c in rows if action == a and c is not None])
        for a in ACTIONS
    }
    confidence, correct, statuses = _labels(store)
    chosen = None
    if confidence and threshold is not None:
        chosen = selective(confidence, correct, threshold)
    return Stats(
        decisions=len(rows),
        by_action={a: by_action.get(a, 0) for a in ACTIONS},
        by_day=_by_day(rows),
        histograms=histograms,
        reviews={
            s: statuses.get(s, 0) for s in ("pending", "approved", "edited", "rejected")
        },
        labels=len(confidence),
        reliability=tuple(
            Bin(confidence=b.confidence, accuracy=b.accuracy, count=b.count)
            for b in (reliability(confidence, correct, BINS) if confidence else ())
        ),
        auroc=auroc(confidence, correct) if len(confidence) > 1 else None,
        threshold=threshold,
        accepted_labels=chosen.accepted if chosen else 0,
        accepted_error=chosen.risk if chosen else None,
    )


__all__ = ["ACTIONS", "Bin", "DayCount", "Stats", "stats"]
