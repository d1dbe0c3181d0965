"""examples/review_console.py starts a console over seeded cases and logs in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_review_console_example_serves_the_seeded_cases() -> None:
    done = subprocess.run(
        [sys.executable, "examples/review_console.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "login: 303 -> /queue" in done.stdout
    assert "queue page: 200" in done.stdout
    assert "pending cases: 4" in done.stdout
    assert "0.17  Who wrote Dune?" in done.stdout
