"""The verdict GuardedQueryEngine puts in ``Response.metadata["confguard"]``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from confguard.results import (
    Action,
    AttemptRecord,
    GuardResult,
    SignalSummary,
)
from pydantic import BaseModel, ConfigDict, ValidationError

VERDICT_KEY = "confguard"
"""The Response.metadata key that holds the verdict."""

IssueCode = Literal[
    "empty_response",
    "node_without_text",
    "no_llm_call",
    "no_logprobs",
    "unreadable_logprobs",
    "all_nodes_dropped",
    "nodes_below_threshold",
    "strategy_without_engine",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Issue(_Frozen):
    """Something about an attempt's input that confguard could not use, explicitly."""

    code: IssueCode
    attempt: int
    detail: str


class AttemptSummary(_Frozen):
    """What one attempt was, and what the policy decided about it."""

    number: int
    strategy: str | None = None
    route: str | None = None
    action: Action
    reason: str
    confidence: float | None = None

    @classmethod
    def of(cls, record: AttemptRecord) -> AttemptSummary:
        """The summary of an AttemptRecord."""
        strategy = record.attempt.strategy
        return cls(
            number=record.attempt.number,
            strategy=strategy.name if strategy else None,
            route=record.attempt.route,
            action=record.decision.action,
            reason=record.decision.reason,
            confidence=record.assessment.confidence,
        )


class Verdict(_Frozen):
    """The guard's decision on a query, with every attempt, signal and input issue.

    Example:
        >>> verdict = Verdict.of(engine.query("Who won Super Bowl 50?"))
        >>> verdict.action, verdict.confidence, [i.code for i in verdict.issues]
        ('accept', 0.91, [])
    """

    action: Action
    reason: str
    confidence: float | None = None
    guard_action: Action
    """The guard's own decision; differs from `action` only when an empty response
    was refused although the guard accepted it."""
    caveat: str | None = None
    judged_answer: str | None = None
    """The final attempt's answer as the guard judged it, also when refused (keep
    it for audit and evaluation; do not show a refused answer to users)."""
    issues: tuple[Issue, ...] = ()
    signals: tuple[SignalSummary, ...] = ()
    attempts: tuple[AttemptSummary, ...] = ()
    review_id: str | None = None
    latency_seconds: float = 0.0

    @property
    def accepted(self) -> bool:
        """True when the answer was accepted or annotated."""
        return self.action in ("accept", "annotate")

    @classmethod
    def of(cls, response: Any) -> Verdict:
        """The verdict stored in a response's metadata (ValueError if there is none)."""
        metadata = getattr(response, "metadata", None) or {}
        raw = metadata.get(VERDICT_KEY)
        if raw is None:
            raise ValueError(
                "the response carries no confguard verdict "
                f'(metadata["{VERDICT_KEY}"]); was it returned by GuardedQueryEngine?'
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ValueError(f"the confguard verdict is malformed: {exc}") from exc

    @classmethod
    def from_result(
        cls, result: GuardResult, *, override: tuple[Action, str] | None = None
    ) -> Verdict:
        """The verdict of a GuardResult; `override` replaces the action and reason."""
        decision = result.decision
        action, reason = override or (decision.action, decision.reason)
        caveat = getattr(decision, "caveat", None) if override is None else None
        return cls(
            action=action,
            reason=reason,
            confidence=result.confidence,
            guard_action=decision.action,
            caveat=caveat,
            judged_answer=result.attempts[-1].observation.answer,
            issues=tuple(issues_of(result.attempts)),
            signals=tuple(SignalSummary.of(s) for s in result.assessment.signals),
            attempts=tuple(AttemptSummary.of(r) for r in result.attempts),
            review_id=result.review_id,
            latency_seconds=result.latency_seconds,
        )


def issues_of(records: Iterable[AttemptRecord]) -> list[Issue]:
    """The issues every attempt's observation recorded, in attempt order."""
    found = []
    for record in records:
        for raw in record.observation.metadata.get("issues", ()):
            try:
                found.append(Issue.model_validate(raw))
            except ValidationError:
                continue  # metadata written by another pipeline: not ours
    return found


__all__ = [
    "VERDICT_KEY",
    "AttemptSummary",
    "Issue",
    "IssueCode",
    "SignalSummary",
    "Verdict",
    "issues_of",
]
