"""Capturing what an LLM emitted during one query, per query, through a ContextVar.

LlamaIndex instrumentation can only observe (its dispatcher swallows handler
exceptions), so `LogprobEventHandler` never gates: it appends every
``LLMCompletionEndEvent`` / ``LLMChatEndEvent`` to the `Capture` opened by the
innermost `capture_logprobs()` block of the current context. Concurrent queries in
other tasks or threads have their own context and never see each other's calls.
Work LlamaIndex hands to a plain thread pool does not inherit the context, so its
LLM calls are not captured.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from confguard.exceptions import LogprobFormatError
from confguard.logprobs import normalize
from confguard.observation import TokenLogprob
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMCompletionEndEvent,
)
from llama_index_instrumentation import get_dispatcher
from llama_index_instrumentation.dispatcher import Dispatcher
from pydantic import BaseModel, ConfigDict

from llama_index.postprocessor.confguard.nodes import NodeReport

NO_LOGPROBS = (
    "the LLM returned no logprobs (LlamaIndex's MockLLM never does; OpenAI needs "
    "logprobs=True and top_logprobs>=1)"
)


class LLMCall(BaseModel):
    """One LLM call seen during a query: its text and logprobs, or why it has none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["completion", "chat"]
    text: str
    logprobs: tuple[TokenLogprob, ...] | None = None
    problem: str | None = None
    """Why `logprobs` is None: the model sent none, or sent a shape we cannot read."""


class Capture:
    """The LLM calls and node reports of one query, in the order they happened."""

    def __init__(self) -> None:
        self._calls: list[LLMCall] = []
        self._reports: list[NodeReport] = []
        self._lock = threading.Lock()  # handlers may fire from worker threads

    @property
    def calls(self) -> tuple[LLMCall, ...]:
        """Every LLM call captured so far."""
        with self._lock:
            return tuple(self._calls)

    @property
    def reports(self) -> tuple[NodeReport, ...]:
        """Every postprocessor report captured so far."""
        with self._lock:
            return tuple(self._reports)

    @property
    def last_call(self) -> LLMCall | None:
        """The call that produced the answer (the last one), if any."""
        calls = self.calls
        return calls[-1] if calls else None

    @property
    def logprobs(self) -> tuple[TokenLogprob, ...] | None:
        """The answer's logprobs: those of the last call (None if it had none)."""
        last = self.last_call
        return None if last is None else last.logprobs

    def add_call(self, call: LLMCall) -> None:
        """Record an LLM call (a chat wrapper's echo of a completion is skipped)."""
        with self._lock:
            if not _echo(self._calls[-1] if self._calls else None, call):
                self._calls.append(call)

    def add_report(self, report: NodeReport) -> None:
        """Record what a node postprocessor kept and dropped."""
        with self._lock:
            self._reports.append(report)


def _echo(previous: LLMCall | None, call: LLMCall) -> bool:
    # CustomLLM.chat() wraps complete(): the chat end event repeats the completion's
    # text and drops its logprobs. Counting it would hide the real logprobs.
    return (
        previous is not None
        and previous.kind == "completion"
        and call.kind == "chat"
        and call.logprobs is None
        and call.text == previous.text
    )


_CAPTURE: ContextVar[Capture | None] = ContextVar(
    "confguard_llamaindex_capture", default=None
)


def current_capture() -> Capture | None:
    """The capture of the innermost `capture_logprobs()` block, if one is open."""
    return _CAPTURE.get()


@contextmanager
def capture_logprobs() -> Iterator[Capture]:
    """Collect the LLM calls (and node reports) made inside the block.

    Example:
        >>> with capture_logprobs() as capture:
        ...     response = query_engine.query("Who won Super Bowl 50?")
        >>> capture.logprobs[0].token, capture.last_call.problem
    """
    LogprobEventHandler.install()
    capture = Capture()
    token = _CAPTURE.set(capture)
    try:
        yield capture
    finally:
        _CAPTURE.reset(token)


def llm_call(event: BaseEvent) -> LLMCall | None:
    """The LLM call an instrumentation event reports (None for other events)."""
    if isinstance(event, LLMCompletionEndEvent):
        response: Any = event.response
        return _call("completion", response.text or "", response.logprobs)
    if isinstance(event, LLMChatEndEvent):
        if event.response is None:
            return LLMCall(kind="chat", text="", problem="the chat ended without reply")
        content = event.response.message.content
        return _call("chat", content or "", event.response.logprobs)
    return None


def _call(kind: Literal["completion", "chat"], text: str, raw: object) -> LLMCall:
    if not raw:
        return LLMCall(kind=kind, text=text, problem=NO_LOGPROBS)
    try:
        logprobs = normalize(raw)
    except LogprobFormatError as exc:
        return LLMCall(kind=kind, text=text, problem=f"unreadable logprobs: {exc}")
    return LLMCall(kind=kind, text=text, logprobs=logprobs)


class LogprobEventHandler(BaseEventHandler):
    """Appends LLM end events to the capture of the current query (never gates).

    Example:
        >>> LogprobEventHandler.install()  # once; capture_logprobs() does it for you
        >>> with capture_logprobs() as capture:
        ...     llm.complete("Question: 2+2?\\nAnswer:")
    """

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex shows for this handler."""
        return "ConfguardLogprobEventHandler"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        """Record the event's logprobs if a capture is open in this context."""
        capture = _CAPTURE.get()
        if capture is None:
            return
        call = llm_call(event)
        if call is not None:
            capture.add_call(call)

    @classmethod
    def install(cls, dispatcher: Dispatcher | None = None) -> LogprobEventHandler:
        """Add one handler to `dispatcher` (the root by default); idempotent."""
        target = dispatcher or get_dispatcher()
        with _INSTALL_LOCK:
            for handler in target.event_handlers:
                if isinstance(handler, cls):
                    return handler
            handler = cls()
            target.add_event_handler(handler)
            return handler


_INSTALL_LOCK = threading.Lock()

__all__ = [
    "NO_LOGPROBS",
    "Capture",
    "LLMCall",
    "LogprobEventHandler",
    "capture_logprobs",
    "current_capture",
    "llm_call",
]
