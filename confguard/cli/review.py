"""`confguard review`: list or resolve the human review queue."""

from __future__ import annotations

import argparse
import os

from rich.table import Table

from confguard.cli.command import Command
from confguard.cli.output import say, show
from confguard.cli.render import fmt
from confguard.exceptions import ConfigurationError
from confguard.store.base import AuditStore, Verdict

_VERDICTS: dict[str, Verdict] = {
    "approve": "approved",
    "reject": "rejected",
    "edit": "edited",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The store, the action and the review it resolves."""
    p.add_argument("--store", default="sqlite:///.confguard/audit.sqlite")
    p.add_argument("action", choices=["list", "approve", "reject", "edit"])
    p.add_argument("review_id", nargs="?")
    p.add_argument("--answer", help="the corrected answer, with `edit`")
    p.add_argument("--reviewer", default=os.environ.get("USER"))


def run(args: argparse.Namespace) -> int:
    """List the pending reviews, or resolve one.

    Example:
        $ confguard review list
        $ confguard review approve 3f2a... --reviewer alice
    """
    from confguard.store import SQLStore

    store = SQLStore(args.store)
    if args.action == "list":
        show(_pending(store))
        return 0
    if not args.review_id:
        raise ConfigurationError("give the review id to resolve")
    verdict: Verdict = _VERDICTS[args.action]
    item = store.resolve_review(
        args.review_id, verdict, edited_answer=args.answer, reviewer=args.reviewer
    )
    say(f"review {item.id}: {item.status}")
    return 0


def _pending(store: AuditStore) -> Table:
    table = Table("id", "question", "answer", "confidence", "reason")
    for item in store.pending_reviews():
        table.add_row(
            item.id, item.question, item.answer, fmt(item.confidence), item.reason
        )
    return table


COMMAND = Command(
    "review", "list or resolve the human review queue", add_arguments, run
)
