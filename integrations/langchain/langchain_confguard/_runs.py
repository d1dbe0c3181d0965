"""What a run saw: one trace per top-level run, filled in from callback events.

Per run a trace keeps the retrieved documents (``on_retriever_end``), each LLM
call's text and logprobs (``on_llm_end``; streamed slices from ``on_llm_new_token``
when the final result lost them) and the run's input and output. A run's state is
dropped when its top-level run ends.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.documents import Document
from langchain_core.outputs import (
    ChatGenerationChunk,
    Generation,
    GenerationChunk,
    LLMResult,
)

from confguard.exceptions import ConfguardError, LogprobFormatError
from confguard.observation import Context, Sample, TokenLogprob
from langchain_confguard.logprobs import generation_logprobs
from langchain_confguard.text import QuestionFrom, document_context, question_text

Tokens = tuple[TokenLogprob, ...]


@dataclass
class LLMCall:
    """One LLM call of a run: its text, logprobs and any extra generations."""

    text: str
    logprobs: Tokens | None
    samples: tuple[Sample, ...] = ()
    error: str | None = None
    """Why the logprobs could not be read, if they could not."""


@dataclass
class RunTrace:
    """What one top-level run saw (mutable while the run is going on)."""

    question: str | None = None
    output: Any = None
    contexts: list[Context] = field(default_factory=list)
    calls: list[LLMCall] = field(default_factory=list)
    streamed: dict[UUID, list[TokenLogprob]] = field(default_factory=dict)
    retrievers: dict[UUID, str] = field(default_factory=dict)


class RunCollector:
    """Run traces keyed by top-level run; thread-safe for batch calls."""

    def __init__(self) -> None:
        self._traces: dict[UUID, RunTrace] = {}
        self._roots: dict[UUID, UUID] = {}
        self._lock = threading.Lock()

    def start(self, run_id: UUID, parent_run_id: UUID | None) -> tuple[RunTrace, bool]:
        """Register a run under its top-level run; the trace and whether it is one."""
        with self._lock:
            root = self._roots.get(parent_run_id, run_id) if parent_run_id else run_id
            self._roots[run_id] = root
            return self._traces.setdefault(root, RunTrace()), root == run_id

    def trace(self, run_id: UUID) -> RunTrace | None:
        """The trace a run belongs to, if it was registered."""
        with self._lock:
            root = self._roots.get(run_id)
            return None if root is None else self._traces.get(root)

    def is_root(self, run_id: UUID) -> bool:
        """True when `run_id` is a top-level run."""
        with self._lock:
            return self._roots.get(run_id) == run_id

    def finish(self, run_id: UUID) -> RunTrace | None:
        """Drop and return the trace if `run_id` is a top-level run."""
        with self._lock:
            if self._roots.get(run_id) != run_id:
                return None
            self._roots = {k: v for k, v in self._roots.items() if v != run_id}
            return self._traces.pop(run_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._traces)

    def latest(self) -> RunTrace:
        """The most recent trace still open (an empty one if none)."""
        with self._lock:
            return next(reversed(self._traces.values()), RunTrace())


def _safe_question(value: Any, question_from: QuestionFrom | None) -> str | None:
    try:
        return (question_from or question_text)(value)
    except (ConfguardError, LookupError, TypeError, ValueError):
        return None  # a run with no recognisable question is still traced


def _streamed(chunk: GenerationChunk | ChatGenerationChunk | None) -> Tokens:
    if chunk is None:
        return ()
    try:
        return generation_logprobs(chunk) or ()
    except LogprobFormatError:
        return ()


def _call(generations: Sequence[Generation], streamed: list[TokenLogprob]) -> LLMCall:
    if not generations:
        return LLMCall(text="", logprobs=None)
    first, error = generations[0], None
    try:
        logprobs = generation_logprobs(first)
        samples = tuple(_sample(g) for g in generations[1:])
    except LogprobFormatError as exc:
        logprobs, samples, error = None, (), str(exc)
    if logprobs is None and streamed:
        logprobs = tuple(streamed)
    return LLMCall(first.text, logprobs, samples, error)


def _sample(generation: Generation) -> Sample:
    return Sample(text=generation.text, logprobs=generation_logprobs(generation) or ())


class RunEvents:
    """The callback events both handlers share, recorded into a collector."""

    def __init__(self, question_from: QuestionFrom | None) -> None:
        self.collector = RunCollector()
        self.question_from = question_from

    def chain_start(self, inputs: Any, run_id: UUID, parent: UUID | None) -> None:
        """Register a chain run; a top-level one gives the question."""
        trace, root = self.collector.start(run_id, parent)
        if root:
            trace.question = _safe_question(inputs, self.question_from)

    def model_start(self, messages: Any, run_id: UUID, parent: UUID | None) -> None:
        """Register a model run (its input is the question if top-level)."""
        self.chain_start(messages, run_id, parent)

    def token(self, chunk: Any, run_id: UUID) -> None:
        """Keep a streamed chunk's logprobs."""
        trace = self.collector.trace(run_id)
        tokens = _streamed(chunk)
        if trace is not None and tokens:
            trace.streamed.setdefault(run_id, []).extend(tokens)

    def llm_end(self, response: LLMResult, run_id: UUID) -> None:
        """Keep a finished LLM call; a top-level model run's reply is the output."""
        trace = self.collector.trace(run_id)
        if trace is None:
            return
        generations = response.generations[0] if response.generations else []
        call = _call(generations, trace.streamed.pop(run_id, []))
        trace.calls.append(call)
        if self.collector.is_root(run_id):
            first = generations[0] if generations else None
            trace.output = getattr(first, "message", None) or call.text

    def retriever_start(self, run_id: UUID, parent: UUID | None, name: Any) -> None:
        """Register a retriever run and its name."""
        trace, _ = self.collector.start(run_id, parent)
        trace.retrievers[run_id] = str(name) if name else "retriever"

    def retriever_end(self, documents: Sequence[Document], run_id: UUID) -> None:
        """Keep the retrieved documents as contexts."""
        trace = self.collector.trace(run_id)
        if trace is not None:
            name = trace.retrievers.get(run_id)
            trace.contexts.extend(document_context(d, name) for d in documents)

    def end(self, output: Any, run_id: UUID) -> RunTrace | None:
        """Close a run; a top-level run's trace is returned and dropped."""
        trace = self.collector.trace(run_id)
        if trace is not None and self.collector.is_root(run_id) and output is not None:
            trace.output = output
        return self.collector.finish(run_id)


__all__ = ["LLMCall", "RunCollector", "RunEvents", "RunTrace"]
