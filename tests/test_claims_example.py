"""examples/claims_and_streaming.py runs offline and shows what its docstring says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_claims_example_redacts_the_unsupported_sentence_in_both_modes() -> None:
    done = subprocess.run(
        [sys.executable, "examples/claims_and_streaming.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "  redact 0.08  The halftime show was sung by Elvis." in out
    assert "answer given: The Denver Broncos won Super Bowl 50. [removed:" in out
    streamed = next(line for line in out.splitlines() if line.startswith("streamed:"))
    assert "Elvis" not in streamed and "halftime" not in streamed
    assert streamed.endswith("| Santa| Clara.|")
    assert "stream decision: accept; removed: ['claim 1 confidence 0.08" in out
