"""`confguard db upgrade`: bring an audit store's schema up to date."""

from __future__ import annotations

import argparse
from pathlib import Path

from confguard.cli.command import Command
from confguard.cli.output import say
from confguard.exceptions import ConfigurationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The action and the store it acts on."""
    p.add_argument("action", choices=["upgrade"])
    p.add_argument("--store", required=True, help="the audit store's database URL")


def run(args: argparse.Namespace) -> int:
    """Upgrade the store's schema to this confguard's revision (idempotent).

    Example:
        $ confguard db upgrade --store sqlite:///.confguard/audit.sqlite
    """
    from confguard.store.sql import masked, upgrade_store

    _refuse_missing_sqlite_file(args.store)
    before, after = upgrade_store(args.store)
    was = "had no revision" if before is None else f"was at {before}"
    say(f"audit store {masked(args.store)}: schema at revision {after} ({was})")
    return 0


def _refuse_missing_sqlite_file(url: str) -> None:
    """A mistyped path must not become a new, empty store."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # upgrade_store names the bad URL
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    if not database.startswith("file:") and not Path(database).expanduser().exists():
        raise ConfigurationError(f"--store: no SQLite file at {database}")


COMMAND = Command("db", "upgrade an audit store's schema", add_arguments, run)
