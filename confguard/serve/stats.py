"""The dashboard's figures: decisions by action and day, confidences, verdict metrics.

Read from the store in a bounded window (the latest `DECISION_WINDOW` decisions);
the verdict metrics are computed from reviewers' labels, with their counts. Under a
policy with strata, each label is judged at the accept threshold that banded its
request (its stratum's, read off the decision's signals), and each stratum's error
is shown apart: one stratum's threshold says nothing of another's requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Row, func, select

from confguard.evaluation.metrics import auroc, reliability
from confguard.policy.model import Policy
from confguard.policy.strata import Stratum
from confguard.results import Action, SignalResult
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


class StratumFigures(_Frozen):
    """The verdicts' error at one stratum's accept threshold."""

    stratum: str | None
    """The stratum's name, or its condition's rendering when it has none (None: the
    requests no stratum picks out, banded by the policy's own thresholds)."""
    threshold: float | None
    labels: int
    accepted_labels: int
    accepted_error: float | None


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
    """The policy's own accept threshold."""
    accepted_labels: int
    """Labels at or above the accept threshold that banded them (what the error
    rate is measured on)."""
    accepted_error: float | None
    strata: tuple[StratumFigures, ...] = ()
    """Per stratum, then the rest, when the policy has strata; else empty."""


@dataclass(frozen=True)
class _Label:
    confidence: float
    correct: bool
    stratum: str | None
    threshold: float | None

    @property
    def accepted(self) -> bool:
        return self.threshold is not None and self.confidence >= self.threshold


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


def _statuses(connection: Connection) -> dict[str, int]:
    c = REVIEWS.c
    query = select(c.status, func.count()).group_by(c.status)
    return dict(connection.execute(query).all())


def _labels(connection: Connection, policy: Policy) -> list[_Label]:
    """Resolved reviews with a confidence, each with the accept threshold that
    banded its request (read off its last decision's signals under strata)."""
    r, d = REVIEWS.c, DECISIONS.c
    resolved = (r.status != "pending", r.confidence.is_not(None))
    if not policy.strata:
        query = select(r.id, r.confidence, r.status).where(*resolved)
    else:
        query = (
            select(r.id, r.confidence, r.status, d.signals)
            .outerjoin(DECISIONS, d.request_id == r.request_id)
            .where(*resolved)
            .order_by(d.id)  # a review's last row: its last decision, as reviewed()
        )
    rows = {row.id: row for row in connection.execute(query)}
    return [_label(row, policy) for row in rows.values()]


def _label(row: Row[Any, Any, Any], policy: Policy) -> _Label:
    stored = row._mapping.get("signals") or ()
    results = {s.name: s for s in map(SignalResult.model_validate, stored)}
    thresholds, stratum = policy.thresholds_for(results)
    return _Label(
        confidence=float(row.confidence),
        correct=row.status == "approved",
        stratum=_named(stratum) if stratum else None,
        threshold=thresholds.accept,
    )


def _named(stratum: Stratum) -> str:
    return stratum.name or stratum.when.render()


def _accepted(labels: Sequence[_Label]) -> tuple[int, float | None]:
    """(labels accepted at their thresholds, the share of them that were wrong)."""
    accepted = [label for label in labels if label.accepted]
    wrong = sum(not label.correct for label in accepted)
    return len(accepted), (wrong / len(accepted) if accepted else None)


def _by_stratum(labels: Sequence[_Label], policy: Policy) -> tuple[StratumFigures, ...]:
    if not policy.strata:
        return ()
    bands = [(_named(s), s.thresholds.accept) for s in policy.strata]
    figures = []
    for name, threshold in [*bands, (None, policy.thresholds.accept)]:
        mine = [label for label in labels if label.stratum == name]
        accepted, error = _accepted(mine)
        figures.append(
            StratumFigures(
                stratum=name,
                threshold=threshold,
                labels=len(mine),
                accepted_labels=accepted,
                accepted_error=error,
            )
        )
    return tuple(figures)


def _by_day(rows: list[tuple[object, str, float | None]]) -> tuple[DayCount, ...]:
    days: dict[date, Counter[str]] = {}
    for created, action, _ in rows:
        day = as_utc(created).date()  # type: ignore[arg-type]
        days.setdefault(day, Counter())[action] += 1
    return tuple(
        DayCount(day=d, counts={a: days[d].get(a, 0) for a in ACTIONS})
        for d in sorted(days)
    )


def stats(store: SQLStore, policy: Policy) -> Stats:
    """The dashboard's figures under `policy` (the console's current one)."""
    rows = _decisions(store)
    by_action = Counter(action for _, action, _ in rows)
    histograms = {
        a: _histogram([c for _, action, c in rows if action == a and c is not None])
        for a in ACTIONS
    }
    with transaction(store.engine, "read verdicts") as connection:
        statuses, labels = _statuses(connection), _labels(connection, policy)
    confidence = [label.confidence for label in labels]
    correct = [label.correct for label in labels]
    accepted, error = _accepted(labels)
    return Stats(
        decisions=len(rows),
        by_action={a: by_action.get(a, 0) for a in ACTIONS},
        by_day=_by_day(rows),
        histograms=histograms,
        reviews={
            s: statuses.get(s, 0) for s in ("pending", "approved", "edited", "rejected")
        },
        labels=len(labels),
        reliability=tuple(
            Bin(confidence=b.confidence, accuracy=b.accuracy, count=b.count)
            for b in (reliability(confidence, correct, BINS) if confidence else ())
        ),
        auroc=auroc(confidence, correct) if len(confidence) > 1 else None,
        threshold=policy.thresholds.accept,
        accepted_labels=accepted,
        accepted_error=error,
        strata=_by_stratum(labels, policy),
    )


__all__ = ["ACTIONS", "Bin", "DayCount", "Stats", "StratumFigures", "stats"]
