"""Audit log and human review queue."""

from confguard.store.base import (
    AuditRecord,
    AuditStore,
    ReviewItem,
    ReviewRequest,
    digest,
)
from confguard.store.memory import InMemoryStore
from confguard.store.sql import SQLStore

__all__ = [
    "AuditRecord",
    "AuditStore",
    "InMemoryStore",
    "ReviewItem",
    "ReviewRequest",
    "SQLStore",
    "digest",
]
