"""`confguard demo` and `confguard review`: wired with fakes, and for real (slow)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from rich.console import Console

from confguard import cli, defaults
from confguard.cli import output
from confguard.store import SQLStore
from confguard.testing import FakeEmbedder, FakeGenerator


def test_the_default_questions_mix_corpus_and_outside_questions() -> None:
    questions = defaults.default_questions()
    assert len(questions) == 10
    assert sum(bool(q.gold) for q in questions) == 6
    assert questions[0].gold == ("Denver Broncos",)


def test_the_demo_policy_loads_and_routes_escalations_to_review(tmp_path: Path) -> None:
    store = SQLStore(f"sqlite:///{tmp_path / 'a.sqlite'}")
    guard = defaults.demo_guard(store)
    assert guard.policy.escalate.route == "review"
    assert guard.policy.thresholds.accept == 0.70
    assert [s.name for s in guard.signals] == [
        "avg_logprob",
        "min_token_prob",
        "hedging",
        "retrieval",
        "answer_support",
    ]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal wide enough that table cells are not folded mid-word."""
    monkeypatch.setattr(output, "console", Console(width=400))


@pytest.fixture
def fake_pipeline(monkeypatch: pytest.MonkeyPatch) -> FakeGenerator:
    """The demo on a fake model: confident on the corpus, hesitant elsewhere."""

    def answer(prompt: str) -> str:
        return (
            "Denver Broncos" if "Super Bowl" in prompt.split("Question:")[-1] else "x"
        )

    generator = FakeGenerator(
        answer, logprobs=lambda text: -0.05 if text == "Denver Broncos" else -2.0
    )
    monkeypatch.setattr(
        defaults,
        "preset_demo",
        functools.partial(
            defaults.preset_demo,
            generator=generator,
            # Wide enough that hash collisions don't retrieve the wrong passage:
            # the known answer is then supported by its passage, as for real.
            embedder_for=lambda name: FakeEmbedder(dim=1024, name=name),
        ),
    )
    return generator


def test_demo_prints_answers_confidences_and_decisions(
    fake_pipeline: FakeGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["demo", "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Denver Broncos" in out
    assert "preset balanced" in out
    assert "situated faithfulness" in out and "situated_rcr" in out  # its families
    assert "answer_support" in out
    rows = SQLStore(f"sqlite:///{tmp_path / 'audit.sqlite'}").decisions()
    assert len({r.request_id for r in rows}) == 10
    surest = max(rows, key=lambda r: r.confidence or 0.0)
    assert "Super Bowl" in surest.question  # the one answer the fake model knows
    assert len({r.action for r in rows}) >= 2, "the guard tells the answers apart"


def test_demo_asks_one_question(
    fake_pipeline: FakeGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["demo", "--cache-dir", str(tmp_path), "--question", "Who won?"])
    out = capsys.readouterr().out
    assert "Who won?" in out
    assert "(not in corpus)" in out


def test_review_lists_and_resolves_the_queue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from confguard.store import ReviewRequest

    url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    review_id = SQLStore(url).enqueue_review(
        ReviewRequest(
            request_id="r1", question="Q?", answer="A", confidence=0.3, reason="low"
        )
    )
    assert cli.main(["review", "list", "--store", url]) == 0
    assert review_id in capsys.readouterr().out.replace("\n", "")
    assert cli.main(["review", "approve", review_id, "--store", url]) == 0
    assert SQLStore(url).labels() == [(0.3, True)]


def test_review_without_an_id_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    assert cli.main(["review", "reject", "--store", url]) == 2


def test_a_bad_store_url_is_a_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main(
        ["review", "list", "--store", "postgresql+psycopg://u:secret@127.0.0.1:1/x"]
    )
    out = capsys.readouterr().out
    assert code == 2
    assert "error:" in out and "secret" not in out


@pytest.mark.slow
def test_the_real_demo_tells_questions_apart_by_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--cache-dir", str(tmp_path)]) == 0
    rows = SQLStore(f"sqlite:///{tmp_path / 'audit.sqlite'}").decisions()
    final = {}
    for row in rows:  # the last attempt of each request is its final decision
        final[row.request_id] = row.action
    assert len(final) == 10
    assert len(set(final.values())) >= 2, final


def test_demo_runs_a_config_file_and_groups_evidence_by_family(
    fake_pipeline: FakeGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "guard.yaml"
    config.write_text(
        "signals: [min_token_prob, avg_logprob, retrieval, answer_support]\n"
        "pipeline: {retrieval: single, embedders: [minilm]}\n"
        "policy: {thresholds: {accept: 0.7, escalate: 0.3},\n"
        "         escalate: {route: review}}\n"
        "routes: {review: {type: review_queue}}\n"
    )
    code = cli.main(
        ["demo", "--config", str(config), "--cache-dir", str(tmp_path), "--question",
         "Who won Super Bowl 50?"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert f"config {config}" in out
    assert "by family" in out and "token" in out and "retrieval" in out
    assert "calls" in out
    rows = SQLStore(f"sqlite:///{tmp_path / 'audit.sqlite'}").decisions()
    assert len(rows) == 1


def test_demo_refuses_a_preset_and_a_config_together(tmp_path: Path) -> None:
    code = cli.main(["demo", "--preset", "fast", "--config", str(tmp_path / "g.yaml")])
    assert code == 2
