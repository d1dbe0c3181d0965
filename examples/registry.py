"""The registry: build components by name, add your own, read the errors it gives.

A config names components (signals, combiners, strategies, ...) by the names in
`confguard.registry`. Here a YAML config names two signals, one built in and one of
our own, and a policy names a combiner of our own. Runs offline, without a model:

    python examples/registry.py
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import yaml

from confguard import Guard, Observation, Policy, registry
from confguard.exceptions import UnknownComponentError
from confguard.results import Attempt, SignalResult
from confguard.signals import BaseSignal, DeclaredCost

CONFIG = """
signals:
  - {name: hedging}                                 # built in
  - {name: answer_length, params: {longest: 40}}    # registered below
policy:
  thresholds: {accept: 0.7, annotate: 0.4}
  combiner: median                                  # registered below
"""


class AnswerLength(BaseSignal):
    """Short answers score high: confidence falls linearly to 0 at `longest` chars."""

    name = "answer_length"
    cost = DeclaredCost(llm_calls=0, relative=0.01)

    def __init__(self, longest: int = 80) -> None:
        if longest < 1:
            raise ValueError(f"longest must be >= 1, got {longest}")
        self.longest = longest

    def _score(self, obs: Observation) -> SignalResult:
        confidence = max(0.0, 1.0 - len(obs.answer) / self.longest)
        return SignalResult(name=self.name, confidence=confidence)


class MedianCombiner:
    """Combine by the median of the ok signals (one outlier cannot swing it)."""

    name = "median"

    def combine(
        self, results: Sequence[SignalResult]
    ) -> tuple[float | None, tuple[str, ...]]:
        """(median confidence or None, reasons)."""
        values = [r.confidence for r in results if r.ok and r.confidence is not None]
        if not values:
            return None, ("no signal produced a confidence",)
        value = statistics.median(values)
        return value, (f"median of {len(values)} signals = {value:.2f}",)


def unknown(kind: str, name: str) -> None:
    """Show the error a name nothing registered gives: the kind and the known names."""
    try:
        registry.get(kind, name)
    except UnknownComponentError as exc:
        print(f"  {exc}")


def pipeline(question: str, attempt: Attempt) -> Observation:
    """A stand-in RAG chain with canned answers."""
    answers = {
        "Capital of France?": "Paris.",
        "Who wrote Hamlet?": "I think it was probably Shakespeare, around 1600.",
    }
    return Observation(question=question, answer=answers[question])


def build_guard(config: dict[str, Any]) -> Guard:
    """Every signal and the combiner come from names in the config."""
    signals = [
        registry.create("signal", s["name"], s.get("params")) for s in config["signals"]
    ]
    return Guard(signals=signals, policy=Policy.from_dict(config["policy"]))


def main() -> int:
    """Errors first, then register our two components and guard two questions."""
    print("before registering:")
    unknown("combiner", "median")
    unknown("signal", "answer_lenght")

    registry.register("signal", "answer_length", AnswerLength)
    registry.register("combiner", "median", MedianCombiner)
    print("combiners:", ", ".join(registry.names("combiner")))

    built = registry.create("strategy", "more_context", {"top_k": 8})
    print("a built-in by name:", built)

    guard = build_guard(yaml.safe_load(CONFIG))
    for question in ("Capital of France?", "Who wrote Hamlet?"):
        result = guard.run(pipeline, question)
        confidence = "-" if result.confidence is None else f"{result.confidence:.2f}"
        print(f"{question:<20} {result.decision.action:<9} {confidence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
