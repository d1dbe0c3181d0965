"""The audit store's schema revision: checked when a store opens, upgraded on demand.

A store that has no confguard tables yet is created at the current revision when it
is opened. One at an older revision, or made without one (by an earlier confguard, or
by a table creation that was interrupted), is refused with a StoreError until
`confguard db upgrade --store URL` (or `upgrade`) brings it up to date.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, column, inspect, select, table
from sqlalchemy.exc import SQLAlchemyError

from confguard.exceptions import StoreError
from confguard.store.schema import SCHEMA_REVISION, VERSION_TABLE, Base

TABLES = frozenset(Base.metadata.tables)
"""confguard's own tables; any of them present means the store is not new."""


def current_revision(connection: Connection) -> str | None:
    """The store's schema revision, None if it has none."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    version = table(VERSION_TABLE, column("version_num"))
    return connection.execute(select(version.c.version_num)).scalar()


def upgrade(engine: Engine) -> str | None:
    """Bring the store's schema to the current revision; returns the revision before.

    Idempotent, and it completes a store whose table creation was interrupted.

    Example:
        >>> from confguard.store.sql import new_engine
        >>> print(upgrade(new_engine("sqlite://")))  # a new store had no revision
        None
    """
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    with engine.begin() as connection:
        before = current_revision(connection)
        config = Config()
        config.set_main_option("script_location", "confguard.store:migrations")
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
        except CommandError as exc:  # e.g. a revision this confguard does not know
            raise StoreError(f"cannot upgrade the audit store: {exc}") from exc
    return before


def prepare(engine: Engine, where: str) -> None:
    """Create a new store's tables, or check that an existing one is up to date."""
    revision, tables = _state(engine)
    if revision == SCHEMA_REVISION:
        return
    if revision is None and not tables & TABLES:
        _create(engine)
        return
    raise StoreError(_outdated(where, revision))


def _state(engine: Engine) -> tuple[str | None, set[str]]:
    with engine.connect() as connection:
        return current_revision(connection), set(inspect(connection).get_table_names())


def _create(engine: Engine) -> None:
    try:
        upgrade(engine)
    except SQLAlchemyError:
        # Another process may have created the store at the same moment.
        if _state(engine)[0] != SCHEMA_REVISION:
            raise


def _outdated(where: str, revision: Any) -> str:
    fix = f"run `confguard db upgrade --store {where}`"
    if revision is None:
        return (
            f"audit store {where} has no schema revision (made by an earlier "
            f"confguard, or its table creation was interrupted): {fix}"
        )
    if str(revision) < SCHEMA_REVISION:
        return f"audit store {where} has schema {revision}, older than ours: {fix}"
    return (
        f"audit store {where} has schema {revision}, newer than this confguard's "
        f"{SCHEMA_REVISION}: upgrade confguard"
    )


__all__ = ["TABLES", "current_revision", "prepare", "upgrade"]
