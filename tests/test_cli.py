"""The `confguard` command: one parser for every subcommand, errors on one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from confguard.cli import COMMANDS, main
from confguard.cli.checks import existing_store
from confguard.cli.output import error
from confguard.defaults import demo_guard, demo_policy
from confguard.evaluation.defaults import default_guard
from confguard.exceptions import ConfigurationError
from confguard.store import InMemoryStore

EVERY_COMMAND = (
    "demo",
    "review",
    "eval",
    "calibrate",
    "db",
    "deliver",
    "store",
    "config",
    "serve",
    "users",
)


def test_the_parser_has_every_command() -> None:
    assert tuple(c.name for c in COMMANDS) == EVERY_COMMAND


def test_help_lists_every_command_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    listed = {
        line.split()[0]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("    ") and line.strip()
    }
    assert set(EVERY_COMMAND) <= listed


def test_a_subcommand_has_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--help"]) == 0
    assert "--dataset" in capsys.readouterr().out


def test_python_dash_m_confguard_cli_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "confguard.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert all(name in done.stdout for name in EVERY_COMMAND)


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--no-such-option"],
        ["no-such-command"],
        ["eval"],  # --dataset is required
        ["calibrate", "--samples", "x", "--target-risk", "high"],
    ],
)
def test_a_usage_error_is_one_line_and_exit_code_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1, captured.out
    assert lines[0].startswith("error: ") and "--help" in lines[0]
    assert captured.err == ""


def test_a_bad_guard_factory_is_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "Q?", "answers": ["A"], "contexts": ["A."]}\n')
    code = main(["eval", "--dataset", f"jsonl:{data}", "--guard", "nomodule"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 2
    assert len(out) == 1 and out[0].startswith("error: ")


def test_eval_scores_with_the_demos_signals_and_policy() -> None:
    demo = demo_guard(InMemoryStore())
    scoring = default_guard(None, "retrieve")
    assert [s.name for s in scoring.signals] == [s.name for s in demo.signals]
    assert scoring.policy == demo_policy()


def test_answers_from_given_passages_are_not_scored_on_retrieval() -> None:
    names = [s.name for s in default_guard(None, "given").signals]
    assert "retrieval" not in names
    assert "answer_support" in names


def test_an_error_spanning_lines_is_reported_on_one_line_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert error("cannot load 'mod:guard:' [bold]\n  (driver detail)") == 2
    assert capsys.readouterr().out == (
        "error: cannot load 'mod:guard:' [bold] (driver detail)\n"
    )


def test_only_a_missing_sqlite_file_needs_create(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path}/typo.sqlite"
    with pytest.raises(ConfigurationError, match=r"no audit store at .*typo\.sqlite"):
        existing_store(missing, create=False)
    assert existing_store(missing, create=True) == missing
    (tmp_path / "there.sqlite").write_bytes(b"")
    for url in (
        f"sqlite:///{tmp_path}/there.sqlite",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql+psycopg://u:p@127.0.0.1:1/db",
    ):
        assert existing_store(url, create=False) == url
