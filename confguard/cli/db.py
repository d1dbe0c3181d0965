"""`confguard db upgrade`: bring an audit store's schema up to date."""

from __future__ import annotations

import argparse

from confguard.cli.checks import add_create_option, existing_store
from confguard.cli.command import Command
from confguard.cli.output import say


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The action and the store it acts on."""
    p.add_argument("action", choices=["upgrade"])
    p.add_argument("--store", required=True, help="the audit store's database URL")
    add_create_option(p)


def run(args: argparse.Namespace) -> int:
    """Upgrade the store's schema to this confguard's revision (idempotent).

    Example:
        $ confguard db upgrade --store sqlite:///.confguard/audit.sqlite
    """
    from confguard.store.sql import masked, upgrade_store

    before, after = upgrade_store(existing_store(args.store, create=args.create))
    was = "had no revision" if before is None else f"was at {before}"
    say(f"audit store {masked(args.store)}: schema at revision {after} ({was})")
    return 0


COMMAND = Command("db", "upgrade an audit store's schema", add_arguments, run)
