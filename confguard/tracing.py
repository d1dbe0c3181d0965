"""OpenTelemetry for confguard: spans and metrics, nothing at all without a provider.

confguard depends on `opentelemetry-api` only. Until the application installs an
SDK provider (`trace.set_tracer_provider(...)`, `metrics.set_meter_provider(...)`,
see docs/observability.md), `tracing()` and `metering()` are False and every hook
below returns at once: no span object, no attribute dict, no clock read.

This module sits at the bottom of confguard's layers so that signals and the model
driver can open spans; the guard's own spans, metrics and log records are in
`confguard.telemetry`.

Example:
    >>> with signal_span("judge") as span:   # None when nothing is configured
    ...     result = signal.score(obs)
    ...     end_signal(span, result)
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, Span
from opentelemetry.trace.status import Status, StatusCode

from confguard.results import SignalResult

SCOPE = "confguard"
"""The instrumentation scope of every span and instrument confguard makes."""

_SILENT_TRACERS = (ProxyTracerProvider, NoOpTracerProvider)
_SILENT_METERS = ("_ProxyMeterProvider", "NoOpMeterProvider")


def tracing() -> bool:
    """Whether an SDK tracer provider is installed (else confguard makes no span)."""
    return not isinstance(trace.get_tracer_provider(), _SILENT_TRACERS)


def metering() -> bool:
    """Whether an SDK meter provider is installed (else no instrument is touched)."""
    return type(metrics.get_meter_provider()).__name__ not in _SILENT_METERS


@lru_cache(maxsize=1)
def scope_version() -> str:
    """confguard's installed version, for the instrumentation scope."""
    try:
        return version("confguard")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def tracer() -> trace.Tracer:
    """confguard's tracer from the current provider (made once per provider)."""
    provider = trace.get_tracer_provider()
    cached = _TRACERS.get(id(provider))
    if cached is None or cached[0] is not provider:
        cached = _TRACERS[id(provider)] = (
            provider,
            provider.get_tracer(SCOPE, scope_version()),
        )
    return cached[1]


_TRACERS: dict[int, tuple[trace.TracerProvider, trace.Tracer]] = {}


def signal_span(name: str, *, calls_model: bool = True) -> Any:
    """The span of one signal's scoring (see `end_signal`); `NULL` when not tracing.

    A signal that calls no model has no child span, so its span is not made current
    (attaching a context costs more than the rest of such a span).
    """
    if not tracing():
        return NULL
    attributes = {"confguard.signal.name": name}
    if calls_model:
        return tracer().start_as_current_span(
            f"confguard.signal {name}", attributes=attributes
        )
    return _Leaf(tracer().start_span(f"confguard.signal {name}", attributes=attributes))


class _Leaf:
    """A span that is never current: ended on exit, an escaping error recorded."""

    def __init__(self, span: Span) -> None:
        self.span = span

    def __enter__(self) -> Span:
        return self.span

    def __exit__(self, kind: Any, error: Any, _tb: Any) -> None:
        if error is not None:
            self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, str(error)))
        self.span.end()


class _Null:
    """A reusable context that makes nothing: all a hook costs when tracing is off."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


NULL = _Null()
"""The context every span hook returns when no tracer provider is installed."""


def signal_event(result: SignalResult) -> None:
    """An inline signal's outcome as an event ``confguard.signal`` on the current
    span (its attempt's): a span would cost many times the signal itself."""
    if tracing():
        trace.get_current_span().add_event(
            "confguard.signal", signal_attributes(result)
        )


def end_signal(current: Span | None, result: SignalResult) -> None:
    """Put a signal's outcome on its span: status, confidence, reason and cost."""
    if current is None:
        return
    current.set_attributes(signal_attributes(result))
    if result.status.value == "failed":
        current.set_status(Status(StatusCode.ERROR, result.reason or "failed"))


def signal_attributes(result: SignalResult) -> dict[str, Any]:
    """The `confguard.signal.*` attributes of one result (None values left out)."""
    values = {
        "confguard.signal.name": result.name,
        "confguard.signal.status": result.status.value,
        "confguard.signal.confidence": result.confidence,
        "confguard.signal.raw": result.raw,
        "confguard.signal.reason": result.reason,
        "confguard.signal.llm_calls": result.cost.llm_calls,
        "confguard.signal.tokens": result.cost.tokens,
    }  # its seconds are the span's own duration
    return {k: v for k, v in values.items() if v is not None}


__all__ = [
    "NULL",
    "SCOPE",
    "end_signal",
    "metering",
    "scope_version",
    "signal_attributes",
    "signal_event",
    "signal_span",
    "tracer",
    "tracing",
]
