"""Seeded review cases for the console's example, tests, screenshots and benchmark.

Each case is written as the guard writes an escalation (an `escalate` decision
with its signals, routed to `review`, and the queue entry), plus the retrieved
passages in the decision's metadata so the case page can show them. No LLM.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from confguard.results import SignalResult
from confguard.store.base import AuditRecord, AuditStore, ReviewRequest, digest

ROUTE = "review"


class DemoCase(BaseModel):
    """One escalated answer: question, answer, passages and signal confidences."""

    model_config = ConfigDict(frozen=True)

    question: str
    answer: str
    contexts: tuple[str, ...] = ()
    signals: dict[str, float | None] = {}
    route: str = ROUTE


def _results(signals: dict[str, float | None]) -> tuple[SignalResult, ...]:
    return tuple(
        SignalResult(name=name, confidence=value)
        if value is not None
        else SignalResult.failed(name, "timed out after 2.0 s")
        for name, value in signals.items()
    )


def seed_case(store: AuditStore, case: DemoCase) -> str:
    """Record `case` as an escalated decision and queue it; returns the review id."""
    given = [v for v in case.signals.values() if v is not None]
    confidence = sum(given) / len(given) if given else None
    request_id = uuid.uuid4().hex
    shown = "none" if confidence is None else f"{confidence:.2f}"
    reason = f"confidence {shown} < accept 0.70: escalated to {case.route}"
    store.record(
        AuditRecord(
            request_id=request_id,
            attempt=1,
            question=case.question,
            answer_digest=digest(case.answer),
            answer=case.answer,
            confidence=confidence,
            action="escalate",
            reason=reason,
            route=case.route,
            signals=_results(case.signals),
            latency_seconds=0.05,
            metadata={
                "contexts": [
                    {"text": t, "source": f"doc-{i + 1}"}
                    for i, t in enumerate(case.contexts)
                ]
            },
        )
    )
    return store.enqueue_review(
        ReviewRequest(
            request_id=request_id,
            question=case.question,
            answer=case.answer,
            confidence=confidence,
            reason=reason,
        )
    )


DEMO_CASES: tuple[DemoCase, ...] = (
    DemoCase(
        question="Which NFL team represented the AFC at Super Bowl 50?",
        answer="The Denver Broncos",
        contexts=(
            "The American Football Conference (AFC) champion Denver Broncos defeated "
            "the National Football Conference (NFC) champion Carolina Panthers.",
            "The game was played on February 7, 2016, at Levi's Stadium.",
        ),
        signals={"answer_support": 1.0, "avg_logprob": 0.52, "hedging": 0.4},
    ),
    DemoCase(
        question="Where did Super Bowl 50 take place?",
        answer="In Miami, Florida",
        contexts=(
            "The game was played at Levi's Stadium in the San Francisco Bay Area at "
            "Santa Clara, California.",
        ),
        signals={"answer_support": 0.0, "avg_logprob": 0.41, "hedging": 0.7},
    ),
    DemoCase(
        question="Who wrote Dune?",
        answer="Isaac Asimov",
        contexts=("Dune is a 1965 science fiction novel by Frank Herbert.",),
        signals={"answer_support": 0.0, "avg_logprob": 0.35, "hedging": None},
        route="oncall",
    ),
    DemoCase(
        question="What colour was used to emphasize the 50th anniversary?",
        answer="Gold",
        contexts=(
            "The league emphasized the golden anniversary with various gold-themed "
            "initiatives.",
        ),
        signals={"answer_support": 0.9, "avg_logprob": 0.6, "hedging": 0.55},
    ),
)


def seed_demo(store: AuditStore) -> list[str]:
    """The demo cases, queued; their review ids."""
    return [seed_case(store, case) for case in DEMO_CASES]


def seed_random(store: AuditStore, n: int, seed: int = 0) -> list[str]:
    """`n` generated cases with varied confidences (for load and paging)."""
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        support = round(rng.random(), 3)
        case = DemoCase(
            question=f"Generated question {i}: what is item {rng.randint(1, 999)}?",
            answer=f"answer {i}",
            contexts=(f"Passage about item {i} and answer {i}.",),
            signals={"answer_support": support, "avg_logprob": round(rng.random(), 3)},
        )
        ids.append(seed_case(store, case))
    return ids


def seed_verdicts(
    store: AuditStore, n: int, *, seed: int, right_above: float, flip: float = 0.0
) -> list[str]:
    """`n` cases resolved by reviewer "bo": right when their answer support is
    above `right_above`, the verdict flipped with probability `flip` (labels for
    the dashboard and the calibration page)."""
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        support = rng.random()
        case = DemoCase(
            question=f"Archived question {i}",
            answer=f"answer {i}",
            signals={"answer_support": support, "avg_logprob": rng.random()},
        )
        review_id = seed_case(store, case)
        right = (support > right_above) != (rng.random() < flip)
        store.resolve_review(
            review_id, "approved" if right else "rejected", reviewer="bo"
        )
        ids.append(review_id)
    return ids


def demo_signal_names(cases: Sequence[DemoCase] = DEMO_CASES) -> list[str]:
    """Every signal name the demo cases carry."""
    return sorted({name for case in cases for name in case.signals})


__all__ = [
    "DEMO_CASES",
    "DemoCase",
    "demo_signal_names",
    "seed_case",
    "seed_demo",
    "seed_random",
    "seed_verdicts",
]
