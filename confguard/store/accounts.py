"""Console accounts, API tokens and shared settings, kept in the audit store.

Only hashes are kept: the password's argon2 hash (made by the caller, so the store
needs no hashing library) and the SHA-256 digest of each API token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.sql import ColumnElement

from confguard.exceptions import InputError
from confguard.store.base import utcnow
from confguard.store.console_schema import (
    ACCOUNTS,
    API_TOKENS,
    LOGIN_FAILURES,
    SETTINGS,
)
from confguard.store.engine import store_error
from confguard.store.schema import as_utc

Role = Literal["reviewer", "admin"]
ROLES: tuple[Role, ...] = ("reviewer", "admin")


class Account(BaseModel):
    """A console user: name, role and when the account was made."""

    model_config = ConfigDict(frozen=True)

    username: str
    role: Role
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        """Whether the account may calibrate, apply policies and manage accounts."""
        return self.role == "admin"


def token_digest(token: str) -> str:
    """The digest an API token is kept as."""
    return hashlib.sha256(token.encode()).hexdigest()


@contextmanager
def transaction(engine: Engine, what: str) -> Iterator[Connection]:
    """One committed transaction; database errors become StoreError(s)."""
    try:
        with engine.begin() as connection:
            yield connection
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        raise store_error(f"console store could not {what}", exc) from exc


def _account(row: Any) -> Account:
    return Account(
        username=row.username, role=row.role, created_at=as_utc(row.created_at)
    )


class Accounts:
    """Accounts, tokens and settings on one engine (`SQLStore.engine`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, username: str, password_hash: str, role: Role) -> Account:
        """A new account; InputError if the name is taken or the role unknown."""
        if role not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if not username or len(username) > 64:
            raise InputError("a username has 1 to 64 characters")
        values = {
            "username": username,
            "password_hash": password_hash,
            "role": role,
            "created_at": utcnow(),
        }
        try:
            with transaction(self.engine, "add an account") as connection:
                connection.execute(insert(ACCOUNTS), values)
        except IntegrityError as exc:
            raise InputError(f"account {username!r} exists already") from exc
        return Account(username=username, role=role, created_at=values["created_at"])

    def set_password(self, username: str, password_hash: str) -> None:
        """Replace an account's password hash; InputError if there is no account."""
        with transaction(self.engine, "change a password") as connection:
            done = connection.execute(
                update(ACCOUNTS)
                .where(ACCOUNTS.c.username == username)
                .values(password_hash=password_hash)
            )
        if done.rowcount != 1:
            raise InputError(f"no account {username!r}")

    def credentials(self, username: str) -> tuple[Account, str] | None:
        """The account and its password hash, or None if there is no such account."""
        with transaction(self.engine, "read an account") as connection:
            row = connection.execute(
                select(ACCOUNTS).where(ACCOUNTS.c.username == username)
            ).first()
        return None if row is None else (_account(row), row.password_hash)

    def all(self) -> list[Account]:
        """Every account, by name."""
        with transaction(self.engine, "list accounts") as connection:
            rows = connection.execute(select(ACCOUNTS).order_by(ACCOUNTS.c.username))
            return [_account(row) for row in rows]

    def add_token(self, username: str, token: str, label: str = "") -> None:
        """Keep `token` (as its digest) as a way to act as `username` on the API."""
        if self.credentials(username) is None:
            raise InputError(f"no account {username!r}")
        values = {
            "digest": token_digest(token),
            "username": username,
            "label": label,
            "created_at": utcnow(),
        }
        with transaction(self.engine, "add a token") as connection:
            connection.execute(insert(API_TOKENS), values)

    def revoke_tokens(self, username: str) -> int:
        """Revoke every token of `username`; how many there were."""
        with transaction(self.engine, "revoke tokens") as connection:
            done = connection.execute(
                delete(API_TOKENS).where(API_TOKENS.c.username == username)
            )
        return int(done.rowcount)

    def by_token(self, token: str) -> Account | None:
        """The account a token belongs to, or None."""
        query = (
            select(ACCOUNTS)
            .join(API_TOKENS, API_TOKENS.c.username == ACCOUNTS.c.username)
            .where(API_TOKENS.c.digest == token_digest(token))
        )
        with transaction(self.engine, "check a token") as connection:
            row = connection.execute(query).first()
        return None if row is None else _account(row)

    def setting(self, name: str, make: Callable[[], str]) -> str:
        """The shared setting `name`, made by `make()` the first time (race-safe).

        Every replica reads the value the first writer stored.
        """
        query = select(SETTINGS.c.value).where(SETTINGS.c.name == name)
        with transaction(self.engine, "read a setting") as connection:
            value = connection.execute(query).scalar()
        if value is not None:
            return str(value)
        try:
            with transaction(self.engine, "write a setting") as connection:
                connection.execute(insert(SETTINGS), {"name": name, "value": make()})
        except IntegrityError:
            pass  # another replica stored it first: use theirs
        with transaction(self.engine, "read a setting") as connection:
            return str(connection.execute(query).scalar_one())


class LoginFailures:
    """Failed logins kept in the store, so every replica counts them all."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def failed(self, keys: tuple[str, ...]) -> None:
        """Count one failure against each key."""
        now = utcnow()
        rows = [{"key": key[:200], "at": now} for key in keys]
        with transaction(self.engine, "count a failed login") as connection:
            connection.execute(insert(LOGIN_FAILURES), rows)

    def since(self, key: str, moment: datetime) -> list[datetime]:
        """The failures of `key` after `moment`, oldest first."""
        c = LOGIN_FAILURES.c
        query = select(c.at).where(c.key == key[:200], c.at > moment).order_by(c.at)
        with transaction(self.engine, "read failed logins") as connection:
            return [as_utc(at) for at in connection.execute(query).scalars()]

    def forget(self, keys: tuple[str, ...], before: datetime | None = None) -> None:
        """Drop the failures of `keys` (all of them, or those before `before`)."""
        c = LOGIN_FAILURES.c
        where: list[ColumnElement[bool]] = [c.key.in_([key[:200] for key in keys])]
        if before is not None:
            where.append(c.at <= before)
        with transaction(self.engine, "forget failed logins") as connection:
            connection.execute(delete(LOGIN_FAILURES).where(*where))


__all__ = [
    "ROLES",
    "Account",
    "Accounts",
    "LoginFailures",
    "Role",
    "token_digest",
    "transaction",
]
