"""HistoryCorrectness on a toy history: neighbours, the prior, saving, sources, CLI."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from confguard import registry
from confguard.cli import main
from confguard.embeddings.base import Vectors
from confguard.evaluation.runner import EvalSample
from confguard.exceptions import ConfigurationError, DatasetError, InputError
from confguard.guard import Guard
from confguard.results import SignalResult, SignalStatus
from confguard.signals.base import Signal
from confguard.signals.history import (
    History,
    HistoryCorrectness,
    LabelledCase,
    history_signal,
    saved_history,
)
from confguard.store import AuditRecord, ReviewRequest, SQLStore, digest
from confguard.store.base import Verdict
from confguard.testing import FakeEmbedder, make_observation

DIM = 256  # wide enough that few of the toy questions' words share a bucket
FAKE = "test_history_fake"


def embedder() -> FakeEmbedder:
    return FakeEmbedder(DIM, name=FAKE)


def case(question: str, correct: bool, id: str | None = None) -> LabelledCase:
    return LabelledCase(question=question, correct=correct, id=id)


def toy_cases() -> list[LabelledCase]:
    """Questions about rivers answered right, about poets answered wrong."""
    rivers = [
        ("how long is the river nile", "r1"),
        ("how long is the river amazon", "r2"),
        ("how long is the river danube", "r3"),
        ("how long is the river rhine", "r4"),
    ]
    poets = [
        ("which poet wrote the sonnet ozymandias", "p1"),
        ("which poet wrote the sonnet daffodils", "p2"),
        ("which poet wrote the sonnet kubla", "p3"),
        ("which poet wrote the sonnet tyger", "p4"),
    ]
    return [case(q, True, i) for q, i in rivers] + [case(q, False, i) for q, i in poets]


@pytest.fixture
def history() -> History:
    return History.build(embedder(), toy_cases())


def ask(signal: HistoryCorrectness, question: str) -> float:
    result = signal.score(make_observation(question=question))
    assert result.ok, result.reason
    assert result.confidence is not None
    return result.confidence


@pytest.fixture
def fake_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fake embedder under a registry name, for this test only.

    setitem, not `registry.register`: a lasting entry would change the built-in
    embedder list that tests/test_embeddings.py pins.
    """
    entry = registry.Entry("embedder", FAKE, embedder)
    monkeypatch.setitem(registry.REGISTRY._entries, ("embedder", FAKE), entry)
    yield FAKE


# --- neighbours and the confidence ------------------------------------------------


def test_the_nearest_cases_are_the_ones_asking_the_same_thing(
    history: History,
) -> None:
    found = history.nearest("how long is the river nile", k=3)
    assert found[0].case.id == "r1"
    assert found[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert {n.case.id for n in found} <= {"r1", "r2", "r3", "r4"}
    assert [n.similarity for n in found] == sorted(
        (n.similarity for n in found), reverse=True
    )


def test_confidence_is_high_near_right_answers_and_low_near_wrong_ones(
    history: History,
) -> None:
    signal = HistoryCorrectness(history, k=4)
    river = ask(signal, "how long is the river thames")
    poet = ask(signal, "which poet wrote the sonnet ulysses")
    assert history.base_rate == 0.5
    assert river > 0.75
    assert poet < 0.25


def test_confidence_rises_with_each_right_neighbour() -> None:
    questions = [f"how deep is the lake number{i}" for i in range(5)]
    confidences = []
    for right in range(6):
        cases = [case(q, i < right) for i, q in enumerate(questions)]
        signal = HistoryCorrectness(History.build(embedder(), cases), k=5)
        confidences.append(ask(signal, "how deep is the lake"))
    assert confidences == sorted(confidences)
    assert len(set(confidences)) == 6  # strictly: every right neighbour counts


def test_the_confidence_is_the_documented_beta_posterior_mean(
    history: History,
) -> None:
    signal = HistoryCorrectness(history, k=4, prior_strength=3.0)
    obs = make_observation(question="how long is the river thames")
    result = signal.score(obs)
    found = history.nearest(obs.question, 4)
    weights = np.array([n.similarity for n in found])
    right = np.array([n.case.correct for n in found], dtype=float)
    expected = (3.0 * 0.5 + weights @ right) / (3.0 + weights.sum())
    assert result.confidence == pytest.approx(expected)


def test_the_prior_pulls_a_small_neighbourhood_toward_the_base_rate(
    history: History,
) -> None:
    # One exact, wrong neighbour: alone it would say 0; the prior holds it up.
    question = "which poet wrote the sonnet ozymandias"
    weak = ask(HistoryCorrectness(history, k=1, prior_strength=0.5), question)
    strong = ask(HistoryCorrectness(history, k=1, prior_strength=8.0), question)
    none = ask(HistoryCorrectness(history, k=1, prior_strength=0.0), question)
    assert none == pytest.approx(0.0, abs=1e-6)
    assert 0.0 < weak < strong < history.base_rate
    assert strong == pytest.approx(8.0 * 0.5 / 9.0, rel=1e-4)
    # Four neighbours of the same kind weigh more than one against the same prior.
    four = ask(HistoryCorrectness(history, k=4, prior_strength=8.0), question)
    assert four < strong


def test_a_k_larger_than_the_history_uses_every_case(history: History) -> None:
    result = HistoryCorrectness(history, k=50).score(
        make_observation(question="how long is the river thames")
    )
    assert result.ok
    assert result.details["k"] == len(history) == 8
    assert sorted(result.details["nearest"]) == sorted(str(c.id) for c in toy_cases())


def test_an_empty_history_is_skipped_with_a_reason() -> None:
    signal = HistoryCorrectness(History.build(embedder(), []))
    result = signal.score(make_observation(question="anything at all"))
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "the history has no labelled cases"


def test_a_question_like_no_past_case_is_skipped(history: History) -> None:
    signal = HistoryCorrectness(history, min_similarity=0.3)
    result = signal.score(make_observation(question="quantum chromodynamics"))
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "no past case resembles the question"


def test_details_name_k_similarity_the_nearest_ids_and_the_base_rate(
    history: History,
) -> None:
    result = HistoryCorrectness(history, k=2).score(
        make_observation(question="how long is the river nile")
    )
    details = result.details
    assert details["k"] == 2
    assert details["nearest"][0] == "r1"
    assert 0.5 < details["mean_similarity"] <= 1.0
    assert details["base_rate"] == 0.5
    assert details["neighbours_correct"] == 2


def test_a_case_without_an_id_is_named_by_its_position() -> None:
    history = History.build(embedder(), [case("red apple pie", True)])
    assert history.nearest("red apple", 1)[0].label == "#0"


def test_exclude_same_leaves_out_the_history_s_own_question(history: History) -> None:
    question = "which poet wrote the sonnet ozymandias"
    kept = HistoryCorrectness(history, k=4).score(make_observation(question=question))
    left = HistoryCorrectness(history, k=4, exclude_same=True).score(
        make_observation(question=question.upper())
    )
    assert "p1" in kept.details["nearest"]
    assert "p1" not in left.details["nearest"]
    assert left.details["k"] == 4


def test_it_is_a_signal_with_no_llm_call_and_scores_async(history: History) -> None:
    signal = HistoryCorrectness(history)
    assert isinstance(signal, Signal)
    assert signal.cost.llm_calls == 0
    assert not signal.cost.inline  # it embeds: a worker thread, under a timeout
    obs = make_observation(question="how long is the river thames")
    assert asyncio.run(signal.ascore(obs)).confidence == signal.score(obs).confidence


def test_bad_parameters_are_refused(history: History) -> None:
    with pytest.raises(ValueError, match="k must be >= 1"):
        HistoryCorrectness(history, k=0)
    with pytest.raises(ValueError, match="prior_strength must be >= 0"):
        HistoryCorrectness(history, prior_strength=-1.0)


# --- saving and loading -----------------------------------------------------------


def test_a_saved_history_loads_back_and_scores_the_same(
    history: History, tmp_path: Path
) -> None:
    folder = history.save(tmp_path / "history")
    assert saved_history(folder)
    loaded = History.load(folder, embedder())
    assert loaded.cases == history.cases
    question = "which poet wrote the sonnet ulysses"
    assert ask(HistoryCorrectness(loaded), question) == pytest.approx(
        ask(HistoryCorrectness(history), question)
    )


def test_an_empty_history_saves_and_loads(tmp_path: Path) -> None:
    History.build(embedder(), []).save(tmp_path / "h")
    assert len(History.load(tmp_path / "h", embedder())) == 0


def test_another_embedder_is_refused_by_name_and_by_dimension(
    history: History, tmp_path: Path
) -> None:
    folder = history.save(tmp_path / "h")
    with pytest.raises(ConfigurationError, match=f"built with embedder '{FAKE}'"):
        History.load(folder, FakeEmbedder(DIM, name="minilm"))
    with pytest.raises(ConfigurationError, match="cannot be queried with"):
        History.load(folder, FakeEmbedder(64, name=FAKE))


class _SaltedEmbedder(FakeEmbedder):
    """Another model under the same name and dimension: every text gets a word."""

    def _encode_documents(self, texts: list[str]) -> Vectors:
        return super()._encode_documents([f"{t} salt" for t in texts])


def test_a_different_model_with_the_same_name_is_refused(
    history: History, tmp_path: Path
) -> None:
    folder = history.save(tmp_path / "h")
    with pytest.raises(ConfigurationError, match="different model that is also named"):
        History.load(folder, _SaltedEmbedder(DIM, name=FAKE))


def test_files_that_do_not_match_the_manifest_are_refused(
    history: History, tmp_path: Path
) -> None:
    folder = history.save(tmp_path / "h")
    other = History.build(embedder(), toy_cases()[:3]).save(tmp_path / "other")
    shutil.copy(other / "cases.jsonl", folder / "cases.jsonl")
    with pytest.raises(InputError, match="do not match their manifest"):
        History.load(folder, embedder())
    with pytest.raises(InputError, match="no saved history"):
        History.load(tmp_path / "nowhere", embedder())


# --- where the labels come from ---------------------------------------------------


def eval_line(i: int, question: str, correct: bool, good: float) -> str:
    """One samples.jsonl line exactly as `confguard eval` writes it."""
    sample = EvalSample(
        id=f"q{i}", question=question, answer="A", gold=("A",),
        exact_match=correct, f1=float(correct), correct=correct,
        signals={"good": good}, confidence=None, action="accept", llm_calls=0,
    )  # fmt: skip
    return sample.model_dump_json()


def write_eval(path: Path, n: int, seed: int = 0) -> list[bool]:
    """`n` samples: river questions mostly right, poet questions mostly wrong."""
    rng = np.random.default_rng(seed)
    labels, lines = [], []
    for i in range(n):
        river = i % 2 == 0
        right = bool(rng.uniform() < (0.9 if river else 0.1))
        topic = "how long is the river" if river else "which poet wrote the sonnet"
        good = float(np.clip(rng.normal(0.8 if right else 0.2, 0.1), 0.0, 1.0))
        lines.append(eval_line(i, f"{topic} number{i}", right, good))
        labels.append(right)
    path.write_text("\n".join(lines) + "\n")
    return labels


def test_a_history_from_eval_samples_keeps_questions_labels_and_ids(
    tmp_path: Path,
) -> None:
    labels = write_eval(tmp_path / "samples.jsonl", 20)
    history = History.from_eval_samples(tmp_path, embedder())  # the eval folder
    assert [c.correct for c in history.cases] == labels
    assert history.cases[3].id == "q3"
    assert history.cases[3].question == "which poet wrote the sonnet number3"
    assert {c.source for c in history.cases} == {"eval"}
    signal = HistoryCorrectness(history, k=6)
    assert ask(signal, "how long is the river") > ask(
        signal, "which poet wrote the sonnet"
    )


def test_a_malformed_samples_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_text(eval_line(0, "q", True, 0.5) + "\n" + json.dumps({"id": "x"}))
    with pytest.raises(DatasetError, match=r"line 2: field 'question'"):
        History.from_eval_samples(path, embedder())


def test_a_history_from_the_store_reads_the_reviewers_verdicts(
    sqlite_store: SQLStore,
) -> None:
    verdicts: dict[str, Verdict | None] = {
        "how long is the river nile": "approved",
        "how long is the river amazon": "approved",
        "which poet wrote the sonnet tyger": "edited",
        "which poet wrote the sonnet kubla": "rejected",
        "which poet wrote the sonnet daffodils": None,  # still pending
    }
    for i, (question, verdict) in enumerate(verdicts.items()):
        review = sqlite_store.enqueue_review(
            ReviewRequest(
                request_id=f"r{i}", question=question, answer="A", confidence=0.3,
                reason="low",
            )
        )  # fmt: skip
        if verdict is not None:
            sqlite_store.resolve_review(review, verdict, edited_answer="B")
    history = History.from_store(sqlite_store, embedder())
    by_id = {c.id: c for c in history.cases}
    assert set(by_id) == {"r0", "r1", "r2", "r3"}
    assert [by_id[f"r{i}"].correct for i in range(4)] == [True, True, False, False]
    assert by_id["r2"].source == "review:edited"
    assert by_id["r3"].question == "which poet wrote the sonnet kubla"
    signal = HistoryCorrectness(history, k=2)
    assert ask(signal, "how long is the river") > 0.5
    assert ask(signal, "which poet wrote the sonnet") < 0.5


# --- the registry, YAML and the CLI -----------------------------------------------


def config(tmp_path: Path, params: str) -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            signals:
              - type: history
                params: {params}
            policy:
              thresholds: {{accept: 0.7}}
            """
        )
    )
    return path


def test_a_yaml_config_names_the_history_and_its_embedder(
    history: History, tmp_path: Path, fake_registered: str
) -> None:
    folder = history.save(tmp_path / "history")
    path = config(tmp_path, f"{{path: {folder}, embedder: {fake_registered}, k: 4}}")
    guard = Guard.from_config(path)
    river = guard.check(make_observation(question="how long is the river thames"))
    poet = guard.check(make_observation(question="which poet wrote the sonnet x"))
    assert river.assessment.signals[0].name == "history"
    assert river.decision.action == "accept"
    assert poet.decision.action != "accept"


def test_without_an_embedder_the_manifest_s_one_is_used(
    history: History, tmp_path: Path, fake_registered: str
) -> None:
    folder = history.save(tmp_path / "history")
    signal = history_signal(str(folder), k=4)
    assert signal.history.embedder.name == fake_registered
    assert len(signal.history) == 8


def test_a_yaml_history_with_the_wrong_embedder_is_refused(
    history: History, tmp_path: Path
) -> None:
    folder = history.save(tmp_path / "history")
    path = config(tmp_path, f"{{path: {folder}}}")
    with pytest.raises(ConfigurationError, match="cannot be queried with 'fake'"):
        Guard.from_config(path, embedder=FakeEmbedder(DIM))  # named "fake"
    guard = Guard.from_config(path, embedder=embedder())  # the right one, passed in
    assert guard.check(make_observation(question="how long is the river")).confidence


def test_calibrate_writes_a_fresh_history_of_the_labelled_questions(
    tmp_path: Path, fake_registered: str, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = write_eval(tmp_path / "samples.jsonl", 200)
    out, folder = tmp_path / "policy.yaml", tmp_path / "history"
    code = main(
        [
            "calibrate", "--samples", str(tmp_path), "--target-risk", "0.3",
            "--delta", "0.2", "--out", str(out),
            "--history", str(folder), "--history-embedder", fake_registered,
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().out
    assert out.is_file()
    said = capsys.readouterr().out
    assert f"history of 200 cases ({sum(labels)} right) built with" in said
    signal = history_signal(str(folder), embedder=fake_registered, k=10)
    assert [c.correct for c in signal.history.cases] == labels
    assert ask(signal, "how long is the river") > ask(
        signal, "which poet wrote the sonnet"
    )


def test_calibrate_from_the_store_writes_a_history_of_the_reviewed_questions(
    tmp_path: Path, fake_registered: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    rng = np.random.default_rng(1)
    labels = []
    with SQLStore(url) as store:
        for i in range(200):
            river = i % 2 == 0
            right = bool(rng.uniform() < (0.9 if river else 0.1))
            good = float(np.clip(rng.normal(0.8 if right else 0.2, 0.1), 0.0, 1.0))
            topic = "how long is the river" if river else "which poet wrote the sonnet"
            question = f"{topic} number{i}"
            store.record(
                AuditRecord(
                    request_id=f"r{i}", attempt=1, question=question,
                    answer_digest=digest("A"), confidence=good, action="escalate",
                    reason="low", latency_seconds=0.0,
                    signals=(SignalResult(name="good", confidence=good),),
                )
            )  # fmt: skip
            review = store.enqueue_review(
                ReviewRequest(
                    request_id=f"r{i}", question=question, answer="A",
                    confidence=good, reason="low",
                )
            )  # fmt: skip
            store.resolve_review(review, "approved" if right else "rejected")
            labels.append(right)
    folder = tmp_path / "history"
    code = main(
        [
            "calibrate", "--store", url, "--target-risk", "0.3", "--delta", "0.2",
            "--out", str(tmp_path / "p.yaml"), "--history", str(folder),
            "--history-embedder", fake_registered,
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().out
    history = History.load(folder, embedder())
    assert sorted(c.id or "" for c in history.cases) == sorted(
        f"r{i}" for i in range(200)
    )
    by_id = {c.id: c.correct for c in history.cases}
    assert [by_id[f"r{i}"] for i in range(200)] == labels
    signal = HistoryCorrectness(history, k=10)
    assert ask(signal, "how long is the river") > ask(
        signal, "which poet wrote the sonnet"
    )


def test_calibrate_without_history_writes_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_eval(tmp_path / "samples.jsonl", 200)
    code = main(
        [
            "calibrate", "--samples", str(tmp_path), "--target-risk", "0.3",
            "--delta", "0.2", "--out", str(tmp_path / "p.yaml"),
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().out
    assert "history of" not in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml", "samples.jsonl"]


def test_calibrate_refuses_a_history_folder_that_is_a_file(
    tmp_path: Path, fake_registered: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_eval(tmp_path / "samples.jsonl", 200)
    (tmp_path / "taken").write_text("")
    code = main(
        [
            "calibrate", "--samples", str(tmp_path), "--target-risk", "0.3",
            "--delta", "0.2", "--out", str(tmp_path / "p.yaml"),
            "--history", str(tmp_path / "taken"),
            "--history-embedder", fake_registered,
        ]
    )  # fmt: skip
    assert code != 0
    assert "is a file, not a folder" in capsys.readouterr().out
    assert not (tmp_path / "p.yaml").exists()


def test_the_example_scores_rivers_high_and_poets_low() -> None:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "examples/history_signal.py"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "history: 6 cases, base rate 0.62" in done.stdout
    assert "How long is the river Thames?    0.83  nearest: case2," in done.stdout
    assert "guard: How long is the river Rhine?   accept" in done.stdout
    assert "guard: Which poet wrote Kubla?        abstain" in done.stdout
