"""A gated stream's decision is traced and counted like any guarded request."""

from __future__ import annotations

import asyncio

import pytest

from confguard import FunctionSignal, Guard, Policy
from confguard.testing.generators import fake_tokens
from tests.otel import Telemetry


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_a_stream_has_a_request_span_with_its_attempt_and_counts_its_decision(
    telemetry: Telemetry, shell: str
) -> None:
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
    finished = telemetry.finished()
    [root] = [s for s in finished if s.parent is None]
    assert root.name == "confguard.stream"
    [attempt] = [
        s for s in finished if s.parent and s.parent.span_id == root.context.span_id
    ]
    assert attempt.name == "confguard.attempt"
    data = telemetry.metrics.get_metrics_data()
    assert data is not None
    names = {
        metric.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert "confguard.decisions" in names
