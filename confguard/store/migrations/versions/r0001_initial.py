"""The audit log, the review queue and the append-only verdict history.

Idempotent: it creates only the tables and indexes that are missing, so it also
completes a store whose table creation was interrupted, or one that an earlier
confguard made without a schema version.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _decisions() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer_digest", sa.String(64), nullable=False),
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("confidence", sa.Double, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("strategy", sa.Text, nullable=True),
        sa.Column("route", sa.Text, nullable=True),
        sa.Column("signals", sa.JSON, nullable=False),
        sa.Column("latency_seconds", sa.Double, nullable=False),
        sa.Column("llm_calls", sa.Integer, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("cost_seconds", sa.Double, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        if_not_exists=True,
    )
    _index("decisions", "request_id")


def _reviews() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("confidence", sa.Double, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("edited_answer", sa.Text, nullable=True),
        sa.Column("reviewer", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        if_not_exists=True,
    )
    _index("reviews", "request_id")
    _index("reviews", "status")


def _review_events() -> None:
    op.create_table(
        "review_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("review_id", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("edited_answer", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    _index("review_events", "review_id")


def _index(table: str, column: str) -> None:
    # The names SQLAlchemy gives `index=True` columns, so both agree on the schema.
    op.create_index(f"ix_{table}_{column}", table, [column], if_not_exists=True)


def upgrade() -> None:
    """Create whichever of the three tables and their indexes are missing."""
    _decisions()
    _reviews()
    _review_events()


def downgrade() -> None:
    """Drop the three tables (and with them every record)."""
    for table in ("review_events", "reviews", "decisions"):
        op.drop_table(table)
