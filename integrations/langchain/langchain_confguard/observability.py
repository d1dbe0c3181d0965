"""The verdict where LangChain users look: run metadata and tags, feedback, an event.

When a guarded run ends (a `GuardedRunnable`'s run, or the model node run of an
agent whose answer `ConfidenceGateMiddleware` gated), the run as every tracer
holds it (LangSmith's ``LangChainTracer``, ``collect_runs``, ``with_listeners``,
any ``BaseTracer``) carries ``confguard_action``, ``confguard_confidence`` and
``confguard_request_id`` in its metadata and a ``confguard:<action>`` tag.

LangChain fixes a run's metadata and tags when the run starts, and the verdict is
known only at its end: the guard adds them to each tracer's Run (found in its
``run_map``, as LangChain finds the current LangSmith run tree) just before the
run ends, so the tracer's end-of-run post or patch sends them along.
Handlers that are not tracers, and ``astream_events``, get the
``confguard_verdict`` custom event instead; `VerdictCallback` collects it. That is
how a chain ending in ``StrOutputParser`` reaches its verdict without changing its
output type.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.callbacks.manager import (
    adispatch_custom_event,
    dispatch_custom_event,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import run_in_executor
from langchain_core.tracers import BaseTracer
from langchain_core.tracers.base import AsyncBaseTracer
from langchain_core.tracers.schemas import Run
from pydantic import BaseModel, ConfigDict

from confguard.exceptions import LowConfidenceError
from confguard.results import (
    VERDICT_KEY as _VERDICT_KEY,
)
from confguard.results import (
    AttemptSummary,
    GuardResult,
    SignalSummary,
    Verdict,
)

ACTION_KEY = "confguard_action"
"""Run metadata: the action the caller was given (accept, annotate, escalate ...)."""
CONFIDENCE_KEY = "confguard_confidence"
"""Run metadata: the combined confidence (None when no signal gave one)."""
REQUEST_ID_KEY = "confguard_request_id"
"""Run metadata: the guard's request id (links the run to its audit rows)."""
FEEDBACK_KEY = "confguard_confidence"
"""The feedback key the confidence is posted under."""
VERDICT_EVENT = "confguard_verdict"
"""The custom event a guarded run dispatches with its `RunVerdict`."""
VERDICT_TAG_PREFIX = "confguard:"
"""A guarded run's tag is this prefix and its action: ``confguard:abstain``."""

_logger = logging.getLogger(__name__)


def verdict_tag(action: str) -> str:
    """The tag a guarded run ending in `action` carries.

    Example:
        >>> verdict_tag("escalate")
        'confguard:escalate'
    """
    return f"{VERDICT_TAG_PREFIX}{action}"


class RunVerdict(BaseModel):
    """A guarded run's verdict, as its run metadata and its custom event carry it."""

    model_config = ConfigDict(frozen=True)

    run_id: UUID
    request_id: str | None = None
    """The guard's request id (a raising policy's error carries it too)."""
    verdict: Verdict

    @property
    def metadata(self) -> dict[str, Any]:
        """The run metadata this verdict adds."""
        return {
            ACTION_KEY: self.verdict.action,
            CONFIDENCE_KEY: self.verdict.confidence,
            REQUEST_ID_KEY: self.request_id,
        }

    @property
    def tag(self) -> str:
        """The run tag this verdict adds."""
        return verdict_tag(self.verdict.action)

    def to_event(self) -> dict[str, Any]:
        """The ``confguard_verdict`` event's JSON-safe data.

        The verdict sits under ``"confguard"``, as on every output, so a client
        that leaves that key out of what it shows never shows ``judged_answer``.
        """
        return {
            "run_id": str(self.run_id),
            "request_id": self.request_id,
            _VERDICT_KEY: self.verdict.to_metadata(),
        }

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> RunVerdict:
        """The `RunVerdict` a ``confguard_verdict`` event carries."""
        return cls(
            run_id=data["run_id"],
            request_id=data.get("request_id"),
            verdict=Verdict.model_validate(data[_VERDICT_KEY]),
        )


@runtime_checkable
class FeedbackClient(Protocol):
    """What posting feedback needs of a client: ``langsmith.Client`` has it."""

    def create_feedback(
        self,
        run_id: Any = None,
        key: str = "unnamed",
        *,
        score: float | int | bool | None = None,
        value: Any = None,
        trace_id: Any = None,
        comment: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Record feedback `key` on run `run_id`."""
        ...


class VerdictCallback(BaseCallbackHandler):
    """Collects the `RunVerdict` of every guarded run it is passed to.

    Example:
        >>> verdicts = VerdictCallback()
        >>> text = chain.invoke(question, config={"callbacks": [verdicts]})
        >>> verdicts.last.verdict.action
        'accept'
    """

    run_inline = True  # recorded before the call returns, also under ainvoke

    def __init__(self) -> None:
        super().__init__()
        self._found: list[RunVerdict] = []
        self._lock = threading.Lock()

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Keep the verdict of a ``confguard_verdict`` event."""
        if name == VERDICT_EVENT:
            found = RunVerdict.from_event(data)
            with self._lock:
                self._found.append(found)

    @property
    def verdicts(self) -> tuple[RunVerdict, ...]:
        """Every verdict seen, in the order the guarded runs ended."""
        with self._lock:
            return tuple(self._found)

    @property
    def last(self) -> RunVerdict | None:
        """The verdict of the guarded run that ended last, if any did."""
        found = self.verdicts
        return found[-1] if found else None

    def for_run(self, run_id: UUID) -> RunVerdict | None:
        """The verdict of guarded run `run_id` (e.g. ``config={"run_id": ...}``)."""
        return next((v for v in self.verdicts if v.run_id == run_id), None)


def run_verdict(run_id: UUID, result: GuardResult, verdict: Verdict) -> RunVerdict:
    """The `RunVerdict` of a guarded call that returned `result` as `verdict`."""
    return RunVerdict(run_id=run_id, request_id=result.request_id, verdict=verdict)


def refusal_verdict(run_id: UUID, error: LowConfidenceError) -> RunVerdict:
    """The `RunVerdict` of a guarded call a raising policy refused."""
    decision = error.decision
    verdict = Verdict(
        action=decision.action,
        reason=decision.reason,
        confidence=error.assessment.confidence,
        guard_action=decision.action,
        signals=tuple(SignalSummary.of(s) for s in error.assessment.signals),
        attempts=tuple(AttemptSummary.of(r) for r in error.attempts),
        request_id=error.request_id,
    )
    return RunVerdict(run_id=run_id, request_id=error.request_id, verdict=verdict)


def guarded_run_id(config: RunnableConfig) -> UUID | None:
    """The id of the run whose code runs under `config` (None outside a run)."""
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        return callbacks.parent_run_id
    return None


def report_verdict(
    config: RunnableConfig,
    found: RunVerdict,
    feedback: FeedbackClient | None = None,
    handlers: Sequence[BaseCallbackHandler] | None = None,
) -> None:
    """Mark the run, dispatch the verdict event and post the feedback, if asked.

    `config` is the one the guarded run's own code runs under (its callbacks
    are the run's child manager); `handlers` are the run's own handlers (default:
    the inherited ones, which miss a non-inheritable tracer like ``collect_runs``).

    Example:
        >>> report_verdict(config, found, handlers=run_manager.handlers)
    """
    trace_id = mark_runs(_handlers(config) if handlers is None else handlers, found)
    dispatch_custom_event(VERDICT_EVENT, found.to_event(), config=config)
    if feedback is not None:
        post_feedback(feedback, found, trace_id)


async def areport_verdict(
    config: RunnableConfig,
    found: RunVerdict,
    feedback: FeedbackClient | None = None,
    handlers: Sequence[BaseCallbackHandler] | None = None,
) -> None:
    """Async twin of `report_verdict` (the feedback is posted off the loop)."""
    trace_id = mark_runs(_handlers(config) if handlers is None else handlers, found)
    await adispatch_custom_event(VERDICT_EVENT, found.to_event(), config=config)
    if feedback is not None:
        await run_in_executor(None, post_feedback, feedback, found, trace_id)


def mark_runs(
    handlers: Iterable[BaseCallbackHandler], found: RunVerdict
) -> UUID | None:
    """Add the verdict's metadata and tag to each tracer's run; its trace id.

    Example:
        >>> mark_runs(run_manager.handlers, found)
    """
    trace_id = None
    for run in _tracer_runs(handlers, found.run_id):
        # New containers, not in-place updates: LangChain copies a run's metadata
        # and tags from its config today, but a tracer sharing them would leak
        # this verdict into the caller's config and sibling batch runs.
        metadata = {**run.metadata, **found.metadata}
        run.extra = {**(run.extra or {}), "metadata": metadata}
        run.tags = [*(run.tags or []), found.tag]
        trace_id = run.trace_id
    return trace_id


def post_feedback(
    client: FeedbackClient, found: RunVerdict, trace_id: UUID | None = None
) -> None:
    """Post the verdict's confidence as run feedback (nothing when it has none).

    The answer is already decided: a failing client is logged, never raised.
    """
    verdict = found.verdict
    if verdict.confidence is None:
        return
    try:
        client.create_feedback(
            found.run_id,
            key=FEEDBACK_KEY,
            score=verdict.confidence,
            value=verdict.action,
            comment=verdict.reason,
            trace_id=trace_id,
        )
    except Exception as exc:  # any client's network errors: never fail the answer
        _logger.warning("confguard: feedback on run %s failed: %r", found.run_id, exc)


def _handlers(config: RunnableConfig) -> Sequence[BaseCallbackHandler]:
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        return callbacks.handlers
    return ()


def _tracer_runs(handlers: Iterable[BaseCallbackHandler], run_id: UUID) -> list[Run]:
    runs: list[Run] = []
    for handler in handlers:
        if isinstance(handler, BaseTracer | AsyncBaseTracer):
            run = handler.run_map.get(str(run_id))
            if run is not None and all(run is not seen for seen in runs):
                runs.append(run)
    return runs


__all__ = [
    "ACTION_KEY",
    "CONFIDENCE_KEY",
    "FEEDBACK_KEY",
    "REQUEST_ID_KEY",
    "VERDICT_EVENT",
    "VERDICT_TAG_PREFIX",
    "FeedbackClient",
    "RunVerdict",
    "VerdictCallback",
    "areport_verdict",
    "guarded_run_id",
    "mark_runs",
    "post_feedback",
    "refusal_verdict",
    "report_verdict",
    "run_verdict",
    "verdict_tag",
]
