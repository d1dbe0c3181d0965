"""Audit log, escalation outbox and human review queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from confguard.store.base import (
    AuditRecord,
    AuditStore,
    Reviewed,
    ReviewEvent,
    ReviewItem,
    ReviewRequest,
    digest,
)
from confguard.store.memory import InMemoryStore
from confguard.store.outbox import Backoff, DeliveryState, Escalation, Outbox

if TYPE_CHECKING:
    from confguard.store.sql import SQLStore


def __getattr__(name: str) -> Any:
    # SQLAlchemy takes ~0.15 s to import: load it only when a SQL store is wanted.
    if name == "SQLStore":
        from confguard.store.sql import SQLStore

        return SQLStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AuditRecord",
    "AuditStore",
    "Backoff",
    "DeliveryState",
    "Escalation",
    "InMemoryStore",
    "Outbox",
    "ReviewEvent",
    "ReviewItem",
    "ReviewRequest",
    "Reviewed",
    "SQLStore",
    "digest",
]
