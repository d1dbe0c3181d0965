"""The review console's tables (revision 0003): accounts, tokens, leases, policies.

Declared on the audit store's own `Base`, so one schema revision covers them and
`confguard db upgrade` adds them to an older store.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import DateTime, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from confguard.store.schema import Base


class AccountRow(Base):
    """One console account: its argon2 password hash and its role."""

    __tablename__ = "accounts"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiTokenRow(Base):
    """One API token, kept as its SHA-256 digest (the token is shown once)."""

    __tablename__ = "api_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LeaseRow(Base):
    """Who holds a review case, until when: two reviewers never get one case."""

    __tablename__ = "review_leases"

    review_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class PolicyVersionRow(Base):
    """One applied policy, append-only: who applied it, when, and why."""

    __tablename__ = "policy_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    policy_yaml: Mapped[str] = mapped_column(Text)
    applied_by: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    """The guarantee as JSON (threshold, bound, coverage, labels), for the page."""


class LoginFailureRow(Base):
    """One failed login, by key (a name or an address), for the shared rate limit."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SettingRow(Base):
    """A console-wide setting shared by every replica (e.g. the cookie secret)."""

    __tablename__ = "console_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


ACCOUNTS = cast(Table, AccountRow.__table__)
API_TOKENS = cast(Table, ApiTokenRow.__table__)
LEASES = cast(Table, LeaseRow.__table__)
POLICY_VERSIONS = cast(Table, PolicyVersionRow.__table__)
SETTINGS = cast(Table, SettingRow.__table__)
LOGIN_FAILURES = cast(Table, LoginFailureRow.__table__)
