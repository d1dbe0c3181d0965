"""scripts/review_loop.py closes the loop on a small generated file of labelled answers:
guard -> queue -> verdicts through the API -> refit -> applied version."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def generated(path: Path, n: int) -> Path:
    """`n` answers whose answer_support mostly decides whether they are right."""
    rng = random.Random(11)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            support, logprob = rng.random(), rng.random()
            correct = (support > 0.4) != (rng.random() < 0.03)  # 3% label noise
            row = {
                "question": f"question {i}",
                "answer": f"answer {i}",
                "gold": [f"gold {i}"],
                "correct": correct,
                "signals": {"answer_support": support, "avg_logprob": logprob},
            }
            out.write(json.dumps(row) + "\n")
    return path


def test_the_loop_certifies_applies_and_reports_before_and_after(
    tmp_path: Path,
) -> None:
    answers = generated(tmp_path / "answers.jsonl", 200)
    done = subprocess.run(
        [
            sys.executable,
            "scripts/review_loop.py",
            str(answers),
            "--store",
            f"sqlite:///{tmp_path}/loop.sqlite",
            "--target-risk",
            "0.15",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    lines = done.stdout.splitlines()
    assert "200 answers checked, 200 escalated" in lines[0]
    assert "200 cases resolved through the API" in done.stdout
    result = json.loads(lines[-1])
    assert result["reviewed"] == 200 and result["version"] == 1
    after = result["after"]
    assert after["upper_bound"] <= 0.15 and after["labels"] > 0
    assert result["in_force"]["threshold"] == after["threshold"]
    assert "after (refit, applied): threshold" in done.stdout
