"""See a guard's decisions as OpenTelemetry traces, metrics and log records.

An application installs the SDK once (here with in-memory exporters, so the example
runs offline; docs/observability.md shows the OTLP exporter for Jaeger or Phoenix).
Then every `check` makes a trace — request, attempt, one span or event per signal —
and counts its decision.

    python examples/observability.py

Prints: the span tree of two checks, the decisions counted by action, and the log
record of each decision.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from confguard import FunctionSignal, Guard, Observation, Policy
from confguard.signals import HedgingSignal


def install() -> tuple[InMemorySpanExporter, InMemoryMetricReader]:
    """The SDK, as an application sets it up (an OTLP exporter in real use)."""
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return spans, reader


def show(span: ReadableSpan, spans: Sequence[ReadableSpan], depth: int) -> None:
    """One span, its decision and its signal events, then its children, indented."""
    action = (span.attributes or {}).get("confguard.action", "")
    events = [(e.attributes or {}).get("confguard.signal.name") for e in span.events]
    inline = f"  (events: {', '.join(map(str, events))})" if events else ""
    print(f"{'  ' * depth}{span.name} {action}{inline}".rstrip())
    for child in spans:
        if child.parent is not None and child.parent.span_id == span.context.span_id:
            show(child, spans, depth + 1)


def main() -> None:
    spans, reader = install()
    logging.basicConfig(format="log: %(message)s")
    logging.getLogger("confguard.decisions").setLevel(logging.INFO)

    retrieval = FunctionSignal(
        lambda obs: 0.9 if "Paris" in obs.answer else 0.2, name="retrieval"
    )
    guard = Guard(
        [retrieval, HedgingSignal()], Policy.from_dict({"thresholds": {"accept": 0.7}})
    )
    guard.check(Observation(question="Capital of France?", answer="Paris."))
    guard.check(Observation(question="Capital of Peru?", answer="Maybe Quito?"))

    finished = spans.get_finished_spans()
    for root in [s for s in finished if s.parent is None]:
        show(root, finished, 0)

    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "confguard.decisions":
                    for point in metric.data.data_points:
                        assert isinstance(point, NumberDataPoint)  # a counter's
                        action = str((point.attributes or {})["confguard.action"])
                        print(f"confguard.decisions{{action={action}}} = {point.value}")


if __name__ == "__main__":
    main()
