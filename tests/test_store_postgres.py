"""The SQL store contract on PostgreSQL (skipped unless CONFGUARD_TEST_POSTGRES_URL).

Start a server with ``bash .ci/postgres.sh FILE`` and ``source FILE`` first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from sqlalchemy import create_engine, text
from test_store import SQLStoreContract

pytestmark = pytest.mark.postgres


class TestPostgresStore(SQLStoreContract):
    """The SQL contract on PostgreSQL."""

    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url

    @pytest.fixture
    def lock_writes(self, url: str) -> AbstractContextManager[None]:
        @contextmanager
        def exclusive() -> Iterator[None]:
            # EXCLUSIVE blocks inserts but still lets the store read.
            engine = create_engine(url)
            try:
                with engine.connect() as other:
                    other.execute(text("LOCK TABLE decisions IN EXCLUSIVE MODE"))
                    yield
                    other.rollback()
            finally:
                engine.dispose()

        return exclusive()
