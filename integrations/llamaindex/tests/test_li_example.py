"""The LlamaIndex example runs end to end on the real local model and embedders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples/llamaindex_query_engine.py"


@pytest.mark.slow
def test_the_llamaindex_example_exits_cleanly_and_prints_each_decision() -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), "--limit", "3"],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # One header line per answered question: "   ACCEPT    confidence 0.83  (5.1s)".
    header = re.compile(r"^\s+(ACCEPT|ANNOTATE|RETRY|ESCALATE|ABSTAIN)\s+confidence ")
    decisions = [line for line in run.stdout.splitlines() if header.match(line)]
    assert len(decisions) == 4, run.stdout  # three questions, then one through aquery
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("Decisions: ")
    actions = last.removeprefix("Decisions: ").split(", ")
    assert len(actions) == 3
    assert set(actions) <= {"accept", "annotate", "retry", "escalate", "abstain"}
