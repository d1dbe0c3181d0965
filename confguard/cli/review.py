"""`confguard review`: list or resolve the human review queue."""

from __future__ import annotations

import argparse
import os

from rich.table import Table

from confguard.cli.checks import add_create_option, existing_store
from confguard.cli.command import Command
from confguard.cli.output import error, say, show
from confguard.cli.render import fmt
from confguard.exceptions import ConfigurationError, ReviewConflictError
from confguard.store.base import AuditStore, Verdict

_VERDICTS: dict[str, Verdict] = {
    "approve": "approved",
    "reject": "rejected",
    "edit": "edited",
}

CONFLICT_EXIT = 1
"""The exit code when another reviewer resolved the review first."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The store, the action and the review it resolves."""
    p.add_argument("--store", default="sqlite:///.confguard/audit.sqlite")
    p.add_argument("action", choices=["list", "approve", "reject", "edit"])
    p.add_argument("review_id", nargs="?")
    p.add_argument("--answer", help="the corrected answer, with `edit`")
    p.add_argument("--reviewer", default=os.environ.get("USER"))
    p.add_argument("--note", help="why: kept in the review's verdict history")
    add_create_option(p)


def run(args: argparse.Namespace) -> int:
    """List the pending reviews, or resolve one (exit 1 if it was resolved already).

    Example:
        $ confguard review list
        $ confguard review approve 3f2a... --reviewer alice --note "checked"
    """
    from confguard.store import SQLStore

    verdict = None if args.action == "list" else _verdict(args)
    with SQLStore(existing_store(args.store, create=args.create)) as store:
        if verdict is None:
            show(_pending(store))
            return 0
        return _resolve(store, args, verdict)


def _verdict(args: argparse.Namespace) -> Verdict:
    if not args.review_id:
        raise ConfigurationError("give the review id to resolve")
    if args.action == "edit" and not args.answer:
        raise ConfigurationError("`edit` needs the corrected answer: --answer TEXT")
    if args.action != "edit" and args.answer is not None:
        raise ConfigurationError(f"--answer goes with `edit`, not `{args.action}`")
    return _VERDICTS[args.action]


def _resolve(store: AuditStore, args: argparse.Namespace, verdict: Verdict) -> int:
    try:
        item = store.resolve_review(
            args.review_id,
            verdict,
            edited_answer=args.answer,
            reviewer=args.reviewer,
            note=args.note,
        )
    except ReviewConflictError as exc:
        error(exc)
        return CONFLICT_EXIT
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
