"""How many AsyncGuard.acheck calls per second does one process sustain, audit included?

N concurrent `acheck` calls (one cheap pure FunctionSignal, declared inline as the
built-in token signals are, so the gate and the store are measured, not a model) on
a fresh SQLite file and on PostgreSQL; afterwards the audit rows are counted, so a
faster store that drops rows cannot pass.

    python benchmarks/throughput.py [--n 10000] [--concurrency N]
        [--postgres-url URL]

PostgreSQL's URL comes from --postgres-url or CONFGUARD_TEST_POSTGRES_URL; the run
uses a schema of its own, dropped afterwards, so counting is exact and nothing of
the database's own is touched. Without a URL its figure is null. The store
group-commits concurrent writes (`confguard.store.group_commit`).

Last line: {"sqlite_checks_per_s", "postgres_checks_per_s", "rows_lost"}, rows_lost
being decisions made minus distinct decisions found, over both databases.
Goal: >= 3000 checks/s on both, rows_lost 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from confguard import AsyncGuard, FunctionSignal, Observation
from confguard.signals.base import DeclaredCost
from confguard.store import SQLStore
from confguard.store.schema import DECISIONS

POSTGRES_URL_VARIABLE = "CONFGUARD_TEST_POSTGRES_URL"
PURE = DeclaredCost(inline=True)
"""`confidence` below is pure arithmetic: no worker hand-off (see DeclaredCost)."""
WARM_UP = 50


class Run(BaseModel):
    """One database's figures."""

    model_config = ConfigDict(frozen=True)

    checks_per_s: float
    decisions: int
    rows: int
    distinct_rows: int

    @property
    def lost(self) -> int:
        return self.decisions - self.distinct_rows


def observations(n: int) -> list[Observation]:
    """n distinct questions and answers, built before the clock starts."""
    return [
        Observation(question=f"What is {i} + {i}?", answer=f"It is {2 * i}.")
        for i in range(n)
    ]


def confidence(obs: Observation) -> float:
    """A cheap deterministic score above the accept/annotate bands: one row each."""
    return 0.6 + (len(obs.answer or "") % 4) / 10


async def check_all(
    guard: AsyncGuard, batch: list[Observation], concurrency: int
) -> int:
    """Run every acheck with at most `concurrency` in flight: decisions made."""
    gate = asyncio.Semaphore(concurrency)

    async def one(obs: Observation) -> int:
        async with gate:
            return len((await guard.acheck(obs)).attempts)

    return sum(await asyncio.gather(*(one(obs) for obs in batch)))


def count_rows(store: SQLStore) -> tuple[int, int]:
    """(rows, distinct (request_id, attempt) pairs) in the decisions table."""
    pairs = select(DECISIONS.c.request_id, DECISIONS.c.attempt).distinct()
    with store.engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(DECISIONS))
        distinct = connection.execute(
            select(func.count()).select_from(pairs.subquery())
        )
        return int(rows.scalar_one()), int(distinct.scalar_one())


async def timed(store: SQLStore | None, n: int, concurrency: int) -> tuple[float, int]:
    """Warm up, then time n concurrent acheck calls: (checks/s, decisions made)."""
    async with AsyncGuard(
        [FunctionSignal(confidence, name="fixed", cost=PURE)], store=store
    ) as guard:
        made = await check_all(guard, observations(WARM_UP), concurrency)
        batch = observations(n)
        start = time.perf_counter()
        made += await check_all(guard, batch, concurrency)
        seconds = time.perf_counter() - start
    return round(n / seconds, 1), made


async def measure(store: SQLStore, n: int, concurrency: int) -> Run:
    """`timed` on `store`, then its rows counted."""
    checks_per_s, made = await timed(store, n, concurrency)
    rows, distinct = count_rows(store)
    return Run(
        checks_per_s=checks_per_s,
        decisions=made,
        rows=rows,
        distinct_rows=distinct,
    )


def run_on(store_type: type[SQLStore], url: str, n: int, concurrency: int) -> Run:
    store = store_type(url)
    try:
        return asyncio.run(measure(store, n, concurrency))
    finally:
        store.close()


def sqlite_run(store_type: type[SQLStore], n: int, concurrency: int) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'audit.sqlite'}"
        return run_on(store_type, url, n, concurrency)


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """`url` pointed at a new empty schema (search_path), dropped on exit."""
    schema = f"confguard_bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        options = f"-csearch_path={schema}"
        yield (
            make_url(url)
            .update_query_dict({"options": options})
            .render_as_string(hide_password=False)
        )
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def postgres_run(store_type: type[SQLStore], url: str, n: int, concurrency: int) -> Run:
    with fresh_schema(url) as schema_url:
        return run_on(store_type, schema_url, n, concurrency)


def report(name: str, run: Run | None) -> None:
    if run is None:
        print(f"{name}: no URL (--postgres-url or {POSTGRES_URL_VARIABLE}): null")
        return
    print(
        f"{name}: {run.checks_per_s:.0f} checks/s; {run.decisions} decisions, "
        f"{run.rows} rows ({run.distinct_rows} distinct), lost {run.lost}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=None, help="default: n")
    parser.add_argument("--postgres-url", default=os.environ.get(POSTGRES_URL_VARIABLE))
    args = parser.parse_args()
    concurrency = args.concurrency or args.n
    store_type = SQLStore
    print(f"{args.n} acheck calls, {concurrency} in flight")
    ceiling, _ = asyncio.run(timed(None, args.n, concurrency))
    print(f"no store: {ceiling:.0f} checks/s (the gate alone, this machine's ceiling)")
    sqlite = sqlite_run(store_type, args.n, concurrency)
    report("SQLite", sqlite)
    postgres = None
    if args.postgres_url:
        postgres = postgres_run(store_type, args.postgres_url, args.n, concurrency)
    report("PostgreSQL", postgres)
    runs = [r for r in (sqlite, postgres) if r is not None]
    print(
        json.dumps(
            {
                "sqlite_checks_per_s": sqlite.checks_per_s,
                "postgres_checks_per_s": postgres and postgres.checks_per_s,
                "rows_lost": sum(r.lost for r in runs),
            }
        )
    )


if __name__ == "__main__":
    main()
