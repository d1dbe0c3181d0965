"""`confguard calibrate --config FILE|PRESET` calibrates a guard config's policy and
writes the whole config back, its secrets still variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from confguard.cli import main
from confguard.config import load
from confguard.policy import Policy
from tests.test_calibration_guarded import write_samples
from tests.test_refit_strata_benchmark import fast_labels

SECRET = "s3cr3t-token-value"


def calibrate(tmp_path: Path, *more: str) -> int:
    samples = tmp_path / "samples.jsonl"
    write_samples(samples, fast_labels(1600, seed=0))
    return main(
        ["calibrate", "--samples", str(samples), "--target-risk", "0.45",
         "--delta", "0.1", *more]
    )  # fmt: skip


def test_a_preset_is_calibrated_and_written_back_as_a_whole_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fast.calibrated.yaml"
    argv = ("--config", "fast", "--stratum-risk", "retrieved=0.3", "--out", str(out))
    assert calibrate(tmp_path, *argv) == 0
    said = capsys.readouterr().out
    assert f"guard config (from preset fast (fast.yaml)) written to {out}" in said
    text = out.read_text()
    assert text.startswith("# preset fast (fast.yaml), its policy calibrated by ")
    written, shipped = load(out).config, load("fast").config
    assert written.signals == shipped.signals
    assert written.pipeline == shipped.pipeline
    policy = Policy.from_dict(dict(written.policy))
    stratum = policy.strata[0].risk_control
    assert stratum is not None and stratum.target_risk == 0.3
    assert policy != Policy.from_dict(dict(shipped.policy))
    capsys.readouterr()
    assert main(["config", "validate", str(out)]) == 0  # what a user checks next


def secret_config(tmp_path: Path, *, top_level_combiner: bool = False) -> Path:
    path = tmp_path / "guard.yaml"
    combiner = "combiner: mean\n" if top_level_combiner else ""
    path.write_text(
        "signals: [min_token_prob, answer_support, retrieval]\n"
        f"{combiner}"
        "policy:\n"
        "  thresholds: {accept: 0.5, annotate: 0.2}\n"
        "  on_missing_evidence: ignore\n"
        "  escalate: {route: oncall}\n"
        "routes:\n"
        "  oncall:\n"
        "    type: webhook\n"
        "    params:\n"
        "      url: https://hooks.example/x\n"
        '      headers: {Authorization: "Bearer ${ONCALL_TOKEN}"}\n'
    )
    return path


def test_a_secret_is_written_back_as_its_variable_never_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONCALL_TOKEN", SECRET)
    out = tmp_path / "out.yaml"
    config = str(secret_config(tmp_path))
    assert calibrate(tmp_path, "--config", config, "--out", str(out)) == 0
    text = out.read_text()
    assert "Bearer ${ONCALL_TOKEN}" in text and SECRET not in text
    routes = load(out).config.routes
    assert routes["oncall"].params["headers"] == {"Authorization": f"Bearer {SECRET}"}


def test_without_out_a_config_is_written_to_guard_calibrated_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONCALL_TOKEN", SECRET)
    monkeypatch.chdir(tmp_path)
    assert calibrate(tmp_path, "--config", str(secret_config(tmp_path))) == 0
    assert (tmp_path / "guard.calibrated.yaml").is_file()
    assert not (tmp_path / "policy.calibrated.yaml").exists()


def test_a_config_that_overrides_the_policys_combiner_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ONCALL_TOKEN", SECRET)
    config = secret_config(tmp_path, top_level_combiner=True)
    out = tmp_path / "out.yaml"
    assert calibrate(tmp_path, "--config", str(config), "--out", str(out)) == 2
    said = capsys.readouterr().out
    assert f"{config}, line 2, combiner: overrides the policy's combiner" in said
    assert "move it into policy.combiner to calibrate" in said
    assert not out.exists()


def test_a_config_and_a_policy_are_not_both_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(Policy().to_yaml())
    assert calibrate(tmp_path, "--config", "fast", "--policy", str(policy)) == 2
    said = capsys.readouterr().out
    assert "error: argument --policy: not allowed with argument --config" in said
