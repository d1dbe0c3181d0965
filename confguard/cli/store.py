"""`confguard store replay|status`: the local spool of records a store missed."""

from __future__ import annotations

import argparse

from confguard.cli.checks import existing_store
from confguard.cli.command import Command
from confguard.cli.output import say
from confguard.exceptions import StoreError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The action, the store, and the spool if it is not the store's own."""
    p.add_argument("action", choices=["replay", "status"])
    p.add_argument("--store", required=True, help="the audit store's database URL")
    p.add_argument(
        "--spool",
        default=None,
        help="the spool folder (default: the store's own, as a guard uses it)",
    )


def run(args: argparse.Namespace) -> int:
    """Replay the spool into the store (exit 1 if some is left), or count it.

    Example:
        $ confguard store replay --store postgresql+psycopg://app@db/confguard
        replayed 12 spooled writes (0 already in the store), 0 left
    """
    from confguard.store.spool import Spool
    from confguard.store.spooling import replay
    from confguard.store.sql import SQLStore

    with SQLStore(existing_store(args.store, create=False)) as store:
        folder = args.spool or store.spool_directory
        if folder is None:
            raise StoreError(f"{store!r} is in memory: it has no spool (give --spool)")
        spool = Spool(folder)
        if args.action == "status":
            say(f"{spool.directory}: {len(spool)} spooled writes waiting")
            return 0
        report = replay(store, spool)
    say(
        f"replayed {report.replayed} spooled writes ({report.duplicates} already "
        f"in the store), {report.left} left"
        + (f": {report.error}" if report.error else "")
    )
    return 1 if report.left else 0


COMMAND = Command(
    "store",
    "replay or count the records spooled while a store was down",
    add_arguments,
    run,
)
