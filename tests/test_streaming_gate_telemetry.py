"""A gated stream's decision is traced and counted like any guarded request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from confguard import FunctionSignal, Guard, Policy
from confguard.testing.generators import fake_tokens


def _reset() -> None:
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    internal = metrics._internal  # type: ignore[attr-defined]
    internal._METER_PROVIDER_SET_ONCE = Once()
    internal._METER_PROVIDER = None


@pytest.fixture
def exported() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    _reset()
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    yield spans, reader
    _reset()


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_a_stream_has_a_request_span_with_its_attempt_and_counts_its_decision(
    exported: tuple[InMemorySpanExporter, InMemoryMetricReader], shell: str
) -> None:
    spans, reader = exported
    policy = Policy.from_dict({"thresholds": {"accept": 0.5}, "claims": {}})
    guard = Guard([FunctionSignal(lambda obs: 0.9, name="fixed")], policy)
    tokens = fake_tokens("Paris is big. It is old.")
    if shell == "sync":
        "".join(guard.stream(tokens, "Is Paris big?"))
    else:

        async def read() -> None:
            async for _ in guard.as_async().astream(tokens, "Is Paris big?"):
                pass

        asyncio.run(read())
    finished = list(spans.get_finished_spans())
    [root] = [s for s in finished if s.parent is None]
    assert root.name == "confguard.stream"
    [attempt] = [
        s for s in finished if s.parent and s.parent.span_id == root.context.span_id
    ]
    assert attempt.name == "confguard.attempt"
    data = reader.get_metrics_data()
    assert data is not None
    names = {
        metric.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert "confguard.decisions" in names
