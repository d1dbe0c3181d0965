"""A span per model call, with the OpenTelemetry GenAI semantic conventions.

Every call a plan makes goes through `confguard.llm.plans.execute` / `aexecute`,
which open `model_span` around it: ``text_completion <model>`` (a scoring request is
a ``text_completion`` too, with `confguard.model.scoring` true). Nothing is made
without a tracer provider (`confguard.tracing`).

Example:
    >>> with model_span(generator, request) as span:
    ...     reply = generator.generate(request)
    ...     end_model_call(span, reply)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.trace import Span, SpanKind

from confguard.llm.base import Completion, GenerationRequest, ModelRequest
from confguard.tracing import NULL, tracer, tracing


def model_name(model: Any) -> str:
    """What a generator calls itself (its `name`), else its class name."""
    return str(getattr(model, "name", None) or type(model).__name__)


def request_attributes(model: Any, request: ModelRequest) -> dict[str, Any]:
    """The `gen_ai.request.*` attributes of one request to `model`."""
    values: dict[str, Any] = {
        "gen_ai.operation.name": "text_completion",
        "gen_ai.request.model": model_name(model),
        "gen_ai.request.top_k": request.top_k,
    }
    if isinstance(request, GenerationRequest):
        values.update(
            {
                "gen_ai.request.max_tokens": request.max_tokens,
                "gen_ai.request.temperature": request.temperature,
                "gen_ai.request.top_p": request.top_p,
                "gen_ai.request.choice.count": request.n,
                "gen_ai.request.stop_sequences": list(request.stop),
            }
        )
        if request.seed is not None:
            values["gen_ai.request.seed"] = request.seed
    else:
        values["confguard.model.scoring"] = True
    return values


def model_span(model: Any, request: ModelRequest) -> Any:
    """A client span around one model call (a null context when not tracing)."""
    if not tracing():
        return NULL
    attributes = request_attributes(model, request)
    return tracer().start_as_current_span(
        f"text_completion {attributes['gen_ai.request.model']}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
    )


def end_model_call(span: Span | None, reply: Sequence[Any]) -> None:
    """Usage and finish reasons of a reply, on its span."""
    if span is None or not span.is_recording():
        return
    completions = [c for c in reply if isinstance(c, Completion)]
    if not completions:  # a scoring reply: the continuation's token logprobs
        span.set_attribute("gen_ai.usage.output_tokens", len(reply))
        return
    span.set_attributes(
        {
            "gen_ai.usage.input_tokens": completions[0].prompt_tokens,
            "gen_ai.usage.output_tokens": sum(c.completion_tokens for c in completions),
            "gen_ai.response.finish_reasons": [c.finish_reason for c in completions],
        }
    )


__all__ = ["end_model_call", "model_name", "model_span", "request_attributes"]
