"""The review console: accounts, API tokens, review leases, policy versions, login
failures and settings.

Idempotent like 0001 and 0002: it creates tables and indexes only if missing.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the console's tables and their indexes, if missing."""
    op.create_table(
        "accounts",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "api_tokens",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        if_not_exists=True,
    )
    op.create_index(
        "ix_api_tokens_username", "api_tokens", ["username"], if_not_exists=True
    )
    op.create_table(
        "review_leases",
        sa.Column("review_id", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("until", _MOMENT, nullable=False),
        if_not_exists=True,
    )
    op.create_index(
        "ix_review_leases_until", "review_leases", ["until"], if_not_exists=True
    )
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("policy_yaml", sa.Text, nullable=False),
        sa.Column("applied_by", sa.String(64), nullable=False),
        sa.Column("applied_at", _MOMENT, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("at", _MOMENT, nullable=False),
        if_not_exists=True,
    )
    op.create_index(
        "ix_login_failures_key", "login_failures", ["key"], if_not_exists=True
    )
    op.create_table(
        "console_settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        if_not_exists=True,
    )


def downgrade() -> None:
    """Drop the console's tables (accounts, tokens, leases, versions, settings)."""
    for name in (
        "console_settings",
        "login_failures",
        "policy_versions",
        "review_leases",
        "api_tokens",
        "accounts",
    ):
        op.drop_table(name)
