"""A guard's own telemetry: request, attempt and escalation spans, metrics, logs.

Spans (see `confguard.tracing` for the signal and model-call spans beneath them):

    confguard.check | confguard.run        one per guarded request
      confguard.attempt                    one per attempt
        confguard.signal <name>            one per signal scored
          text_completion <model>          one per model call (GenAI conventions)
      confguard.escalation                 one per delivery tried in-process

Metrics (meter ``confguard``): `confguard.decisions` (counter; action, route),
`confguard.confidence` (histogram; action), `confguard.signal.duration` (histogram,
s; signal), `confguard.signal.failures` (counter; signal), `confguard.escalation.
deliveries` (counter; route, state) and `confguard.spool.size` (gauge; directory).

Logs: one record per decision on the ``confguard.decisions`` logger (INFO), with
`confguard_request_id`, `confguard_attempt`, `confguard_action`,
`confguard_confidence`, `confguard_reason` and `confguard_route` as record
attributes, for a JSON formatter to ship. Every hook is nil when its provider (or
the logger's level) is off.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span
from opentelemetry.trace.status import Status, StatusCode

from confguard.results import Attempt, AttemptRecord, GuardResult
from confguard.tracing import NULL, SCOPE, metering, scope_version, tracer, tracing

DECISIONS_LOGGER = "confguard.decisions"
"""The logger that gets one INFO record per decision."""

_LOG = logging.getLogger(DECISIONS_LOGGER)
_SPOOLS: weakref.WeakSet[Any] = weakref.WeakSet()


def request_span(kind: str) -> Any:
    """The span of one guarded request: ``confguard.check`` or ``confguard.run``."""
    if not tracing():
        return NULL
    return tracer().start_as_current_span(f"confguard.{kind}")


def attempt_span(attempt: Attempt) -> Any:
    """The span of one attempt, current while its signals run."""
    if not tracing():
        return NULL
    attributes: dict[str, Any] = {"confguard.attempt.number": attempt.number}
    if attempt.strategy is not None:
        attributes["confguard.attempt.strategy"] = attempt.strategy.name
    return tracer().start_as_current_span("confguard.attempt", attributes=attributes)


def end_attempt(span: Span | None, record: AttemptRecord) -> None:
    """The attempt's decision on its span."""
    if span is not None:
        span.set_attributes(_decision_attributes(record))


def escalation_span(request: Any) -> Any:
    """The span of one in-process delivery of an escalation."""
    if not tracing():
        return NULL
    attributes = {"confguard.escalation.route": request.route}
    if request.escalation_id is not None:
        attributes["confguard.escalation.id"] = request.escalation_id
    return tracer().start_as_current_span("confguard.escalation", attributes=attributes)


def end_escalation(span: Span | None, route: str, error: str | None) -> None:
    """How a delivery went: on its span, and counted by route and state."""
    state = "delivered" if error is None else "deferred"
    if span is not None:
        span.set_attribute("confguard.escalation.state", state)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
    if metering():
        _instruments().deliveries.add(
            1, {"confguard.route": route, "confguard.state": state}
        )


def observe(
    result: GuardResult, span: Span | None, inline: frozenset[str] = frozenset()
) -> GuardResult:
    """Record a finished request: its span's attributes, metrics and log records.

    `inline` names the signals whose durations are not recorded: pure ones take
    microseconds and cannot hang, and a histogram record costs more than they do.
    """
    if span is not None:
        span.set_attributes(_request_attributes(result))
    if metering():
        _count(result.attempts, inline)
    if _LOG.isEnabledFor(logging.INFO):
        for record in result.attempts:
            _log(result.request_id, record)
    return result


def watch_spool(recorder: Any) -> None:
    """Report `recorder.spool`'s size in `confguard.spool.size` while it lives."""
    if getattr(recorder, "spool", None) is not None:
        _SPOOLS.add(recorder)


def _request_attributes(result: GuardResult) -> dict[str, Any]:
    last = _decision_attributes(result.attempts[-1]) if result.attempts else {}
    values = {
        **last,
        "confguard.request_id": result.request_id,
        "confguard.attempts": len(result.attempts),
        "confguard.latency_seconds": result.latency_seconds,
        "confguard.action": result.decision.action,
        "confguard.reason": result.decision.reason,
    }
    return {k: v for k, v in values.items() if v is not None}


def _decision_attributes(record: AttemptRecord) -> dict[str, Any]:
    values = {
        "confguard.action": record.decision.action,
        "confguard.reason": record.decision.reason,
        "confguard.confidence": record.assessment.confidence,
        "confguard.route": getattr(record.decision, "route", None),
    }
    return {k: v for k, v in values.items() if v is not None}


def _log(request_id: str, record: AttemptRecord) -> None:
    decision = record.decision
    confidence = record.assessment.confidence
    shown = "n/a" if confidence is None else f"{confidence:.3f}"
    _LOG.info(
        "confguard %s %s attempt %d: %s (%s)",
        request_id,
        decision.action,
        record.attempt.number,
        shown,
        decision.reason,
        extra={
            "confguard_request_id": request_id,
            "confguard_attempt": record.attempt.number,
            "confguard_action": decision.action,
            "confguard_confidence": confidence,
            "confguard_reason": decision.reason,
            "confguard_route": getattr(decision, "route", None),
        },
    )


# -- metrics -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Instruments:
    decisions: metrics.Counter
    confidence: metrics.Histogram
    signal_duration: metrics.Histogram
    signal_failures: metrics.Counter
    deliveries: metrics.Counter


_BY_PROVIDER: dict[int, _Instruments] = {}


def _instruments() -> _Instruments:
    """The instruments of the current meter provider, made once for each."""
    provider = metrics.get_meter_provider()
    made = _BY_PROVIDER.get(id(provider))
    if made is None:
        meter = provider.get_meter(SCOPE, scope_version())
        made = _BY_PROVIDER[id(provider)] = _make(meter)
    return made


def _make(meter: metrics.Meter) -> _Instruments:
    meter.create_observable_gauge(
        "confguard.spool.size",
        callbacks=[_spool_sizes],
        unit="{write}",
        description="Store writes waiting in a guard's spool",
    )
    return _Instruments(
        decisions=meter.create_counter(
            "confguard.decisions", unit="{decision}", description="Decisions made"
        ),
        confidence=meter.create_histogram(
            "confguard.confidence", unit="1", description="Confidence of decisions"
        ),
        signal_duration=meter.create_histogram(
            "confguard.signal.duration", unit="s", description="Time a signal took"
        ),
        signal_failures=meter.create_counter(
            "confguard.signal.failures",
            unit="{failure}",
            description="Signals that failed (errors and timeouts)",
        ),
        deliveries=meter.create_counter(
            "confguard.escalation.deliveries",
            unit="{delivery}",
            description="In-process escalation deliveries, by outcome",
        ),
    )


def _count(records: Iterable[AttemptRecord], inline: frozenset[str]) -> None:
    made = _instruments()
    for record in records:
        action = {"confguard.action": record.decision.action}
        route = getattr(record.decision, "route", None)
        routed = action if route is None else {**action, "confguard.route": route}
        made.decisions.add(1, routed)
        if record.assessment.confidence is not None:
            made.confidence.record(record.assessment.confidence, action)
        for signal in record.assessment.signals:
            name = {"confguard.signal.name": signal.name}
            if signal.name not in inline:
                made.signal_duration.record(signal.cost.seconds, name)
            if signal.status.value == "failed":
                made.signal_failures.add(1, name)


def _spool_sizes(_options: CallbackOptions) -> Iterator[Observation]:
    for recorder in list(_SPOOLS):
        spool = recorder.spool
        where = {"confguard.spool.directory": str(spool.directory)}
        yield Observation(len(spool), where)


__all__ = [
    "DECISIONS_LOGGER",
    "attempt_span",
    "end_attempt",
    "end_escalation",
    "escalation_span",
    "observe",
    "request_span",
    "watch_spool",
]
