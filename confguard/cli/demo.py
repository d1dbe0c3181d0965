"""`confguard demo`: the guarded RAG over the bundled corpus, fully offline."""

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
    from confguard.rag import RAGPipeline
    from confguard.results import GuardResult


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The question, the cache folder and the audit store."""
    p.add_argument("--question", help="ask this question instead of the default ten")
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
    guard = defaults.demo_guard(store)
    questions = (
        [defaults.DemoQuestion(args.question)]
        if args.question
        else defaults.default_questions()
    )
    with progress_bars(transient=True) as advance:
        pipeline = _load_pipeline(cache, advance)
        results = _answer(guard, pipeline, questions, advance)
    show(results_view([(q.gold, r) for q, r in zip(questions, results, strict=True)]))
    say(f"Every decision is in the audit store: {store.url}")
    return 0


def _load_pipeline(cache: Path, advance: Advance) -> RAGPipeline:
    from confguard import defaults

    advance("loading models", 0, None)

    def indexing(done: int, total: int) -> None:
        advance("indexing", done, total)

    pipeline = defaults.demo_pipeline(cache, indexing)
    advance("loading models", 1, 1)
    return pipeline


def _answer(
    guard: Guard,
    pipeline: RAGPipeline,
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
