"""OpenTelemetry spans and metrics, and the decision log, read back from the SDK.

The SDK's in-memory span exporter and metric reader stand in for a collector. The
providers are installed for one test and removed after it (as opentelemetry's own
test utilities do), so other tests run untraced, as users without a provider do.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from confguard import FunctionSignal, Guard, Observation, Policy
from confguard.exceptions import EscalationError
from confguard.llm import GenerationRequest
from confguard.llm.plans import run_plan
from confguard.routes import CallableRoute
from confguard.store import InMemoryStore, SQLStore
from confguard.telemetry import DECISIONS_LOGGER
from confguard.testing import FakeGenerator
from confguard.tracing import metering, tracing
from tests.otel import Telemetry

FIXED = FunctionSignal(lambda obs: 0.9, name="fixed")
POLICY = Policy.from_dict(
    {
        "thresholds": {"accept": 0.8, "retry": 0.45, "escalate": 0.3},
        "retry": {"max_attempts": 2},
        "escalate": {"route": "oncall", "pending_message": "queued"},
    }
)


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent and s.parent.span_id == parent.context.span_id]


def test_without_a_provider_nothing_is_made() -> None:
    assert not tracing() and not metering()
    guard = Guard([FunctionSignal(lambda obs: 0.9, name="fixed")])
    assert guard.check(Observation(question="q", answer="a")).accepted


def test_a_request_with_a_retry_and_an_escalation_has_the_documented_span_tree(
    telemetry: Telemetry,
) -> None:
    confidences = iter([0.5, 0.35])  # retry, then escalate
    low = FunctionSignal(lambda obs: next(confidences), name="low")
    delivered: list[str] = []
    route = CallableRoute(lambda request: delivered.append(request.route))
    store = InMemoryStore()
    guard = Guard([low], POLICY, routes={"oncall": route}, store=store)

    result = guard.run(lambda q, attempt: Observation(question=q, answer="a"), "q?")

    assert [a.decision.action for a in result.attempts] == ["retry", "escalate"]
    spans = telemetry.finished()
    [root] = [s for s in spans if s.parent is None]
    assert root.name == "confguard.run"
    assert root.attributes is not None
    assert root.attributes["confguard.request_id"] == result.request_id
    assert root.attributes["confguard.action"] == result.decision.action
    assert root.attributes["confguard.attempts"] == 2
    children = _children(spans, root)
    assert [s.name for s in children] == [
        "confguard.attempt",
        "confguard.attempt",
        "confguard.escalation",
    ]
    first, second, escalation = children
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["confguard.attempt.number"] == 1
    assert first.attributes["confguard.action"] == "retry"
    assert second.attributes["confguard.action"] == "escalate"
    [entry] = store.escalations()
    assert escalation.attributes == {
        "confguard.escalation.route": "oncall",
        "confguard.escalation.id": entry.id,
        "confguard.escalation.state": "delivered",
    }
    assert delivered == ["oncall"]
    assert [s.name for s in _children(spans, first)] == ["confguard.signal low"]


def test_each_signal_span_carries_its_status_confidence_and_cost(
    telemetry: Telemetry,
) -> None:
    def broken(obs: Observation) -> float:
        raise RuntimeError("no index")

    guard = Guard(
        [
            FunctionSignal(lambda obs: 0.9, name="fixed"),
            FunctionSignal(broken, name="rag"),
        ]
    )
    guard.check(Observation(question="q", answer="a"))
    by_name = {s.name: s for s in telemetry.finished()}
    fixed = by_name["confguard.signal fixed"].attributes
    rag = by_name["confguard.signal rag"]
    assert fixed is not None and rag.attributes is not None
    assert fixed["confguard.signal.status"] == "ok"
    assert fixed["confguard.signal.confidence"] == 0.9
    assert fixed["confguard.signal.llm_calls"] == 0
    assert by_name["confguard.signal fixed"].end_time is not None
    assert rag.attributes["confguard.signal.status"] == "failed"
    assert "no index" in str(rag.attributes["confguard.signal.reason"])
    assert rag.status.status_code == trace.StatusCode.ERROR
    # signal spans hang under the attempt, even when scored on a worker thread
    attempt = by_name["confguard.attempt"]
    assert by_name["confguard.signal rag"].parent is not None
    assert by_name["confguard.signal rag"].parent.span_id == attempt.context.span_id


def test_a_model_call_span_follows_the_genai_conventions(telemetry: Telemetry) -> None:
    generator = FakeGenerator(["Paris"])

    def plan() -> Any:
        [completion] = yield GenerationRequest(
            prompt="Capital of France?", max_tokens=8
        )
        return completion.text

    assert run_plan(plan(), generator)[0] == "Paris"
    [call] = telemetry.finished()
    assert call.kind == trace.SpanKind.CLIENT
    assert call.attributes is not None
    assert call.attributes["gen_ai.operation.name"] == "text_completion"
    assert call.attributes["gen_ai.request.max_tokens"] == 8
    assert call.attributes["gen_ai.request.temperature"] == 0.0
    assert call.name == f"text_completion {call.attributes['gen_ai.request.model']}"
    assert call.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.usage.output_tokens" in call.attributes


async def test_the_async_guard_makes_the_same_tree(telemetry: Telemetry) -> None:
    guard = Guard([FunctionSignal(lambda obs: 0.9, name="fixed")]).as_async()
    await guard.acheck(Observation(question="q", answer="a"))
    spans = telemetry.finished()
    [root] = [s for s in spans if s.parent is None]
    [attempt] = _children(spans, root)
    assert (root.name, attempt.name) == ("confguard.check", "confguard.attempt")
    assert [s.name for s in _children(spans, attempt)] == ["confguard.signal fixed"]


def test_metrics_count_a_known_sequence_of_decisions(
    telemetry: Telemetry, tmp_path: Any
) -> None:
    values = iter([0.9, 0.9, 0.6, 0.1])
    guard = Guard(
        [FunctionSignal(lambda obs: next(values), name="given")],
        Policy.from_dict({"thresholds": {"accept": 0.8, "annotate": 0.5}}),
        store=SQLStore(f"sqlite:///{tmp_path}/a.sqlite"),
    )
    for _ in range(4):
        guard.check(Observation(question="q", answer="a"))
    counts = {
        p.attributes["confguard.action"]: p.value
        for p in telemetry.points("confguard.decisions")
    }
    assert counts == {"accept": 2, "annotate": 1, "abstain": 1}
    [histogram] = [
        p
        for p in telemetry.points("confguard.confidence")
        if p.attributes["confguard.action"] == "accept"
    ]
    assert (histogram.count, histogram.sum) == (2, pytest.approx(1.8))
    [duration] = telemetry.points("confguard.signal.duration")
    assert duration.count == 4 and duration.attributes == {
        "confguard.signal.name": "given"
    }
    [spool] = telemetry.points("confguard.spool.size")
    assert spool.value == 0


def test_signal_failures_and_deliveries_are_counted(telemetry: Telemetry) -> None:
    def down(request: Any) -> None:
        raise RuntimeError("pager down")

    def broken(obs: Observation) -> float:
        raise RuntimeError("boom")

    failing = Guard([FIXED, FunctionSignal(broken, name="bad")])
    failing.check(Observation(question="q", answer="a"))  # fails closed: abstains
    escalating = Guard(
        [FunctionSignal(lambda obs: 0.1, name="low")],
        Policy.from_dict(
            {"thresholds": {"accept": 0.8, "escalate": 0.0}, "escalate": {"route": "p"}}
        ),
        routes={"p": CallableRoute(down)},
    )
    with pytest.raises(EscalationError, match="pager down"):  # no outbox: raised
        escalating.check(Observation(question="q", answer="a"))
    [failures] = telemetry.points("confguard.signal.failures")
    assert failures.value == 1
    assert failures.attributes == {"confguard.signal.name": "bad"}
    [deliveries] = telemetry.points("confguard.escalation.deliveries")
    assert deliveries.value == 1
    assert deliveries.attributes == {
        "confguard.route": "p",
        "confguard.state": "deferred",
    }


def test_one_log_record_per_decision_with_its_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = Guard([FunctionSignal(lambda obs: 0.9, name="fixed")])
    with caplog.at_level(logging.INFO, logger=DECISIONS_LOGGER):
        result = guard.check(Observation(question="q", answer="a"))
    [record] = [r for r in caplog.records if r.name == DECISIONS_LOGGER]
    assert record.levelno == logging.INFO
    assert record.confguard_request_id == result.request_id  # type: ignore[attr-defined]
    assert record.confguard_action == "accept"  # type: ignore[attr-defined]
    assert record.confguard_confidence == pytest.approx(0.9)  # type: ignore[attr-defined]
    assert record.confguard_attempt == 1  # type: ignore[attr-defined]
    assert record.confguard_reason == result.decision.reason  # type: ignore[attr-defined]
