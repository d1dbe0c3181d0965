"""Policy versions in the store: applied by whom, when and why; rolled back by copy.

History is append-only: applying a policy adds a version, and rolling back adds a
new version holding an older one's policy, so who did what stays on record. A
running guard follows the current version through `StorePolicySource` and
`PolicyFollower`, without a restart.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from confguard.exceptions import StoreError, UnknownPolicyVersionError
from confguard.policy.model import Policy
from confguard.store.accounts import transaction
from confguard.store.base import utcnow
from confguard.store.console_schema import POLICY_VERSIONS
from confguard.store.schema import as_utc

G = TypeVar("G")


class PolicyVersion(BaseModel):
    """One applied policy: its number, YAML, who applied it, when, why, and figures."""

    model_config = ConfigDict(frozen=True)

    version: int
    policy_yaml: str
    applied_by: str
    applied_at: datetime
    note: str
    summary: dict[str, Any]

    @property
    def policy(self) -> Policy:
        """The policy this version holds."""
        return Policy.from_yaml(self.policy_yaml)


class _Row:
    """Column values read as attributes, like a fetched row."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _version(row: Any) -> PolicyVersion:
    return PolicyVersion(
        version=row.version,
        policy_yaml=row.policy_yaml,
        applied_by=row.applied_by,
        applied_at=as_utc(row.applied_at),
        note=row.note,
        summary=json.loads(row.summary),
    )


class PolicyVersions:
    """The store's policy versions on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def apply(
        self,
        policy: Policy,
        applied_by: str,
        *,
        note: str = "",
        summary: dict[str, Any] | None = None,
    ) -> PolicyVersion:
        """Make `policy` the current version; returns the new version."""
        text = policy.to_yaml()
        for _ in range(5):  # two replicas applying at once: the loser numbers again
            number = self._latest_number() + 1
            values = {
                "version": number,
                "policy_yaml": text,
                "applied_by": applied_by,
                "applied_at": utcnow(),
                "note": note,
                "summary": json.dumps(summary or {}, sort_keys=True),
            }
            try:
                with transaction(self.engine, "apply a policy") as connection:
                    connection.execute(insert(POLICY_VERSIONS), values)
            except IntegrityError:
                continue
            return _version(_Row(values))
        raise StoreError("could not number a new policy version (five tries)")

    def rollback(self, to_version: int, applied_by: str) -> PolicyVersion:
        """A new version holding version `to_version`'s policy."""
        old = self.get(to_version)
        return self.apply(
            old.policy,
            applied_by,
            note=f"rollback to version {to_version}",
            summary={**old.summary, "rolled_back_to": to_version},
        )

    def get(self, version: int) -> PolicyVersion:
        """Version `version`; UnknownPolicyVersionError if there is none."""
        query = select(POLICY_VERSIONS).where(POLICY_VERSIONS.c.version == version)
        with transaction(self.engine, "read a policy version") as connection:
            row = connection.execute(query).first()
        if row is None:
            raise UnknownPolicyVersionError(version)
        return _version(row)

    def current(self) -> PolicyVersion | None:
        """The latest version, or None if no policy was ever applied."""
        latest = self._latest_number()
        return None if latest == 0 else self.get(latest)

    def all(self) -> list[PolicyVersion]:
        """Every version, newest first."""
        query = select(POLICY_VERSIONS).order_by(POLICY_VERSIONS.c.version.desc())
        with transaction(self.engine, "list policy versions") as connection:
            return [_version(row) for row in connection.execute(query)]

    def _latest_number(self) -> int:
        query = select(func.max(POLICY_VERSIONS.c.version))
        with transaction(self.engine, "read the policy version") as connection:
            return int(connection.execute(query).scalar() or 0)


class StorePolicySource:
    """The current policy version, read from the store at most every `every` s.

    Example:
        >>> source = StorePolicySource(store.engine)
        >>> version, policy = source.current() or (0, demo_policy())
    """

    def __init__(self, engine: Engine, every: float = 5.0) -> None:
        self.versions = PolicyVersions(engine)
        self.every = every
        self._read_at = -float("inf")
        self._cached: PolicyVersion | None = None
        self._lock = threading.Lock()

    def current(self) -> tuple[int, Policy] | None:
        """(version, policy) in force, or None if none was applied."""
        with self._lock:
            if time.monotonic() - self._read_at >= self.every:
                self._cached = self.versions.current()
                self._read_at = time.monotonic()
            cached = self._cached
        return None if cached is None else (cached.version, cached.policy)


class PolicyFollower(Generic[G]):
    """Keeps a guard built on the store's current policy, rebuilt when it changes.

    A running application asks `get()` for the guard on each request; an applied
    (or rolled back) version is in force within `source.every` seconds.

    Example:
        >>> guards = PolicyFollower(StorePolicySource(store.engine),
        ...     lambda policy: Guard(signals, policy, store=store), demo_policy())
        >>> guards.get().check(observation)
    """

    def __init__(
        self,
        source: StorePolicySource,
        build: Callable[[Policy], G],
        fallback: Policy,
    ) -> None:
        self.source, self.build = source, build
        self._fallback = fallback
        self.version = 0
        """The version the current guard was built on (0: the fallback policy)."""
        self._built = build(fallback)
        self._lock = threading.Lock()

    def get(self) -> G:
        """The guard on the current policy version (rebuilt if it changed)."""
        now = self.source.current()
        version = 0 if now is None else now[0]
        with self._lock:
            if version != self.version:
                self._built = self.build(self._fallback if now is None else now[1])
                self.version = version
            return self._built


__all__ = ["PolicyFollower", "PolicyVersion", "PolicyVersions", "StorePolicySource"]
