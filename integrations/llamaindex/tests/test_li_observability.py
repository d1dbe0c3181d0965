"""The decision where LlamaIndex users look: one event and one tagged span per query.

A real event handler and a real span handler (LlamaIndex's SimpleSpanHandler) are
registered on the root dispatcher, as Arize Phoenix registers its own.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from confguard import AsyncGuard, CallableRoute, LowConfidenceError, Policy
from confguard.signals import AverageLogprob
from confguard.store.memory import InMemoryStore
from li_fakes import ScriptedEngine
from llama_index.core.base.response.schema import (
    AsyncStreamingResponse,
    StreamingResponse,
)
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.span import SimpleSpan
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index_instrumentation import get_dispatcher
from llama_index_instrumentation.dispatcher import (
    active_instrument_tags,
    instrument_tags,
)
from pydantic import PrivateAttr

from llama_index.postprocessor.confguard import (
    ConfguardVerdictEvent,
    GuardedQueryEngine,
    verdict_of,
)
from llama_index.postprocessor.confguard.testing import LogprobMockLLM

SURE, UNSURE = -0.01, -3.0
MESSAGE = "I'm not confident enough to answer that."


class Recorder(BaseEventHandler):
    """Keeps every event it is handed (a user's handler)."""

    _seen: list[BaseEvent] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        with self._lock:
            self._seen.append(event)

    @property
    def seen(self) -> list[BaseEvent]:
        with self._lock:
            return list(self._seen)

    @property
    def events(self) -> list[ConfguardVerdictEvent]:
        """The confguard verdict events only."""
        return [e for e in self.seen if isinstance(e, ConfguardVerdictEvent)]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    handler = Recorder()
    root = get_dispatcher()
    root.add_event_handler(handler)
    yield handler
    root.event_handlers.remove(handler)


@pytest.fixture
def spans() -> Iterator[SimpleSpanHandler]:
    handler = SimpleSpanHandler()
    root = get_dispatcher()
    root.add_span_handler(handler)
    yield handler
    root.span_handlers.remove(handler)


def guarded(logprob: float, **policy: Any) -> GuardedQueryEngine:
    llm = LogprobMockLLM(["Denver Broncos"], logprobs=logprob)
    pol = Policy.from_dict({"thresholds": {"accept": 0.8}, **policy})
    return GuardedQueryEngine.from_signals(
        ScriptedEngine(llm=llm), [AverageLogprob()], pol
    )


def guarded_spans(handler: SimpleSpanHandler) -> list[SimpleSpan]:
    done = handler.completed_spans + handler.dropped_spans
    return [s for s in done if s.id_.startswith("GuardedQueryEngine.")]


def the_guarded_span(handler: SimpleSpanHandler) -> SimpleSpan:
    [span] = guarded_spans(handler)  # one span per guarded query, not three
    return span


def test_an_accepted_query_dispatches_one_event_with_the_verdict(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    store = InMemoryStore()
    llm = LogprobMockLLM(["Denver Broncos"], logprobs=SURE)
    engine = GuardedQueryEngine.from_signals(
        ScriptedEngine(llm=llm),
        [AverageLogprob()],
        Policy.from_dict({"thresholds": {"accept": 0.8}}),
        store=store,
    )
    response = engine.query("Who won Super Bowl 50?")
    [event] = recorder.events
    assert (event.action, event.raised, event.route) == ("accept", False, None)
    assert event.confidence == pytest.approx(math.exp(SURE))
    assert "accept" in event.reason
    assert event.verdict == verdict_of(response)  # the same as in the metadata
    [record] = store.decisions()
    assert event.request_id == record.request_id  # links to the audit rows
    assert event.class_name() == "ConfguardVerdictEvent"
    assert event.model_dump()["verdict"]["action"] == "accept"  # JSON-safe


def test_the_guarded_query_is_one_span_carrying_the_decision(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    guarded(SURE).query("Who won Super Bowl 50?")
    span = the_guarded_span(spans)
    [event] = recorder.events
    assert span.id_.startswith("GuardedQueryEngine.query-")
    assert event.span_id == span.id_  # a handler joins the event to its span
    assert span.tags["confguard.action"] == "accept"
    assert span.tags["confguard.confidence"] == pytest.approx(math.exp(SURE))
    assert span.tags["confguard.request_id"] == event.request_id
    assert span.tags["confguard.reason"] == event.reason
    inner = [s for s in spans.completed_spans if s.id_.startswith("ScriptedEngine.q")]
    assert [s.parent_id for s in inner] == [span.id_]  # the wrapped engine nests
    own = [e.class_name() for e in recorder.seen if e.span_id == span.id_]
    assert own == ["QueryStartEvent", "ConfguardVerdictEvent", "QueryEndEvent"]


def test_a_refusal_dispatches_one_abstain_event(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    response = guarded(UNSURE, abstain={"message": MESSAGE}).query("Who won?")
    [event] = recorder.events
    assert (event.action, event.raised) == ("abstain", False)
    assert event.confidence == pytest.approx(math.exp(UNSURE))
    assert event.verdict is not None and event.verdict.answer == MESSAGE
    assert event.verdict == verdict_of(response)
    assert the_guarded_span(spans).tags["confguard.action"] == "abstain"


async def test_an_async_query_dispatches_one_event_in_one_span(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    response = await guarded(SURE).aquery("Who won Super Bowl 50?")
    [event] = recorder.events
    span = the_guarded_span(spans)
    assert span.id_.startswith("GuardedQueryEngine.aquery-")
    assert (event.action, event.span_id) == ("accept", span.id_)
    assert event.verdict == verdict_of(response)
    assert span.tags["confguard.action"] == "accept"


async def test_an_async_refusal_dispatches_one_abstain_event(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    await guarded(UNSURE).aquery("Who won?")
    [event] = recorder.events
    assert event.action == "abstain"
    assert the_guarded_span(spans).tags["confguard.action"] == "abstain"


def test_a_retried_query_still_dispatches_one_event(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    llm = LogprobMockLLM(
        ["guess", "Denver Broncos"],
        logprobs=lambda text: UNSURE if text == "guess" else SURE,
    )
    engine = GuardedQueryEngine.from_signals(
        ScriptedEngine(llm=llm),
        [AverageLogprob()],
        Policy.from_dict({"thresholds": {"accept": 0.8, "retry": 0.01}}),
    )
    engine.query("Who won?")
    [event] = recorder.events  # one query, one decision: attempts add none
    assert event.verdict is not None
    assert [a.action for a in event.verdict.attempts] == ["retry", "accept"]
    assert len(guarded_spans(spans)) == 1


def test_an_escalation_names_its_route_on_the_event_and_the_span(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    llm = LogprobMockLLM(["guess"], logprobs=UNSURE)
    engine = GuardedQueryEngine.from_signals(
        ScriptedEngine(llm=llm),
        [AverageLogprob()],
        Policy.from_dict(
            {
                "thresholds": {"accept": 0.8, "escalate": 0.0},
                "escalate": {"route": "human"},
            }
        ),
        routes={"human": CallableRoute(lambda req: f"A human on: {req.question}")},
    )
    engine.query("Who won?")
    [event] = recorder.events
    assert (event.action, event.route) == ("escalate", "human")
    assert the_guarded_span(spans).tags["confguard.route"] == "human"


def test_a_stream_has_its_event_before_the_first_chunk(
    recorder: Recorder, spans: SimpleSpanHandler, hash_index: Any
) -> None:
    llm = LogprobMockLLM(["Denver Broncos"], logprobs=SURE)
    inner = hash_index.as_query_engine(llm=llm, streaming=True)
    engine = GuardedQueryEngine.from_signals(
        inner, [AverageLogprob()], Policy.from_dict({"thresholds": {"accept": 0.8}})
    )
    response = engine.query("Who won Super Bowl 50?")
    assert isinstance(response, StreamingResponse)
    [event] = recorder.events  # dispatched when gated, before any chunk is read
    assert "".join(response.response_gen) == "Denver Broncos"
    assert len(recorder.events) == 1  # reading the stream dispatches no other
    span = the_guarded_span(spans)
    assert (event.action, event.span_id) == ("accept", span.id_)


async def test_an_async_stream_refused_has_one_event(
    recorder: Recorder, spans: SimpleSpanHandler, hash_index: Any
) -> None:
    llm = LogprobMockLLM(["Denver Broncos"], logprobs=UNSURE)
    inner = hash_index.as_query_engine(llm=llm, streaming=True)
    engine = GuardedQueryEngine.from_signals(
        inner,
        [AverageLogprob()],
        Policy.from_dict(
            {"thresholds": {"accept": 0.8}, "abstain": {"message": MESSAGE}}
        ),
    )
    response = await engine.aquery("Who won Super Bowl 50?")
    assert isinstance(response, AsyncStreamingResponse)
    chunks = [chunk async for chunk in response.async_response_gen()]
    assert "".join(chunks) == MESSAGE
    [event] = recorder.events
    assert event.action == "abstain"
    assert the_guarded_span(spans).tags["confguard.action"] == "abstain"


def test_a_refusal_the_policy_raises_is_announced_once(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    engine = guarded(UNSURE, abstain={"raise_error": True})
    with pytest.raises(LowConfidenceError) as raised:
        engine.query("Who won?")
    [event] = recorder.events
    assert (event.action, event.raised) == ("abstain", True)
    assert event.request_id is not None  # the error carries the request's id
    assert event.request_id == raised.value.request_id
    assert event.confidence == pytest.approx(math.exp(UNSURE))
    assert event.verdict is None  # the guard raised: no verdict was given
    [span] = spans.dropped_spans  # the span ends in the error, still tagged
    assert span.tags["confguard.action"] == "abstain"
    assert event.span_id == span.id_


def test_an_empty_answer_refused_by_raising_keeps_its_verdict(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    llm = LogprobMockLLM(["Denver Broncos"], logprobs=SURE)
    engine = GuardedQueryEngine.from_signals(
        ScriptedEngine(llm=llm, answer=lambda _: ""),
        [AverageLogprob()],
        Policy.from_dict(
            {"thresholds": {"accept": 0.8}, "abstain": {"raise_error": True}}
        ),
    )
    with pytest.raises(LowConfidenceError):
        engine.query("Who won?")
    [event] = recorder.events
    assert (event.action, event.raised) == ("abstain", True)
    assert event.verdict is not None and event.verdict.guard_action == "accept"
    assert event.request_id is not None


def test_a_sync_query_on_an_async_guard_is_still_one_span(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    llm = LogprobMockLLM(["Denver Broncos"], logprobs=SURE)
    pol = Policy.from_dict({"thresholds": {"accept": 0.8}})
    engine = GuardedQueryEngine(
        ScriptedEngine(llm=llm), AsyncGuard([AverageLogprob()], pol)
    )
    engine.query("Q")  # the guard runs on its own loop in a worker thread
    [event] = recorder.events
    span = the_guarded_span(spans)
    assert (event.action, event.span_id) == ("accept", span.id_)


async def test_concurrent_queries_tag_their_own_spans(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    sure, unsure = guarded(SURE), guarded(UNSURE)
    await asyncio.gather(sure.aquery("q-sure"), unsure.aquery("q-unsure"))
    by_span = {e.span_id: e.action for e in recorder.events}
    tagged = {s.id_: s.tags["confguard.action"] for s in guarded_spans(spans)}
    assert by_span == tagged
    assert sorted(tagged.values()) == ["abstain", "accept"]


def test_the_decision_tags_only_the_guarded_span(
    recorder: Recorder, spans: SimpleSpanHandler
) -> None:
    with instrument_tags({"user": "u1"}):
        guarded(SURE).query("Q")
        assert active_instrument_tags.get() == {"user": "u1"}  # shared, untouched
    span = the_guarded_span(spans)
    assert span.tags["user"] == "u1"  # the caller's tags are kept
    others = [s for s in spans.completed_spans if s is not span]
    assert others and all(s.tags == {"user": "u1"} for s in others)


def test_span_tags_leave_out_what_is_unset() -> None:
    event = ConfguardVerdictEvent(action="abstain", reason="too unsure")
    assert event.span_tags() == {
        "confguard.action": "abstain",
        "confguard.reason": "too unsure",
        "confguard.raised": False,
    }
