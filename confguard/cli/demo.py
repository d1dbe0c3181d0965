"""`confguard demo`: the guarded RAG over the bundled corpus, fully offline.

It runs a preset (`balanced` unless `--preset` or `--config` says otherwise): the
preset's pipeline answers, its fitted guard scores and decides.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from confguard.cli.command import Command
from confguard.cli.output import Advance, progress_bars, say, show
from confguard.cli.render import results_view

if TYPE_CHECKING:  # the RAG stack loads when the demo runs, not for --help
    from confguard.defaults import DemoQuestion
    from confguard.guard import Guard
    from confguard.presets import PresetPipeline
    from confguard.results import GuardResult
    from confguard.store.base import AuditStore


PRESET_CHOICES = ("fast", "balanced", "thorough")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The question, the preset or config, the cache folder and the audit store."""
    p.add_argument("--question", help="ask this question instead of the default ten")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--preset",
        choices=PRESET_CHOICES,
        default="balanced",
        help="the shipped preset to run (default: balanced; see docs/presets.md)",
    )
    which.add_argument("--config", help="a guard config file instead of a preset")
    p.add_argument("--cache-dir", type=Path, default=Path(".confguard"))
    p.add_argument("--store", help="audit store URL (default: SQLite in --cache-dir)")


def run(args: argparse.Namespace) -> int:
    """Answer the questions, print answers, signals and decisions.

    Example:
        $ confguard demo --question "Who won Super Bowl 50?"
    """
    from confguard import defaults
    from confguard.store import SQLStore

    cache: Path = args.cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    url = args.store or f"sqlite:///{cache / 'audit.sqlite'}"
    store = SQLStore(url, store_answers=True)  # the demo shows answers in review
    source = args.config or args.preset
    questions = (
        [defaults.DemoQuestion(args.question)]
        if args.question
        else defaults.default_questions()
    )
    with progress_bars(transient=True) as advance:
        guard, pipeline = _load(source, cache, store, advance)
        results = _answer(guard, pipeline, questions, advance)
    rows = [(q.gold, r) for q, r in zip(questions, results, strict=True)]
    show(results_view(rows, title=f"{_named(source, args.config)}"))
    say(f"Every decision is in the audit store: {store.url}")
    return 0


def _named(source: str, config: str | None) -> str:
    return f"config {config}" if config else f"preset {source}"


def _load(
    source: str, cache: Path, store: AuditStore, advance: Advance
) -> tuple[Guard, PresetPipeline]:
    from confguard import defaults

    advance("loading models", 0, None)

    def indexing(done: int, total: int) -> None:
        advance("indexing", done, total)

    loaded = defaults.preset_demo(source, cache, store, indexing)
    advance("loading models", 1, 1)
    return loaded


def _answer(
    guard: Guard,
    pipeline: PresetPipeline,
    questions: list[DemoQuestion],
    advance: Advance,
) -> list[GuardResult]:
    results: list[GuardResult] = []
    advance("answering", 0, len(questions))
    for question in questions:
        results.append(guard.run(pipeline, question.question))
        advance("answering", len(results), len(questions))
    return results


COMMAND = Command(
    "demo", "guarded RAG over the bundled corpus, offline", add_arguments, run
)
