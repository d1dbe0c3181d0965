"""The console's state: one store and the parts every page and API call shares.

Nothing per-user lives in process memory: leases, accounts, failed logins, policy
versions and the cookie secret are in the database, so several replicas on one
PostgreSQL behave as one.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from confguard.policy.model import Policy
from confguard.serve.calibration import CurrentPolicy
from confguard.serve.security import (
    LoginLimiter,
    Session,
    SessionCodec,
    Signer,
    new_token,
    password_matches,
    stamp,
)
from confguard.store.accounts import Account, Accounts, LoginFailures
from confguard.store.leases import DEFAULT_LEASE_SECONDS, Leases
from confguard.store.policy_versions import PolicyVersions
from confguard.store.review_query import ReviewQueue
from confguard.store.sql import SQLStore

SECRET_VARIABLE = "CONFGUARD_SERVE_SECRET"
"""Overrides the cookie secret kept in the store (give every replica the same)."""


class ConsoleSettings(BaseModel):
    """How a console runs: its store, guard config and security limits."""

    model_config = ConfigDict(frozen=True)

    store_url: str
    config: Path | None = None
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    session_hours: float = 8.0
    secure_cookies: bool = False
    """Mark cookies Secure (serve behind HTTPS)."""
    login_attempts: int = 5
    login_window_seconds: float = 300.0
    proposal_minutes: float = 30.0
    """How long a calibration proposal can still be applied."""


def base_policy(config: Path | None) -> Policy:
    """The configured policy: the guard config's, else the demo policy."""
    if config is None:
        from confguard.defaults import demo_policy

        return demo_policy()
    from confguard.config import load

    return Policy.from_dict(dict(load(config).config.policy))


class Console:
    """The store, and the accounts, leases, queue and versions kept in it."""

    def __init__(self, store: SQLStore, settings: ConsoleSettings) -> None:
        self.store, self.settings = store, settings
        engine = store.engine
        self.accounts = Accounts(engine)
        self.leases = Leases(engine, settings.lease_seconds)
        self.queue = ReviewQueue(engine)
        self.versions = PolicyVersions(engine)
        self.base = base_policy(settings.config)
        secret = os.environ.get(SECRET_VARIABLE) or self.accounts.setting(
            "session_secret", new_token
        )
        self.sessions = SessionCodec(secret, settings.session_hours * 3600)
        self.proposals = Signer(secret, "confguard-proposal")
        self.limiter = LoginLimiter(
            LoginFailures(engine),
            settings.login_attempts,
            settings.login_window_seconds,
        )

    @classmethod
    def open(cls, settings: ConsoleSettings) -> Console:
        """A console on the store at `settings.store_url` (keeping answers)."""
        return cls(SQLStore(settings.store_url, store_answers=True), settings)

    def policy(self) -> Policy:
        """The policy in force: the current version's, else the configured one."""
        current = self.versions.current()
        return self.base if current is None else current.policy

    def current(self) -> CurrentPolicy:
        """The policy in force with its version and figures."""
        return CurrentPolicy.of(self.versions.current(), self.base)

    def login(self, username: str, password: str) -> Session | None:
        """A new session of the account if `password` is right, else None."""
        found = self.accounts.credentials(username)
        if found is None or not password_matches(found[1], password):
            return None
        return Session(username=username, csrf=new_token(), stamp=stamp(found[1]))

    def account(self, session: Session) -> Account | None:
        """The session's account, if it still exists with the password it logged in
        with (a changed password ends every session made before)."""
        if session.username is None:
            return None
        found = self.accounts.credentials(session.username)
        if found is None or session.stamp != stamp(found[1]):
            return None
        return found[0]


__all__ = ["SECRET_VARIABLE", "Console", "ConsoleSettings", "base_policy"]
