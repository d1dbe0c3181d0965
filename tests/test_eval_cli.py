"""The eval harness and the eval / calibrate commands, end to end on fakes."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest
import yaml

from confguard.cli import main
from confguard.evaluation import load_jsonl
from confguard.evaluation.calibrate import calibrate_policy, final_scores
from confguard.evaluation.defaults import scoring_guard
from confguard.evaluation.report import measure, read_samples, write_report
from confguard.evaluation.runner import (
    EvalSample,
    GenerationCache,
    GivenContexts,
    aevaluate,
    evaluate,
)
from confguard.exceptions import CalibrationError
from confguard.guard import Guard
from confguard.observation import Observation
from confguard.policy import Policy
from confguard.results import SignalResult
from confguard.scoring.calibration import LabelledSample
from confguard.signals.base import FunctionSignal
from confguard.store import AuditRecord, ReviewRequest, SQLStore, digest
from confguard.testing import FakeGenerator

# A fake world: the generator answers "right" or "wrong" by what the question says;
# the signal is 0.9 for a right answer and 0.2 for a wrong one (AUROC 1).
FAKES = textwrap.dedent(
    """
    from confguard.evaluation.runner import GivenContexts
    from confguard.guard import Guard
    from confguard.policy import Policy
    from confguard.signals.base import FunctionSignal
    from confguard.testing import FakeGenerator

    def reply(prompt):
        question = prompt.rsplit("Question: ", 1)[1]
        return " Paris" if question.startswith("easy") else " Rome"

    def pipeline(dataset):
        return GivenContexts(FakeGenerator(reply), key="fake")

    def guard():
        signal = FunctionSignal(
            lambda obs: 0.9 if obs.answer == "Paris" else 0.2, name="oracle"
        )
        return Guard([signal], Policy.from_dict({"thresholds": {"accept": 0.8}}))

    def guard_with(policy=None):
        return Guard(guard().signals, policy or guard().policy)

    def guard_needing(signals):
        return guard()

    def not_a_guard():
        return "a guard"

    NOT_CALLABLE = 42
    GUARD = guard()
    """
)


def reply(prompt: str) -> str:
    question = prompt.rsplit("Question: ", 1)[1]
    return " Paris" if question.startswith("easy") else " Rome"


def oracle_guard() -> Guard:
    signal = FunctionSignal(
        lambda obs: 0.9 if obs.answer == "Paris" else 0.2, name="oracle"
    )
    return Guard([signal], Policy.from_dict({"thresholds": {"accept": 0.8}}))


def write_questions(path: Path, easy: int, hard: int) -> Path:
    rows = [
        {
            "id": f"{kind}-{i}",
            "question": f"{kind} question {i}: capital of France?",
            "answers": ["Paris"],
            "contexts": ["Paris is the capital of France."],
        }
        for kind, count in (("easy", easy), ("hard", hard))
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "evalfakes.py").write_text(FAKES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "evalfakes"


def test_evaluate_grades_scores_and_decides_every_item(tmp_path: Path) -> None:
    data = load_jsonl(write_questions(tmp_path / "q.jsonl", easy=3, hard=1))
    run = evaluate(data, GivenContexts(FakeGenerator(reply)), oracle_guard())
    by_id = {s.id: s for s in run.samples}
    assert by_id["easy-0"].answer == "Paris"
    assert (by_id["easy-0"].correct, by_id["easy-0"].action) == (True, "accept")
    assert (by_id["hard-0"].correct, by_id["hard-0"].action) == (False, "abstain")
    assert by_id["hard-0"].signals == {"oracle": 0.2}
    assert by_id["hard-0"].confidence == 0.2
    assert run.generated == 4


def test_generations_are_cached_so_rescoring_regenerates_nothing(
    tmp_path: Path,
) -> None:
    data = load_jsonl(write_questions(tmp_path / "q.jsonl", easy=2, hard=2))
    generator = FakeGenerator(reply)
    pipeline = GivenContexts(generator, key="fake")
    cache = GenerationCache.for_pipeline(tmp_path / "cache", pipeline)
    evaluate(data, pipeline, oracle_guard(), cache=cache)
    assert generator.call_count == 4
    reloaded = GenerationCache.for_pipeline(tmp_path / "cache", pipeline)
    assert len(reloaded) == 4
    other = scoring_guard(
        [FunctionSignal(lambda obs: 0.5, name="flat")],
        Policy.from_dict({"thresholds": {"accept": 0.8}}),
    )
    again = evaluate(data, pipeline, other, cache=reloaded)
    assert generator.call_count == 4
    assert again.generated == 0
    assert {s.signals["flat"] for s in again.samples} == {0.5}


async def test_aevaluate_gives_the_same_samples_as_evaluate(tmp_path: Path) -> None:
    data = load_jsonl(write_questions(tmp_path / "q.jsonl", easy=2, hard=2))
    pipeline = GivenContexts(FakeGenerator(reply))
    sync = evaluate(data, pipeline, oracle_guard())
    concurrent = await aevaluate(data, pipeline, oracle_guard())
    assert concurrent.samples == sync.samples


def test_the_report_holds_every_metric_and_the_policys_coverage_and_risk(
    tmp_path: Path,
) -> None:
    data = load_jsonl(write_questions(tmp_path / "q.jsonl", easy=6, hard=4))
    run = evaluate(data, GivenContexts(FakeGenerator(reply)), oracle_guard())
    metrics = write_report(run, tmp_path / "out")
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["n"] == 10
    assert written["accuracy"] == 0.6
    oracle = written["signals"]["oracle"]
    assert (oracle["auroc"], oracle["aurc"]) == (
        1.0,
        pytest.approx(measure(run).signals["oracle"].aurc),
    )
    # ECE over 10 equal-mass bins of one sample each: 6 x |0.9 - 1| + 4 x |0.2 - 0|.
    assert oracle["ece"] == pytest.approx((6 * 0.1 + 4 * 0.2) / 10)
    assert oracle["brier"] == pytest.approx((6 * 0.01 + 4 * 0.04) / 10)
    assert written["final"]["auroc"] == 1.0
    assert written["policy"]["coverage"] == 0.6
    assert written["policy"]["risk"] == 0.0
    assert metrics.policy.actions == {"accept": 6, "abstain": 4}
    for name in ("samples.jsonl", "reliability.png", "risk_coverage.png", "report.md"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert len(read_samples(tmp_path / "out" / "samples.jsonl")) == 10
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| **final** | 10 | 1.000 |" in report
    assert "![risk-coverage](risk_coverage.png)" in report


def test_the_report_gives_the_error_among_accepted_apart_from_the_returned(
    tmp_path: Path,
) -> None:
    # Right answers score 0.9 and are accepted; wrong ones 0.2 and are annotated.
    data = load_jsonl(write_questions(tmp_path / "q.jsonl", easy=6, hard=4))
    signal = FunctionSignal(
        lambda obs: 0.9 if obs.answer == "Paris" else 0.2, name="oracle"
    )
    policy = Policy.from_dict({"thresholds": {"accept": 0.8, "annotate": 0.1}})
    run = evaluate(data, GivenContexts(FakeGenerator(reply)), Guard([signal], policy))
    metrics = write_report(run, tmp_path / "out")
    assert (metrics.policy.returned, metrics.policy.risk) == (10, 0.4)
    assert (metrics.policy.accepted, metrics.policy.accepted_risk) == (6, 0.0)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "6 accepted, error among them 0.000" in report


def test_a_signal_skipped_everywhere_is_reported_with_no_figures(
    tmp_path: Path,
) -> None:
    data = load_jsonl(write_questions(tmp_path / "q.jsonl", easy=2, hard=2))

    never = FunctionSignal(
        lambda obs: SignalResult.skipped("never", "no logprobs"), name="never"
    )
    guard = scoring_guard(
        [never, FunctionSignal(lambda obs: 0.5, name="flat")],
        Policy.from_dict(
            {"thresholds": {"accept": 0.8}, "on_missing_evidence": "ignore"}
        ),
    )
    metrics = measure(evaluate(data, GivenContexts(FakeGenerator(reply)), guard))
    assert metrics.signals["never"].n == 0
    assert metrics.signals["never"].missing == 4
    assert metrics.signals["never"].auroc is None
    assert metrics.signals["flat"].auroc == 0.5


def test_the_eval_command_writes_the_report_and_reuses_its_cache(
    tmp_path: Path, fakes: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_questions(tmp_path / "q.jsonl", easy=12, hard=8)
    args = [
        "eval", "--dataset", f"jsonl:{path}", "--limit", "10", "--seed", "1",
        "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"),
        "--pipeline", f"{fakes}:pipeline", "--guard", f"{fakes}:guard",
    ]  # fmt: skip
    assert main(args) == 0
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["n"] == 10
    assert written["generated"] == 10
    assert written["signals"]["oracle"]["auroc"] == 1.0
    assert "policy coverage" in capsys.readouterr().out
    assert main(args) == 0
    again = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert again["generated"] == 0
    assert again["accuracy"] == written["accuracy"]


def test_eval_refuses_a_dataset_item_without_answers_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Q?", "answers": ["A"]}\n{"question": "R?"}\n')
    assert main(["eval", "--dataset", f"jsonl:{path}", "--out", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "line 2" in out and "'answers'" in out and "missing" in out


def separable(n: int) -> list[LabelledSample]:
    """Two signals; 'good' says right from wrong, 'weak' barely."""
    out = []
    for i in range(n):
        right = i % 3 != 0
        good = 0.8 + 0.15 * ((i * 7) % 10) / 10 if right else 0.1 + 0.3 * (i % 5) / 5
        out.append(LabelledSample(signals={"good": good, "weak": 0.5}, correct=right))
    return out


def test_calibrate_policy_fits_and_certifies_on_separate_parts() -> None:
    base = Policy.from_dict({"thresholds": {"accept": 0.9, "annotate": 0.7}})
    done = calibrate_policy(separable(600), base, target_risk=0.1, delta=0.05)
    assert (done.fitted_on, done.certified_on) == (300, 300)
    assert done.control.upper_bound <= 0.1
    policy = done.policy
    assert policy.thresholds.accept == done.control.threshold
    assert policy.thresholds.annotate == min(0.7, done.control.threshold)
    assert policy.risk_control == done.control
    assert policy.calibrator is not None and policy.calibrator.kind == "isotonic"
    assert not isinstance(policy.combiner, str)
    assert policy.combiner.coefficients["good"] > 0


def test_under_fail_closed_a_sample_with_a_missing_signal_is_never_accepted() -> None:
    from confguard.scoring import mean

    samples = [
        LabelledSample(signals={"a": 0.9, "b": None}, correct=True),
        LabelledSample(signals={"a": 0.9, "b": 0.9}, correct=True),
    ]
    closed = Policy.from_dict({"thresholds": {"accept": 0.5}})
    assert final_scores(samples, mean(), None, closed) == [None, 0.9]


def test_the_calibrate_command_writes_a_policy_that_loads_and_guards(
    tmp_path: Path, fakes: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_questions(tmp_path / "q.jsonl", easy=300, hard=100)
    out = tmp_path / "out"
    assert main(
        [
            "eval", "--dataset", f"jsonl:{path}", "--out", str(out),
            "--cache-dir", str(tmp_path / "cache"),
            "--pipeline", f"{fakes}:pipeline", "--guard", f"{fakes}:guard",
        ]
    ) == 0  # fmt: skip
    base = tmp_path / "base.yaml"
    base.write_text("thresholds: {accept: 0.8}\n")
    policy_file = tmp_path / "policy.yaml"
    code = main(
        [
            "calibrate", "--samples", str(out), "--target-risk", "0.05",
            "--delta", "0.05", "--policy", str(base), "--out", str(policy_file),
            "--cascade",
        ]
    )  # fmt: skip
    assert code == 0
    assert "error rate among accepted answers <= 0.05" in capsys.readouterr().out
    policy = Policy.from_yaml(policy_file)
    assert policy.cascade is True
    assert policy.risk_control is not None
    assert policy.risk_control.errors == 0
    assert yaml.safe_load(policy_file.read_text())["combiner"]["kind"] == "logistic"
    from evalfakes import guard

    fitted = Guard(guard().signals, policy)
    right = fitted.check(Observation(question="easy?", answer="Paris"))
    wrong = fitted.check(Observation(question="hard?", answer="Rome"))
    assert (right.decision.action, wrong.decision.action) == ("accept", "abstain")


def test_calibrate_refuses_too_few_reviews_saying_how_many_are_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    with SQLStore(url) as store:
        for i in range(12):
            store.record(
                AuditRecord(
                    request_id=f"r{i}", attempt=1, question="Q?",
                    answer_digest=digest("A"), confidence=0.3, action="escalate",
                    reason="low", latency_seconds=0.0,
                )
            )  # fmt: skip
            review = store.enqueue_review(
                ReviewRequest(
                    request_id=f"r{i}", question="Q?", answer="A", confidence=0.3,
                    reason="low",
                )
            )  # fmt: skip
            store.resolve_review(review, "approved" if i % 2 else "rejected")
    code = main(
        [
            "calibrate", "--store", url, "--target-risk", "0.1",
            "--combiner", "policy", "--calibrator", "none",
            "--out", str(tmp_path / "p.yaml"),
        ]
    )  # fmt: skip
    assert code == 2
    out = capsys.readouterr().out
    # 29 to test, 29 / 0.8 = 37 with the planning part; nothing to fit here.
    assert "needs at least 37 labelled samples (37 to certify the threshold)" in out
    assert "got 12" in out
    assert not (tmp_path / "p.yaml").exists()


def test_one_class_of_labels_is_refused() -> None:
    samples = [LabelledSample(signals={"a": 0.5}, correct=True)] * 50
    with pytest.raises(CalibrationError, match="all 50 labelled samples are correct"):
        calibrate_policy(samples, Policy(), target_risk=0.1, delta=0.05)


def test_fitting_half_the_samples_doubles_the_count_needed() -> None:
    with pytest.raises(CalibrationError) as info:
        calibrate_policy(separable(60), Policy(), target_risk=0.1, delta=0.05)
    # 29 to test, 29 / 0.8 = 37 with the planning part, 37 / 0.5 = 74 with fitting.
    assert info.value.needed == 74
    assert "(37 to certify the threshold once 50% went to fitting)" in str(info.value)


def test_a_refusal_on_the_held_out_part_is_restated_for_all_samples() -> None:
    # 4 % of the confident answers are wrong: too many to certify 10 % on 100 held out.
    samples = [
        LabelledSample(signals={"a": 0.9}, correct=i % 25 != 0) for i in range(100)
    ] + [LabelledSample(signals={"a": 0.2}, correct=False) for _ in range(100)]
    base = Policy.from_dict({"thresholds": {"accept": 0.5}, "combiner": "mean"})
    with pytest.raises(CalibrationError) as info:
        calibrate_policy(samples, base, target_risk=0.1, delta=0.05, combiner="policy")
    held_out = info.value.__cause__
    assert isinstance(held_out, CalibrationError) and held_out.needed is not None
    assert held_out.have == 100
    assert info.value.needed == math.ceil(held_out.needed * 200 / 100)
    assert f"about {info.value.needed} labelled samples in all" in str(info.value)


# --- bad input: one line naming the option or the file, exit code 2 -------------


def the_one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1, captured.out
    assert lines[0].startswith("error: ")
    return lines[0]


def sample_line(**change: object) -> str:
    sample = {
        "id": "q", "question": "Q?", "answer": "A", "gold": ["A"],
        "exact_match": True, "f1": 1.0, "correct": True,
        "signals": {"oracle": 0.9}, "confidence": 0.9, "action": "accept",
        "llm_calls": 0,
    }  # fmt: skip
    return json.dumps({**sample, **change}) + "\n"


@pytest.fixture
def bad_files(tmp_path: Path) -> Path:
    write_questions(tmp_path / "q.jsonl", easy=2, hard=2)
    (tmp_path / "meta.jsonl").write_text(
        '{"question": "Q?", "answers": ["A"], "metadata": ["not", "a", "map"]}\n'
    )
    (tmp_path / "latin.jsonl").write_bytes(
        '{"question": "Q?", "answers": ["A"]}\n'
        '{"question": "Où?", "answers": ["A"]}\n'.encode("latin-1")
    )
    (tmp_path / "empty.yaml").write_text("# thresholds: {accept: 0.8}\n")
    (tmp_path / "twice.yaml").write_text(
        "thresholds: {accept: 0.8}\nthresholds: {accept: 0.5}\n"
    )
    (tmp_path / "bool.yaml").write_text("thresholds: {accept: true}\n")
    (tmp_path / "ok.yaml").write_text("thresholds: {accept: 0.8}\n")
    (tmp_path / "a-file").write_text("")
    (tmp_path / "broken.jsonl").write_text(sample_line() + '{"id": "q2", \n')
    (tmp_path / "nan.jsonl").write_text(sample_line(signals={"oracle": math.nan}))
    (tmp_path / "big.jsonl").write_text(sample_line(signals={"oracle": 7.5}))
    (tmp_path / "sure.jsonl").write_text(sample_line(confidence=-0.1))
    (tmp_path / "unlabelled.jsonl").write_text(
        sample_line().replace('"correct": true, ', "")
    )
    (tmp_path / "latin-samples.jsonl").write_bytes(
        sample_line(question="Où?").encode("utf-8").decode("unicode_escape")
        .encode("latin-1")
    )  # fmt: skip
    return tmp_path


EVAL = ["eval", "--dataset", "jsonl:{tmp}/q.jsonl", "--out", "{tmp}/out"]
EVAL_BAD: list[tuple[list[str], str]] = [
    (["--limit", "0"], "argument --limit: must be >= 1, got 0"),
    (["--limit", "all"], "argument --limit: expected a whole number, got 'all'"),
    (["--f1-threshold", "5"], "argument --f1-threshold: must be in (0, 1], got 5"),
    (["--f1-threshold", "nan"], "argument --f1-threshold: must be in (0, 1]"),
    (
        ["--dataset", "jsonl:{tmp}/meta.jsonl"],
        "meta.jsonl, line 1: field 'metadata': expected a JSON object, got list",
    ),
    (
        ["--dataset", "jsonl:{tmp}/latin.jsonl"],
        "latin.jsonl, line 2: not UTF-8 text (byte 0xf9)",
    ),
    (
        ["--guard", "{fakes}:NOT_CALLABLE"],
        "--guard {fakes}:NOT_CALLABLE: not callable (a value of type int); "
        "expected a factory",
    ),
    (
        ["--guard", "{fakes}:not_a_guard"],
        "--guard {fakes}:not_a_guard: the factory returned a str, not a Guard",
    ),
    (
        ["--guard", "{fakes}:guard_needing"],
        "--guard {fakes}:guard_needing: missing a required argument: 'signals'",
    ),
    (["--guard", "{fakes}:nothing"], "--guard: cannot load '{fakes}:nothing'"),
    (
        ["--guard", "{fakes}:guard", "--policy", "{tmp}/ok.yaml"],
        "--guard {fakes}:guard: got an unexpected keyword argument 'policy'; it "
        "takes no policy=, so --policy cannot be applied",
    ),
    (
        ["--guard", "{fakes}:GUARD", "--policy", "{tmp}/ok.yaml"],
        "--policy: --guard {fakes}:GUARD is a Guard built with its own policy",
    ),
    (
        ["--pipeline", "{fakes}:NOT_CALLABLE"],
        "--pipeline {fakes}:NOT_CALLABLE: not callable (a value of type int)",
    ),
    (["--policy", "{tmp}/empty.yaml"], "policy file {tmp}/empty.yaml is empty"),
    (
        ["--policy", "{tmp}/twice.yaml"],
        "policy file {tmp}/twice.yaml, line 2: the key 'thresholds' is given twice",
    ),
    (
        ["--out", "{tmp}/nowhere/out"],
        "--out {tmp}/nowhere/out: the folder {tmp}/nowhere does not exist",
    ),
    (["--out", "{tmp}/a-file"], "--out {tmp}/a-file: is a file, not a folder"),
    (  # --out is checked before the dataset is even read
        ["--dataset", "jsonl:{tmp}/missing.jsonl", "--out", "{tmp}/nowhere/out"],
        "--out {tmp}/nowhere/out: the folder",
    ),
]


@pytest.mark.parametrize(("extra", "expected"), EVAL_BAD)
def test_eval_refuses_bad_input_in_one_line_with_exit_code_2(
    extra: list[str],
    expected: str,
    bad_files: Path,
    fakes: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pipeline = ["--pipeline", f"{fakes}:pipeline"]
    argv = [*EVAL, *pipeline, "--cache-dir", "{tmp}/cache", *extra]
    filled = [a.format(tmp=bad_files, fakes=fakes) for a in argv]
    assert main(filled) == 2
    assert expected.format(tmp=bad_files, fakes=fakes) in the_one_error_line(capsys)
    assert not (bad_files / "out").exists()
    assert not (bad_files / "cache").exists()


def test_eval_applies_policy_to_a_guard_factory_that_takes_one(
    tmp_path: Path, fakes: str
) -> None:
    path = write_questions(tmp_path / "q.jsonl", easy=2, hard=2)
    (tmp_path / "lenient.yaml").write_text("thresholds: {accept: 0.1}\n")
    args = [
        "eval", "--dataset", f"jsonl:{path}", "--out", str(tmp_path / "out"),
        "--cache-dir", str(tmp_path / "cache"), "--pipeline", f"{fakes}:pipeline",
        "--guard", f"{fakes}:guard_with",
    ]  # fmt: skip
    assert main(args) == 0
    strict = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert main([*args, "--policy", str(tmp_path / "lenient.yaml")]) == 0
    lenient = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (strict["policy"]["coverage"], lenient["policy"]["coverage"]) == (0.5, 1.0)


CALIBRATE = ["calibrate", "--target-risk", "0.1", "--out", "{tmp}/p.yaml"]
CALIBRATE_BAD: list[tuple[list[str], str]] = [
    (
        ["--samples", "{tmp}/broken.jsonl"],
        "{tmp}/broken.jsonl, line 2: not valid JSON",
    ),
    (
        ["--samples", "{tmp}/nan.jsonl"],
        "{tmp}/nan.jsonl, line 1: field 'signals.oracle': must be in [0, 1], got nan",
    ),
    (
        ["--samples", "{tmp}/big.jsonl"],
        "{tmp}/big.jsonl, line 1: field 'signals.oracle': must be in [0, 1], got 7.5",
    ),
    (
        ["--samples", "{tmp}/sure.jsonl"],
        "{tmp}/sure.jsonl, line 1: field 'confidence': must be in [0, 1], got -0.1",
    ),
    (
        ["--samples", "{tmp}/unlabelled.jsonl"],
        "{tmp}/unlabelled.jsonl, line 1: field 'correct': Field required",
    ),
    (
        ["--samples", "{tmp}/latin-samples.jsonl"],
        "{tmp}/latin-samples.jsonl, line 1: not UTF-8 text",
    ),
    (["--samples", "{tmp}/none.jsonl"], "--samples: no samples file at {tmp}/none"),
    (
        ["--samples", "{tmp}/big.jsonl", "--fit-fraction", "1.0"],
        "argument --fit-fraction: must be in (0, 1), got 1.0",
    ),
    (
        ["--samples", "{tmp}/big.jsonl", "--fit-fraction", "0"],
        "argument --fit-fraction: must be in (0, 1), got 0",
    ),
    (
        ["--samples", "{tmp}/big.jsonl", "--delta", "-1"],
        "argument --delta: must be in (0, 1), got -1",
    ),
    (  # --out is checked before the samples are read
        ["--samples", "{tmp}/broken.jsonl", "--out", "{tmp}/nowhere/p.yaml"],
        "--out {tmp}/nowhere/p.yaml: the folder {tmp}/nowhere does not exist",
    ),
    (
        ["--samples", "{tmp}/big.jsonl", "--out", "{tmp}"],
        "--out {tmp}: is a folder, not a file",
    ),
    (
        ["--store", "sqlite:///{tmp}/typo.sqlite"],
        "--store: no audit store at {tmp}/typo.sqlite (a new one is created only "
        "with --create)",
    ),
    (
        ["--samples", "{tmp}/big.jsonl", "--policy", "{tmp}/bool.yaml"],
        "policy file {tmp}/bool.yaml, line 1: thresholds.accept: expected a number, "
        "got True",
    ),
]


@pytest.mark.parametrize(("extra", "expected"), CALIBRATE_BAD)
def test_calibrate_refuses_bad_input_in_one_line_with_exit_code_2(
    extra: list[str],
    expected: str,
    bad_files: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [a.format(tmp=bad_files) for a in [*CALIBRATE, *extra]]
    assert main(argv) == 2
    assert expected.format(tmp=bad_files) in the_one_error_line(capsys)
    assert not (bad_files / "p.yaml").exists()
    assert not (bad_files / "typo.sqlite").exists()


def test_calibrate_creates_a_missing_store_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/new.sqlite"
    argv = ["calibrate", "--store", url, "--target-risk", "0.1"]
    assert main([*argv, "--out", str(tmp_path / "p.yaml"), "--create"]) == 2
    assert "needs at least 10 labelled samples; got 0" in the_one_error_line(capsys)
    assert (tmp_path / "new.sqlite").is_file()


def test_eval_refuses_a_preset_with_a_policy_or_a_guard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_questions(tmp_path / "q.jsonl", easy=2, hard=2)
    base = ["eval", "--dataset", f"jsonl:{path}", "--out", str(tmp_path / "out")]
    policy = tmp_path / "p.yaml"
    policy.write_text("thresholds: {accept: 0.5}\n")
    assert main([*base, "--preset", "fast", "--policy", str(policy)]) == 2
    assert "carries its own policy" in capsys.readouterr().out
    assert main([*base, "--config", "x.yaml", "--guard", "m:f"]) == 2
    assert "both name the guard" in capsys.readouterr().out


def flagged(obs: Observation) -> SignalResult:
    """A conflict detector: a detail on every answer, failing on the hard ones."""
    if obs.answer != "Paris":
        return SignalResult.failed("situated", "no context verdict")
    return SignalResult(name="situated", confidence=0.6, details={"conflict": False})


def test_samples_keep_each_signals_status_and_details_for_calibration(
    tmp_path: Path,
) -> None:
    data = load_jsonl(write_questions(tmp_path / "q.jsonl", easy=3, hard=2))
    guard = Guard([FunctionSignal(flagged, name="situated")], Policy())
    run = evaluate(data, GivenContexts(FakeGenerator(reply)), guard)
    write_report(run, tmp_path / "out")
    samples = read_samples(tmp_path / "out" / "samples.jsonl")
    recorded = {s.id: s.labelled().recorded for s in samples}
    easy = SignalResult(name="situated", confidence=0.6, details={"conflict": False})
    assert recorded["easy-0"] == (easy,)
    failed = SignalResult.failed("situated", "no context verdict")
    assert recorded["hard-0"] == (failed,)


def test_an_old_samples_line_without_statuses_records_nothing() -> None:
    line = {
        "id": "1", "question": "Q?", "answer": "A", "gold": ["A"],
        "exact_match": True, "f1": 1.0, "correct": True,
        "signals": {"s": 0.5}, "confidence": 0.5, "action": "accept", "llm_calls": 0,
    }  # fmt: skip
    assert EvalSample.model_validate(line).labelled().recorded == ()


def test_a_stratum_on_a_detail_calibrates_from_an_eval_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = load_jsonl(write_questions(tmp_path / "q.jsonl", easy=90, hard=60))
    guard = Guard([FunctionSignal(flagged, name="situated")], Policy())
    write_report(evaluate(data, GivenContexts(FakeGenerator(reply)), guard),
                 tmp_path / "ev")  # fmt: skip
    when = {"signal": "situated", "detail": {"key": "conflict", "eq": False}}
    base = Policy.from_dict(
        {
            "thresholds": {"accept": 0.8, "annotate": 0.1},
            "on_missing_evidence": "ignore",
            "strata": [{"name": "settled", "when": when,
                        "thresholds": {"accept": 0.5, "annotate": 0.1}}],
        }
    )  # fmt: skip
    (tmp_path / "base.yaml").write_text(base.to_yaml())
    code = main(
        [
            "calibrate", "--samples", str(tmp_path / "ev"), "--policy",
            str(tmp_path / "base.yaml"), "--target-risk", "0.2", "--delta", "0.2",
            "--combiner", "policy", "--calibrator", "none",
            "--out", str(tmp_path / "p.yaml"),
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "stratum 'settled': accept >= " in out
