"""The side-by-side benchmark's joining, costing and metrics, on tiny generated JSONL.

No UQLM here: the peer's venv is not on CI, so the peer's files are written by the
test in the shape `score_uqlm.py` writes, and the tuned ensemble is skipped.
Stage 1's replay guard is tested on a real call record.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from confguard.evaluation.metrics import auroc
from confguard.llm.base import GenerationRequest
from confguard.llm.recorded import recorded
from confguard.testing.generators import FakeGenerator
from tests.scripts import load_script

PEERS = Path(__file__).resolve().parents[1] / "benchmarks" / "peers"


def load(name: str) -> ModuleType:
    """A peers benchmark script as a module."""
    return load_script(PEERS / f"{name}.py", f"peers_{name}")


sbs = load("side_by_side")

# 24 answers: ids 0-11 train ("fit"; Platt needs ten), 12-23 held out; right
# ones alternate.
CORRECT = [True, False] * 12
TRAIN = 12


def export_row(i: int) -> dict[str, Any]:
    """A stage-1 row: `perfect` ranks right above wrong, `backwards` the reverse."""
    right = CORRECT[i]
    skipped = None if i == 15 else 0.5
    return {
        "id": f"q{i}",
        "split": "fit" if i < TRAIN else "holdout",
        "answer": f"a{i}",
        "correct": right,
        "answer_calls": 3,
        "answer_seconds": 1.0,
        "sample_calls": 5,
        "sample_seconds": 2.0,
        "confguard": {
            "perfect": _entry(0.9 if right else 0.1 + i / 100, "guard", 5, 0.5),
            "skips": _entry(skipped, "white-box", 0, 0.0),
        },
    }


def _entry(value: float | None, family: str, calls: int, s: float) -> dict[str, Any]:
    return {"confidence": value, "family": family, "calls": calls, "seconds": s}


def peer_lines(nan_at: int | None = 14) -> list[dict[str, Any]]:
    """Stage 2's file: a meta line, then one line per answer."""
    head = {
        "kind": "meta",
        "scorers": {
            "backwards": _meta("white-box", False, 0.01),
            "sampled": _meta("black-box", True, 0.1),
        },
        "unavailable": {"noncontradiction": "needs an NLI model no package ships"},
    }
    items = [
        {
            "kind": "item",
            "id": f"q{i}",
            "answer": f"a{i}",
            "uqlm": {
                "backwards": 0.2 if CORRECT[i] else 0.8,
                "sampled": None if i == nan_at else (0.6 if CORRECT[i] else 0.4),
            },
        }
        for i in range(len(CORRECT))
    ]
    return [head, *items]


def _meta(family: str, samples: bool, seconds: float) -> dict[str, Any]:
    return {"family": family, "uses_samples": samples, "seconds_per_answer": seconds}


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), "utf-8")
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = write(tmp_path / "d.jsonl", [export_row(i) for i in range(len(CORRECT))])
    write(sbs.peer_path(path), peer_lines())
    return path


def last_json(out: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return parsed


def test_summary_line_reports_held_out_aurocs(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sbs.main(["--data", str(data), "--skip-ensemble"])
    got = last_json(capsys.readouterr().out)
    assert set(got) == {
        "n",
        "accuracy",
        "confguard",
        "uqlm",
        "best_confguard_auroc",
        "best_uqlm_auroc",
    }
    assert got["n"] == 12 and got["accuracy"] == 0.5
    assert got["confguard"]["perfect"] == 1.0
    assert got["uqlm"]["backwards"] == 0.0
    # One NaN among the held-out answers, ranked lowest: q14 is right, so it costs.
    rest = range(TRAIN, len(CORRECT))
    held = [CORRECT[i] for i in rest]
    sampled = [0.0 if i == 14 else (0.6 if CORRECT[i] else 0.4) for i in rest]
    assert got["uqlm"]["sampled"] == round(auroc(sampled, held) or 0, 4)
    assert got["best_confguard_auroc"] == 1.0
    assert got["best_uqlm_auroc"] == got["uqlm"]["sampled"]


def test_table_lists_costs_missing_and_what_could_not_run(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sbs.main(["--data", str(data), "--skip-ensemble"])
    out = capsys.readouterr().out
    rows = {
        line.split("|")[1].strip(): line for line in out.splitlines() if "|" in line
    }
    cells = [c.strip() for c in rows["uqlm: sampled"].split("|")[1:-1]]
    # The answer's 3 calls + the 5 samples; 1 s + 2 s recorded + 0.1 s of compute.
    assert cells[1] == "black-box" and cells[5] == "8.00" and cells[6] == "3.100"
    cells = [c.strip() for c in rows["uqlm: backwards"].split("|")[1:-1]]
    assert cells[5] == "3.00" and cells[6] == "1.010"
    cells = [c.strip() for c in rows["confguard: perfect"].split("|")[1:-1]]
    assert cells[5] == "8.00" and cells[6] == "1.500"
    assert "missing on 1 answers (ranked lowest): uqlm: sampled" in out
    assert "missing on 1 answers (ranked lowest): confguard: skips" in out
    assert "not run: noncontradiction: needs an NLI model" in out
    # A perfect scorer is never behind in a resample, and ahead in some.
    gap = next(line for line in out.splitlines() if "best-vs-best" in line)
    low, high = (float(v) for v in gap.split("[")[1].rstrip("]").split(","))
    assert "(perfect - sampled)" in gap and low == 0.0 and high > 0
    assert "- at <= 3.00 calls/q: confguard skips 0.5833; uqlm backwards 0.0000" in out


def test_limit_takes_the_first_rows(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sbs.main(["--data", str(data), "--skip-ensemble", "--limit", "20"])
    assert last_json(capsys.readouterr().out)["n"] == 8


def test_an_answer_the_peer_did_not_score_stops_the_comparison(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "d.jsonl", [export_row(i) for i in range(len(CORRECT))])
    write(sbs.peer_path(path), peer_lines()[:-1])
    with pytest.raises(ValueError, match="1 answers lack UQLM scores"):
        sbs.main(["--data", str(path), "--skip-ensemble"])


def test_a_different_answer_under_the_same_id_stops_the_comparison(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "d.jsonl", [export_row(i) for i in range(len(CORRECT))])
    lines = peer_lines()
    lines[3]["answer"] = "another answer"
    write(sbs.peer_path(path), lines)
    with pytest.raises(ValueError, match="1 answers differ between the stages"):
        sbs.main(["--data", str(path), "--skip-ensemble"])


def test_one_split_alone_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [export_row(i) for i in range(TRAIN)])
    write(sbs.peer_path(path), peer_lines()[: TRAIN + 1])
    with pytest.raises(ValueError, match="both splits"):
        sbs.main(["--data", str(path), "--skip-ensemble"])


def test_calibration_is_fitted_on_the_training_rows_only() -> None:
    # Train: high scores are right. Held out: the same scores, all wrong. A Platt
    # fit on the held-out rows would give ECE near 0; one fitted on train cannot.
    scores = (0.9, 0.1) * 8
    correct = [True, False] * 6 + [False] * 4
    train = [True] * 12 + [False] * 4
    scorer = sbs.Scorer("s", "uqlm", "white-box", scores, (1.0,) * 16, (0.0,) * 16)
    measured = sbs.measure(scorer, train, correct)
    assert measured.auroc is None  # one class held out
    assert measured.ece > 0.4


def test_ensemble_costs_its_dearest_part_in_calls_and_every_part_in_compute(
    tmp_path: Path,
) -> None:
    rows = [export_row(i) for i in range(2)]
    head = peer_lines()[0]
    parts = sbs.uqlm_scorers(
        [{**r, "uqlm": {"backwards": 0.5, "sampled": 0.5}} for r in rows], head
    )
    scorer = sbs.ensemble_scorer(parts, rows, [0.5, 0.5])
    assert scorer.calls == (8.0, 8.0)
    assert scorer.seconds == pytest.approx((3.11, 3.11))


def test_stage_one_replays_a_record_and_a_miss_fails_without_writing(
    tmp_path: Path,
) -> None:
    export = load("export")
    work, data = tmp_path / "work", tmp_path / "dev.jsonl"
    request = GenerationRequest(prompt="Q: 2+2?\nA:", n=3, temperature=0.7, seed=0)
    recorded(FakeGenerator(["4"]), work / "calls-dev.jsonl").generate(request)
    scratch = tmp_path / "misses.jsonl"
    gen = export.replaying(data, work, scratch)
    done, calls, _ = gen.measure(lambda: gen.generate(request))
    assert [c.text for c in done] == ["4"] * 3 and calls == 3
    with pytest.raises(export.RecordMiss):
        gen.generate(request.with_(seed=1))
    assert not scratch.exists()
    assert export.tokens(done[0].logprobs)[0]["top_logprobs"][0]["token"] == "4"


def test_pooled_training_takes_the_other_exports_training_rows(
    data: Path, tmp_path: Path
) -> None:
    other = write(tmp_path / "o.jsonl", [export_row(i) for i in range(len(CORRECT))])
    write(sbs.peer_path(other), peer_lines(nan_at=None))
    pooled = sbs.pooled_training([other], ["backwards"])
    assert pooled.correct == CORRECT[:TRAIN]
    assert pooled.scores["backwards"] == [0.2, 0.8] * (TRAIN // 2)
