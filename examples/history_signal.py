"""History-based correctness: past right and wrong answers to similar questions.

A toy history of labelled questions (as `confguard eval` or the reviewers would
label them) is embedded, saved, and named in a YAML config as the ``history``
signal. Questions near ones answered right score high, near wrong ones low.
Runs offline in a second: the fake hashing embedder stands in for MiniLM.

    python examples/history_signal.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from confguard import Guard, Observation, registry
from confguard.signals.history import History, HistoryCorrectness, LabelledCase
from confguard.testing import FakeEmbedder

PAST = [  # (question, was the answer right?)
    ("How long is the river Nile?", True),
    ("How long is the river Amazon?", True),
    ("How long is the river Danube?", True),
    ("Which poet wrote the sonnet Ozymandias?", False),
    ("Which poet wrote the sonnet Kubla Khan?", False),
    ("Which poet wrote the sonnet The Tyger?", True),
]

CONFIG = """
signals:
  - type: history
    params: {{path: {folder}, embedder: fake, k: 3, prior_strength: 2.0}}
policy:
  thresholds: {{accept: 0.7, annotate: 0.5}}
"""


def fake_embedder() -> FakeEmbedder:
    """MiniLM's stand-in; a real config names ``embedder: minilm``."""
    return FakeEmbedder(256, name="fake")


def main() -> None:
    # In real use: confguard calibrate --samples ev --history history/ ...
    registry.register("embedder", "fake", fake_embedder)
    cases = [
        LabelledCase(question=q, correct=ok, id=f"case{i}")
        for i, (q, ok) in enumerate(PAST)
    ]
    history = History.build(fake_embedder(), cases)
    print(f"history: {len(history)} cases, base rate {history.base_rate:.2f}")

    signal = HistoryCorrectness(history, k=3)
    for question in ("How long is the river Thames?", "Which poet wrote Ulysses?"):
        result = signal.score(Observation(question=question, answer="-"))
        nearest = ", ".join(result.details["nearest"])
        print(f"{question:32} {result.confidence:.2f}  nearest: {nearest}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = history.save(Path(tmp) / "history")
        config = Path(tmp) / "guard.yaml"
        config.write_text(CONFIG.format(folder=folder))
        guard = Guard.from_config(config)
        for question in ("How long is the river Rhine?", "Which poet wrote Kubla?"):
            done = guard.check(Observation(question=question, answer="-"))
            print(f"guard: {question:30} {done.decision.action}")


if __name__ == "__main__":
    main()
