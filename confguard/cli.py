"""The `confguard` command: demo | review | eval | calibrate."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from confguard.cli_eval import add_commands as add_eval_commands
from confguard.exceptions import ConfguardError
from confguard.rag.pipeline import RAGPipeline
from confguard.render import fmt, results_view
from confguard.results import GuardResult
from confguard.store.base import Verdict

# Piped output has no terminal width; tables need room for their columns.
console = Console(width=None if sys.stdout.isatty() else 160)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `confguard` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfguardError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return 2
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="confguard", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="guarded RAG over the bundled corpus, offline")
    demo.add_argument("--question", help="ask this question instead of the default ten")
    demo.add_argument("--cache-dir", type=Path, default=Path(".confguard"))
    demo.add_argument(
        "--store", help="audit store URL (default: SQLite in --cache-dir)"
    )
    demo.set_defaults(func=_demo)
    review = sub.add_parser("review", help="list or resolve the human review queue")
    review.add_argument("--store", default="sqlite:///.confguard/audit.sqlite")
    review.add_argument("action", choices=["list", "approve", "reject", "edit"])
    review.add_argument("review_id", nargs="?")
    review.add_argument("--answer", help="the corrected answer, with `edit`")
    review.add_argument("--reviewer", default=os.environ.get("USER"))
    review.set_defaults(func=_review)
    add_eval_commands(sub)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from confguard import demo
    from confguard.store import SQLStore

    cache: Path = args.cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    url = args.store or f"sqlite:///{cache / 'audit.sqlite'}"
    store = SQLStore(url, store_answers=True)  # the demo shows answers in review
    guard = demo.demo_guard(store)
    pipeline = _load_pipeline(cache)
    questions = (
        [demo.DemoQuestion(args.question)]
        if args.question
        else demo.default_questions()
    )
    results: list[tuple[demo.DemoQuestion, GuardResult]] = []
    with _progress() as progress:
        task = progress.add_task("answering", total=len(questions))
        for question in questions:
            results.append((question, demo.ask(guard, pipeline, question)))
            progress.advance(task)
    console.print(results_view([(q.gold, r) for q, r in results]))
    console.print(f"Every decision is in the audit store: {store.url}")
    return 0


def _load_pipeline(cache: Path) -> RAGPipeline:
    from confguard import demo

    with _progress() as progress:
        task = progress.add_task("loading models, building the index", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, description="indexing")

        return demo.demo_pipeline(cache, progress=advance)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=console,
        transient=True,
    )


_VERDICTS: dict[str, Verdict] = {
    "approve": "approved",
    "reject": "rejected",
    "edit": "edited",
}


def _review(args: argparse.Namespace) -> int:
    from confguard.store import SQLStore

    store = SQLStore(args.store)
    if args.action == "list":
        table = Table("id", "question", "answer", "confidence", "reason")
        for item in store.pending_reviews():
            table.add_row(
                item.id, item.question, item.answer, fmt(item.confidence), item.reason
            )
        console.print(table)
        return 0
    if not args.review_id:
        console.print("[red]give the review id to resolve[/]")
        return 2
    verdict: Verdict = _VERDICTS[args.action]
    item = store.resolve_review(
        args.review_id, verdict, edited_answer=args.answer, reviewer=args.reviewer
    )
    console.print(f"review {item.id}: {item.status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
