"""The escalation outbox of `SQLStore`: one transaction per step, leases by UPDATE.

Claiming selects due entries ``FOR UPDATE SKIP LOCKED`` (PostgreSQL: workers skip
each other's rows; SQLite has one writer and ignores the clause), then leases each
with a conditional UPDATE that only a still-claimable row matches, so two workers
never hold one entry at once, on either database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from confguard.store import outbox
from confguard.store.base import AuditRecord, utcnow
from confguard.store.group_commit import GroupCommit, Rows
from confguard.store.outbox import DEFAULT_BACKOFF, Backoff, DeliveryState, Escalation
from confguard.store.schema import (
    DECISIONS,
    ESCALATIONS,
    as_utc,
    decision_values,
    escalation_values,
    to_escalation,
)

_CLAIM_ROUNDS = 10
"""Selections a claim makes before it reports nothing due, when others win."""

_Update = Callable[[int, datetime], Mapping[str, Any]]


class SQLOutbox:
    """The outbox methods `SQLStore` mixes in (it gives `_transaction`, `_commits`)."""

    store_answers: bool
    _commits: GroupCommit

    def _transaction(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _serialise(
        self, convert: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        raise NotImplementedError

    def record_escalation(self, record: AuditRecord, escalation: Escalation) -> None:
        """Write the escalate decision and its outbox entry in one transaction."""
        self._commits.run(self._escalation(record, escalation))

    async def arecord_escalation(
        self, record: AuditRecord, escalation: Escalation
    ) -> None:
        """`record_escalation`, group-committed (both rows in one transaction)."""
        await self._commits.arun(self._escalation(record, escalation))

    def _escalation(self, record: AuditRecord, escalation: Escalation) -> Rows:
        decision = self._serialise(
            decision_values, record, keep_answer=self.store_answers
        )
        entry = self._serialise(escalation_values, escalation)
        return Rows.of(DECISIONS, decision, ESCALATIONS, entry)

    def record_once(
        self, record: AuditRecord, escalation: Escalation | None = None
    ) -> bool:
        """Write what of the decision and its outbox entry is not there yet.

        The decision is known by (request id, attempt), the entry by its id: how a
        spooled write is replayed without a duplicate, even if the first try did
        commit before it timed out. True if anything was written.
        """
        decision = self._serialise(
            decision_values, record, keep_answer=self.store_answers
        )
        entry = (
            None
            if escalation is None
            else self._serialise(escalation_values, escalation)
        )
        with self._transaction() as connection:
            wrote = not _has_decision(connection, record)
            if wrote:
                connection.execute(insert(DECISIONS), decision)
            if entry is not None and not _has_entry(connection, entry["id"]):
                connection.execute(insert(ESCALATIONS), entry)
                wrote = True
        return wrote

    def claim_escalations(
        self, owner: str, *, limit: int = 50, lease_seconds: float = 60.0
    ) -> list[Escalation]:
        """Lease up to `limit` due pending entries to `owner`, oldest due first."""
        now = as_utc(utcnow())
        until = now + timedelta(seconds=lease_seconds)
        with self._transaction() as connection:
            won: list[str] = []
            for _ in range(_CLAIM_ROUNDS):  # another worker may take what we saw
                ids = connection.execute(_due(now, limit)).scalars().all()
                won = [i for i in ids if _lease(connection, i, owner, until, now)]
                if won or not ids:
                    break
            rows = connection.execute(
                select(ESCALATIONS).where(ESCALATIONS.c.id.in_(won))
            ).all()
        return sorted((to_escalation(r) for r in rows), key=lambda e: e.next_try_at)

    def delivered(self, escalation_id: str) -> Escalation | None:
        """Mark an entry delivered (once: None if it was not pending)."""
        return self._settle(escalation_id, outbox.delivery_update)

    def delivery_failed(
        self, escalation_id: str, error: str, backoff: Backoff = DEFAULT_BACKOFF
    ) -> Escalation | None:
        """Count a failed try: pending again later, or failed (None if not pending)."""

        def changes(attempts: int, now: datetime) -> Mapping[str, Any]:
            return outbox.failure_update(attempts, error, backoff, now)

        return self._settle(escalation_id, changes)

    def escalations(self, state: DeliveryState | None = None) -> list[Escalation]:
        """Outbox entries, oldest first, optionally in one state only."""
        query = select(ESCALATIONS).order_by(ESCALATIONS.c.created_at, ESCALATIONS.c.id)
        if state is not None:
            query = query.where(ESCALATIONS.c.state == state)
        with self._transaction() as connection:
            return [to_escalation(row) for row in connection.execute(query)]

    def _settle(self, escalation_id: str, changes: _Update) -> Escalation | None:
        pending = (ESCALATIONS.c.id == escalation_id) & (
            ESCALATIONS.c.state == "pending"
        )
        with self._transaction() as connection:
            attempts = connection.execute(
                select(ESCALATIONS.c.attempts).where(pending)
            ).scalar()
            if attempts is None:
                return None
            values = dict(changes(attempts, as_utc(utcnow())))
            # Compare-and-set on (state, attempts): a concurrent settle loses.
            same = pending & (ESCALATIONS.c.attempts == attempts)
            done = connection.execute(update(ESCALATIONS).where(same).values(values))
            if done.rowcount != 1:
                return None
            row = connection.execute(
                select(ESCALATIONS).where(ESCALATIONS.c.id == escalation_id)
            ).one()
        return to_escalation(row)


def _has_decision(connection: Connection, record: AuditRecord) -> bool:
    same = (DECISIONS.c.request_id == record.request_id) & (
        DECISIONS.c.attempt == record.attempt
    )
    return (
        connection.execute(select(DECISIONS.c.id).where(same).limit(1)).first()
        is not None
    )


def _has_entry(connection: Connection, escalation_id: str) -> bool:
    query = select(ESCALATIONS.c.id).where(ESCALATIONS.c.id == escalation_id)
    return connection.execute(query).first() is not None


def _due(now: datetime, limit: int) -> Any:
    free = or_(ESCALATIONS.c.lease_until.is_(None), ESCALATIONS.c.lease_until <= now)
    return (
        select(ESCALATIONS.c.id)
        .where(ESCALATIONS.c.state == "pending", ESCALATIONS.c.next_try_at <= now)
        .where(free)
        .order_by(ESCALATIONS.c.next_try_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _lease(
    connection: Connection, escalation_id: str, owner: str, until: datetime, now: Any
) -> bool:
    free = or_(ESCALATIONS.c.lease_until.is_(None), ESCALATIONS.c.lease_until <= now)
    claimable = (
        (ESCALATIONS.c.id == escalation_id) & (ESCALATIONS.c.state == "pending") & free
    )
    leased = connection.execute(
        update(ESCALATIONS)
        .where(claimable)
        .values(lease_owner=owner, lease_until=until)
    )
    return leased.rowcount == 1


__all__ = ["SQLOutbox"]
