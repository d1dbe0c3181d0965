"""The offline examples run as scripts and print what their docstrings promise."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str) -> str:
    """The stdout of ``python examples/NAME``, failing the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, f"examples/{name}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_registry_example_guards_with_components_of_its_own() -> None:
    out = run_example("registry.py")
    known = "logistic, mean, minimum, stratified, weighted"
    assert f"unknown combiner 'median'; known: {known}" in out
    assert "unknown signal 'answer_lenght'; known: answer_support," in out
    assert "combiners: logistic, mean, median, minimum, stratified, weighted" in out
    assert "a built-in by name: name='more_context' params={'top_k': 8}" in out
    assert "Capital of France?   accept    0.82" in out
    assert "Who wrote Hamlet?    abstain   0.33" in out


def test_the_store_outage_example_spools_and_replays_every_record() -> None:
    out = run_example("store_outage.py")
    assert "5 writes spooled" in out
    assert "5 decisions stored, 0 left in the spool" in out


@pytest.mark.slow
def test_the_situated_faithfulness_example_escalates_the_odd_planted_passage() -> None:
    out = run_example("situated_faithfulness.py")
    assert "planted, odd passage -> answer" in out
    assert "guard: escalate" in out
    assert "pending reviews: 1" in out


def test_the_observability_example_prints_the_span_tree_and_the_counts() -> None:
    out = run_example("observability.py")
    tree = "confguard.check accept\n  confguard.attempt accept  (events: hedging)\n"
    assert tree in out
    assert "    confguard.signal retrieval" in out
    assert "confguard.decisions{action=abstain} = 1" in out


def test_the_stratified_example_weighs_each_kind_of_request_by_its_own_fit() -> None:
    out = run_example("stratified.py")
    assert "retrieved passage  accept    0.65  stratum: 'retrieval' ok" in out
    assert "supplied passage   abstain   0.04  stratum: 'retrieval' not ok" in out


def test_the_calibrate_strata_example_holds_each_kinds_risk_one_cut_does_not() -> None:
    out = run_example("calibrate_strata.py").splitlines()
    assert out[0].startswith("stratum 'retrieved': accept >= ")
    assert out[1].startswith("the policy's own thresholds: accept >= ")
    per_stratum, pooled = (
        [float(x) for x in re.findall(r"(?:retrieved|supplied) ([0-9.]+) of", line)]
        for line in out[2:4]
    )
    assert max(per_stratum) <= 0.25 < max(pooled)
    assert "certified for risk <= 0.15 on " in out[4]
    strict, rest = (
        float(x) for x in re.findall(r"(?:retrieved|supplied) ([0-9.]+) of", out[5])
    )
    assert strict <= 0.15 < per_stratum[0] and rest <= 0.25


def test_the_strata_example_bands_each_kind_of_request_by_its_own_thresholds() -> None:
    out = run_example("strata.py")
    assert "the YAML and the Python policy are equal: True" in out
    assert (
        "retrieved judge 0.60  accept    stratum 'retrieved': confidence 0.60 ≥ "
        "accept 0.55: accept"
    ) in out
    assert (
        "supplied  judge 0.60  annotate  confidence 0.60 < accept 0.80, ≥ annotate "
        "0.50: annotate"
    ) in out
    assert "supplied  judge 0.45  abstain   confidence 0.45 < annotate 0.50" in out
