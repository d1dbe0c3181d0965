"""examples/langchain_rag.py on the real local model and MiniLM (slow)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ACTIONS = "accept|annotate|retry|escalate|abstain"


@pytest.mark.slow
def test_the_langchain_rag_example_runs_and_prints_every_decision() -> None:
    done = subprocess.run(
        [sys.executable, "examples/langchain_rag.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    asked = re.findall(r"^Q: ", done.stdout, flags=re.MULTILINE)
    decided = re.findall(rf"^   ({ACTIONS}) after \d attempt", done.stdout, re.M)
    assert len(asked) == len(decided) == 10
    assert "case(s) queued for review" in done.stdout
