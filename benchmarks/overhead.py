"""What does gating cost per call? Guard.check against building the Observation alone.

Guard.check here = the six token signals + hedging + stated confidence + policy +
one SQLite audit write (WAL). Building the Observation = normalising OpenAI-shaped
logprobs (24 tokens, top-5) and validating the pydantic model. Both in one run.

    python benchmarks/overhead.py [--n 2000] [--tokens 24]

Then the same checks again with OpenTelemetry's SDK installed (a tracer provider
with a batch processor into an in-memory exporter, and a meter provider with an
in-memory reader): every check then makes its request, attempt and eight signal
spans and records its metrics.

Last line: {"check_p50_ms", "check_p99_ms", "observation_p50_ms", "ratio_p50",
"traced_check_p50_ms"}. Goal: check_p50_ms <= 2 including the SQLite write, and
traced_check_p50_ms <= 2.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from confguard import Guard, Observation, Policy
from confguard.logprobs import normalize
from confguard.observation import Context
from confguard.signals import (
    AverageLogprob,
    DistributionalPerplexity,
    Gini,
    HedgingSignal,
    MinTokenProbability,
    SelfCertainty,
    TokenEntropy,
    VerbalizedConfidence,
)
from confguard.store import SQLStore

POLICY = """
thresholds: {accept: 0.7, annotate: 0.5, retry: 0.3}
retry: {max_attempts: 2, strategies: [{name: more_context, params: {top_k: 8}}]}
abstain: {message: "I don't know."}
"""


def openai_logprobs(rng: random.Random, n_tokens: int) -> dict[str, Any]:
    """A chat completion's `logprobs` field as OpenAI returns it."""
    content = []
    for i in range(n_tokens):
        probs = sorted((rng.random() for _ in range(5)), reverse=True)
        total = sum(probs) * 1.2  # leave mass outside the top-5
        top = [
            {"token": f"tok{i}_{j}", "logprob": math.log(p / total)}
            for j, p in enumerate(probs)
        ]
        content.append({**top[0], "top_logprobs": top})
    return {"content": content}


def build_observation(raw: dict[str, Any], question: str) -> Observation:
    """What a pipeline does anyway: turn provider output into an Observation."""
    return Observation(
        question=question,
        answer="It was probably the Denver Broncos.",
        contexts=(
            Context(text="Super Bowl 50 was won by the Denver Broncos.", score=0.71),
            Context(text="The Carolina Panthers lost the game.", score=0.52),
        ),
        logprobs=normalize(raw),
    )


class Spans:
    """The traced arm's exporter: spans counted, then dropped, as a network
    exporter drops what it has sent (kept, 20,000 spans would make every garbage
    collection slower and be measured as tracing's cost)."""

    def __init__(self, provider: TracerProvider, exporter: InMemorySpanExporter):
        self.provider, self.exporter = provider, exporter
        self.exported = 0

    def drain(self) -> None:
        finished = len(self.exporter.get_finished_spans())
        if finished:
            self.exported += finished
            self.exporter.clear()

    def flushed(self) -> int:
        self.provider.force_flush()
        self.drain()
        return self.exported


def install_telemetry() -> Spans:
    """OpenTelemetry's SDK as an application would set it up, exporting in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    return Spans(provider, exporter)


def timed(
    fn: Callable[[], object], n: int, between: Callable[[], object] = lambda: None
) -> np.ndarray:
    """Wall times of n calls, in milliseconds; `between` runs untimed after each."""
    out = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - start) * 1000
        between()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=24)
    args = parser.parse_args()
    rng = random.Random(0)
    raws = [openai_logprobs(rng, args.tokens) for _ in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLStore(f"sqlite:///{Path(tmp) / 'audit.sqlite'}")
        guard = Guard(
            signals=[
                AverageLogprob(),
                MinTokenProbability(),
                TokenEntropy(),
                DistributionalPerplexity(),
                Gini(),
                SelfCertainty(),
                HedgingSignal(),
                VerbalizedConfidence(),
            ],
            policy=Policy.from_yaml(POLICY),
            store=store,
        )
        observations = [build_observation(r, "Who won Super Bowl 50?") for r in raws]
        for obs in observations[:50]:  # warm up imports, caches, the SQLite file
            guard.check(obs)
        raw_iter, obs_iter = iter(raws), iter(observations)
        build_ms = timed(lambda: build_observation(next(raw_iter), "q"), args.n)
        check_ms = timed(lambda: guard.check(next(obs_iter)), args.n)
        spans = install_telemetry()
        traced_iter = iter(observations)
        traced_ms = timed(lambda: guard.check(next(traced_iter)), args.n, spans.drain)
        rows = len(store.decisions(limit=10 * args.n))
        store.close()
    figures = {
        "check_p50_ms": round(float(np.percentile(check_ms, 50)), 4),
        "check_p99_ms": round(float(np.percentile(check_ms, 99)), 4),
        "observation_p50_ms": round(float(np.percentile(build_ms, 50)), 4),
    }
    figures["ratio_p50"] = round(
        figures["check_p50_ms"] / figures["observation_p50_ms"], 3
    )
    figures["traced_check_p50_ms"] = round(float(np.percentile(traced_ms, 50)), 4)
    print(f"{args.n} calls, {args.tokens} tokens each, {rows} audit rows written")
    print(f"Observation build  p50 {figures['observation_p50_ms']:.3f} ms")
    print(
        f"Guard.check        p50 {figures['check_p50_ms']:.3f} ms, "
        f"p99 {figures['check_p99_ms']:.3f} ms"
    )
    print(
        f"traced Guard.check p50 {figures['traced_check_p50_ms']:.3f} ms "
        f"({spans.flushed()} spans exported)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
