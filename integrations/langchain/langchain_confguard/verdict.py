"""The verdict a guarded call returns beside its output, and where to find it.

It lives in ``message.response_metadata["confguard"]`` for message outputs, in
``output["confguard"]`` for dict outputs, in ``document.metadata["confguard"]``
for Documents and in a ``verdict`` field of pydantic outputs that have one.
`Verdict.of(output)` reads it back from any of them. A plain-string output has no
room for it: ask for the whole `GuardResult` with ``return_result=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, ConfigDict

from confguard.results import (
    Action,
    Annotate,
    Escalate,
    GuardResult,
    SignalSummary,
)

METADATA_KEY = "confguard"
Review = Literal["approve", "edit", "reject"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Verdict(_Frozen):
    """What the guard decided about an answer, in JSON-safe form.

    Example:
        >>> message = guarded.invoke("Who won Super Bowl 50?")
        >>> Verdict.of(message).action, Verdict.of(message).confidence
        ('accept', 0.91)
    """

    action: Action
    reason: str
    confidence: float | None
    answer: str | None
    """The text the caller was given."""
    attempts: int
    caveat: str | None = None
    route: str | None = None
    review_id: str | None = None
    signals: tuple[SignalSummary, ...] = ()
    review: Review | None = None
    """Set by HumanEscalationMiddleware once a person approved, edited or rejected."""

    @classmethod
    def from_result(cls, result: GuardResult, answer: str | None = None) -> Verdict:
        """The verdict of a guard result; `answer` overrides the text given."""
        decision = result.decision
        return cls(
            action=decision.action,
            reason=decision.reason,
            confidence=result.confidence,
            answer=result.answer if answer is None else answer,
            attempts=len(result.attempts),
            caveat=decision.caveat if isinstance(decision, Annotate) else None,
            route=decision.route if isinstance(decision, Escalate) else None,
            review_id=result.review_id,
            signals=tuple(SignalSummary.of(s) for s in result.assessment.signals),
        )

    @classmethod
    def of(cls, output: Any) -> Verdict | None:
        """The verdict attached to a guarded output, or None if it carries none.

        Example:
            >>> Verdict.of(guarded.invoke({"question": "..."})).action
            'abstain'
        """
        raw = _attached(output)
        if raw is None or isinstance(raw, Verdict):
            return raw
        return cls.model_validate(raw)

    def to_metadata(self) -> dict[str, Any]:
        """The verdict as the JSON-safe dict stored in metadata."""
        return self.model_dump(mode="json")

    @property
    def accepted(self) -> bool:
        """True when the answer was accepted or annotated."""
        return self.action in ("accept", "annotate")


def _attached(output: Any) -> Any:
    if isinstance(output, BaseMessage):
        return output.response_metadata.get(METADATA_KEY)
    if isinstance(output, Document):
        return output.metadata.get(METADATA_KEY)
    if isinstance(output, Mapping):
        return output.get(METADATA_KEY)
    return getattr(output, "verdict", None)


__all__ = ["METADATA_KEY", "Review", "SignalSummary", "Verdict"]
