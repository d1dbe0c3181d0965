"""confguard's Alembic migrations of the audit store's schema (run by `migrate`)."""
