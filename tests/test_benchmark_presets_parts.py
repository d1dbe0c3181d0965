"""benchmarks/presets.py compares each preset with its best single part on every
answer, the parts the cascade skipped included."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from confguard.guard import Guard
from confguard.observation import Observation
from confguard.policy import Policy
from confguard.signals import DeclaredCost, FunctionSignal
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
OBS = Observation(question="Capital of France?", answer="Paris")


def bench() -> ModuleType:
    return load_script(ROOT / "benchmarks" / "presets.py", "bench_presets")


def fixed(name: str, value: float, calls: int = 0) -> FunctionSignal:
    return FunctionSignal(
        lambda obs: value, name=name, cost=DeclaredCost(llm_calls=calls)
    )


def test_a_part_the_cascade_skipped_is_scored_for_the_comparison() -> None:
    guard = Guard(
        [fixed("judge", 0.2, calls=1), fixed("logprob", 0.95), fixed("hedge", 1.0)],
        Policy.from_dict({"thresholds": {"accept": 0.6}, "cascade": True}),
    )
    result = guard.check(OBS)
    skipped = [s.name for s in result.assessment.signals if s.cascade_skipped]
    assert skipped == ["judge"]
    parts = bench().every_part(guard, OBS, result.assessment.signals)
    assert parts == {"judge": 0.2, "logprob": 0.95, "hedge": 1.0}


def test_without_a_cascade_the_parts_are_the_answer_s_own_results() -> None:
    guard = Guard(
        [fixed("judge", 0.2, calls=1), fixed("logprob", 0.95)],
        Policy.from_dict({"thresholds": {"accept": 0.6}}),
    )
    result = guard.check(OBS)
    assert bench().every_part(guard, OBS, result.assessment.signals) == {
        "judge": 0.2,
        "logprob": 0.95,
    }
