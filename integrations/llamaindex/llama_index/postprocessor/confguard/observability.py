"""The guard's decision where LlamaIndex users look: one event, one tagged span.

`GuardedQueryEngine` dispatches one `ConfguardVerdictEvent` per guarded query
through LlamaIndex's instrumentation dispatcher, so every event handler on it
(Arize Phoenix's, a user's) sees the decision. The event is dispatched inside
the query's span, so its ``span_id`` names that span; the same decision is also
written into the span's ``tags`` (``confguard.*`` keys) in every span handler
that holds it open, so a span handler reads it at ``span_exit``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from confguard.exceptions import LowConfidenceError
from confguard.results import Action, GuardResult, Verdict
from llama_index.core.instrumentation.events import BaseEvent
from llama_index_instrumentation.dispatcher import Dispatcher
from llama_index_instrumentation.span_handlers import BaseSpanHandler
from pydantic import ConfigDict

TAG_PREFIX = "confguard."
"""The namespace of the decision's keys in span tags."""


class ConfguardVerdictEvent(BaseEvent):
    """The guard's decision on one query, dispatched once inside the query's span.

    `raised` says the policy raised `LowConfidenceError` instead of returning the
    refusal. `verdict` is None only when the guard itself raised (the error carries
    none; its `request_id` is kept); the action, reason and confidence are set then.

    Example:
        >>> class Decisions(BaseEventHandler):
        ...     def handle(self, event, **kwargs):
        ...         if isinstance(event, ConfguardVerdictEvent):
        ...             print(event.action, event.confidence, event.request_id)
        >>> get_dispatcher().add_event_handler(Decisions())
    """

    model_config = ConfigDict(frozen=True)

    action: Action
    reason: str
    confidence: float | None = None
    request_id: str | None = None
    """Links the decision to its rows in the audit store."""
    route: str | None = None
    """The escalation route, when the question was escalated."""
    raised: bool = False
    """The refusal was raised as `LowConfidenceError` rather than returned."""
    verdict: Verdict | None = None
    """The whole decision, as stored in ``Response.metadata["confguard"]``."""

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex shows for this event."""
        return "ConfguardVerdictEvent"

    @classmethod
    def of(
        cls, result: GuardResult, verdict: Verdict, *, raised: bool = False
    ) -> ConfguardVerdictEvent:
        """The event of a verdict (`raised`: refused by raising, not returned)."""
        return cls(
            action=verdict.action,
            reason=verdict.reason,
            confidence=verdict.confidence,
            request_id=result.request_id,
            route=verdict.route,
            raised=raised,
            verdict=verdict,
        )

    @classmethod
    def of_error(cls, error: LowConfidenceError) -> ConfguardVerdictEvent:
        """The event of a refusal the policy raised instead of returning."""
        return cls(
            action=error.decision.action,
            reason=error.decision.reason,
            confidence=error.assessment.confidence,
            request_id=error.request_id,
            raised=True,
        )

    def span_tags(self) -> dict[str, str | float | bool]:
        """The decision as flat ``confguard.*`` tags (unset fields left out).

        Example:
            >>> event.span_tags()
            {'confguard.action': 'accept', 'confguard.reason': '...', ...}
        """
        fields = {
            "action": self.action,
            "reason": self.reason,
            "confidence": self.confidence,
            "request_id": self.request_id,
            "route": self.route,
            "raised": self.raised,
        }
        return {TAG_PREFIX + k: v for k, v in fields.items() if v is not None}


def announce(dispatcher: Dispatcher, event: ConfguardVerdictEvent) -> None:
    """Dispatch `event` and tag the span it names in every handler holding it."""
    dispatcher.event(event)
    if event.span_id is not None:
        tag_span(dispatcher, event.span_id, event.span_tags())


def tag_span(dispatcher: Dispatcher, span_id: str, tags: dict[str, Any]) -> None:
    """Merge `tags` into the open span `span_id` of each reachable span handler."""
    for handler in span_handlers(dispatcher):
        span = handler.open_spans.get(span_id)
        if span is not None:
            # A new dict, never an update: the dispatcher hands every span its
            # shared instrument-tags dict, and a handler may keep it as it is.
            span.tags = {**(span.tags or {}), **tags}


def span_handlers(dispatcher: Dispatcher) -> Iterator[BaseSpanHandler[Any]]:
    """The span handlers a span of `dispatcher` reaches, as the dispatcher walks."""
    current: Dispatcher | None = dispatcher
    while current is not None:
        yield from current.span_handlers
        propagates = current.propagate and current.manager is not None
        current = current.parent if propagates else None


__all__ = [
    "TAG_PREFIX",
    "ConfguardVerdictEvent",
    "announce",
    "span_handlers",
    "tag_span",
]
