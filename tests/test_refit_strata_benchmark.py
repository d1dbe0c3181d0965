"""benchmarks/refit_strata.py refits a preset's policy on half of an eval's labels,
with its strata and without, and counts each group's errors on the other half."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from confguard.scoring.calibration import LabelledSample
from tests.scripts import load_script
from tests.test_calibration_guarded import write_samples

ROOT = Path(__file__).resolve().parents[1]


def fast_labels(n: int, seed: int) -> list[LabelledSample]:
    """The `fast` preset's signals: retrieved answers right more often than the rest."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        retrieved = i % 2 == 0
        right = bool(rng.uniform() < (0.7 if retrieved else 0.45))
        token = float(np.clip(rng.normal(0.7 if right else 0.4, 0.15), 0, 1))
        signals: dict[str, float | None] = {
            "min_token_prob": token,
            "answer_support": float(rng.uniform()),
            "retrieval": float(rng.uniform(0.4, 0.9)) if retrieved else None,
        }
        out.append(LabelledSample(signals=signals, correct=right))
    return out


def last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target_risk: str, *more: str
) -> dict[str, Any]:
    """The benchmark's last line over one eval folder of 1,600 `fast_labels`."""
    folder = tmp_path / "eval"
    folder.mkdir()
    write_samples(folder / "samples.jsonl", fast_labels(1600, seed=0))
    bench = load_script(ROOT / "benchmarks" / "refit_strata.py", "bench_refit_strata")
    argv = ["--samples", str(folder), "--target-risk", target_risk, *more]
    assert bench.main(argv) == 0
    result: dict[str, Any] = json.loads(
        capsys.readouterr().out.strip().splitlines()[-1]
    )
    return result


def test_its_last_line_has_each_groups_certificate_and_test_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = last_line(tmp_path, capsys, "0.4")
    assert (result["n_calibrate"], result["n_test"]) == (800, 800)
    groups = {"'retrieved'", "the policy's own thresholds"}
    strata, pooled = result["strata"], result["pooled"]
    assert set(strata["certified"]) == groups
    assert set(pooled["certified"]) == {"the policy's own thresholds"}
    for figures in (strata["test"], pooled["test"], result["shipped"]["test"]):
        assert set(figures) == groups
        assert sum(g["answers"] for g in figures.values()) == 800
    assert all(g["risk"] <= 0.4 for g in strata["test"].values())
    assert pooled["test"]["the policy's own thresholds"]["risk"] > 0.4


def test_a_refit_that_certifies_nothing_is_reported_as_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = last_line(tmp_path, capsys, "0.05")
    assert result["strata"]["refused"].startswith("stratum 'retrieved': ")
    assert "no threshold certifies risk <= 0.05" in result["pooled"]["refused"]


def test_a_stratum_given_its_own_target_is_refitted_and_tested_at_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = last_line(tmp_path, capsys, "0.45", "--stratum-risk", "retrieved=0.3")
    assert result["stratum_risk"] == {"retrieved": 0.3}
    certified = result["strata"]["certified"]
    assert certified["'retrieved'"]["target_risk"] == 0.3
    assert certified["the policy's own thresholds"]["target_risk"] == 0.45
    assert result["strata"]["test"]["'retrieved'"]["risk"] <= 0.3
    assert result["pooled"]["certified"]["the policy's own thresholds"][
        "target_risk"
    ] == 0.45


def test_a_calibrator_only_refit_keeps_the_ranking_and_mends_the_calibration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("--combiner", "policy", "--calibrator", "isotonic")
    result = last_line(tmp_path, capsys, "0.45", *argv)
    assert (result["combiner"], result["calibrator"]) == ("policy", "isotonic")
    shipped, refit = result["shipped"]["ranking"], result["strata"]["ranking"]
    # A monotone map of the preset's own combination can only tie, never reorder.
    assert refit["auroc"] <= shipped["auroc"] + 1e-9
    assert refit["ece"] < shipped["ece"]  # fitted on labels like the test half's
    assert refit["brier"] < shipped["brier"]
