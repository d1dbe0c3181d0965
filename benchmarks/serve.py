"""The review console's JSON API under 200 concurrent clients on PostgreSQL.

`confguard serve` runs as its own process (uvicorn, one worker) on 127.0.0.1; 200
asyncio clients, each with its own API token, repeatedly list the pending queue
(``GET /api/reviews``, one of the first ten pages of 20 at random) and resolve a
case picked at random from it (``POST /api/reviews/{id}/resolve``), so clients
often race for one case and the store's compare-and-set must turn all but one of
each race into a 409. Afterwards
the verdict history is counted: a case with more than one verdict would be a
double resolution.

    python benchmarks/serve.py [--clients 200] [--rounds 3] [--cases 1500]
        [--postgres-url URL] [--budget 120]

PostgreSQL's URL comes from --postgres-url or CONFGUARD_TEST_POSTGRES_URL; the run
uses a schema of its own, dropped afterwards. Bounded: `rounds` list+resolve pairs
per client, and the whole run stops after `budget` seconds.

Last line: {"clients", "list_p50_ms", "list_p99_ms", "resolve_p50_ms",
"resolve_p99_ms", "resolved_per_s", "double_resolutions"} (the last must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import numpy as np
from sqlalchemy import create_engine, func, select
from throughput import fresh_schema  # the same throwaway schema, one helper

from confguard.serve.demo import seed_random
from confguard.serve.security import hash_password, new_token
from confguard.store import SQLStore
from confguard.store.accounts import Accounts
from confguard.store.schema import REVIEW_EVENTS, REVIEWS


def prepare(url: str, clients: int, cases: int) -> list[str]:
    """Seed the cases and one reviewer account and token per client; the tokens."""
    with SQLStore(url, store_answers=True) as store:
        seed_random(store, cases)
        accounts = Accounts(store.engine)
        hashed = hash_password(new_token())
        tokens = []
        for i in range(clients):
            accounts.add(f"reviewer{i}", hashed, "reviewer")
            tokens.append(new_token())
            accounts.add_token(f"reviewer{i}", tokens[-1], "benchmark")
    return tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def console(url: str) -> Iterator[str]:
    """`confguard serve` on a free port of 127.0.0.1, in its own process."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "confguard.cli",
            "serve",
            "--store",
            url,
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/login", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the console did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


PAGES = 10
"""Clients list one of the first PAGES pages of 20 pending cases at random."""


@dataclass
class Tally:
    """What the clients measured."""

    list_ms: list[float] = field(default_factory=list)
    resolve_ms: list[float] = field(default_factory=list)
    resolved: int = 0
    conflicts: int = 0
    errors: dict[int, int] = field(default_factory=dict)


async def client(
    http: httpx.AsyncClient, token: str, rounds: int, tally: Tally, stop: float
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(token)
    for _ in range(rounds):
        if time.monotonic() > stop:
            return
        started = time.perf_counter()
        page = rng.randint(1, PAGES)  # spread the clients, yet let them collide
        listed = await http.get(
            f"/api/reviews?per_page=20&page={page}", headers=headers
        )
        tally.list_ms.append((time.perf_counter() - started) * 1000)
        if listed.status_code != 200:
            tally.errors[listed.status_code] = (
                tally.errors.get(listed.status_code, 0) + 1
            )
            continue
        items = listed.json()["items"]
        if not items:
            continue  # that page is empty by now
        pick = rng.choice(items)["id"]
        started = time.perf_counter()
        done = await http.post(
            f"/api/reviews/{pick}/resolve",
            json={"verdict": "approved"},
            headers=headers,
        )
        tally.resolve_ms.append((time.perf_counter() - started) * 1000)
        if done.status_code == 200:
            tally.resolved += 1
        elif done.status_code == 409:
            tally.conflicts += 1
        else:
            tally.errors[done.status_code] = tally.errors.get(done.status_code, 0) + 1


async def load(
    base: str, tokens: list[str], rounds: int, budget: float
) -> tuple[Tally, float]:
    tally = Tally()
    limits = httpx.Limits(
        max_connections=len(tokens), max_keepalive_connections=len(tokens)
    )
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as http:
        started = time.perf_counter()
        stop = time.monotonic() + budget
        await asyncio.gather(*(client(http, t, rounds, tally, stop) for t in tokens))
        return tally, time.perf_counter() - started


def double_resolutions(url: str) -> tuple[int, int]:
    """(cases with more than one verdict, resolved cases) in the store."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            per_case = (
                select(REVIEW_EVENTS.c.review_id)
                .group_by(REVIEW_EVENTS.c.review_id)
                .having(func.count() > 1)
                .subquery()
            )
            doubles = connection.execute(select(func.count()).select_from(per_case))
            resolved = connection.execute(
                select(func.count())
                .select_from(REVIEWS)
                .where(REVIEWS.c.status != "pending")
            )
            return int(doubles.scalar_one()), int(resolved.scalar_one())
    finally:
        engine.dispose()


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile of `values` in ms, one decimal (None without values)."""
    if not values:
        return None
    return round(float(np.percentile(values, q)), 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--cases", type=int, default=1500)
    p.add_argument("--budget", type=float, default=120.0)
    p.add_argument(
        "--postgres-url", default=os.environ.get("CONFGUARD_TEST_POSTGRES_URL")
    )
    args = p.parse_args()
    if not args.postgres_url:
        raise SystemExit("give --postgres-url or set CONFGUARD_TEST_POSTGRES_URL")
    with fresh_schema(args.postgres_url) as url:
        tokens = prepare(url, args.clients, args.cases)
        with console(url) as base:
            tally, seconds = asyncio.run(load(base, tokens, args.rounds, args.budget))
        doubles, resolved = double_resolutions(url)
    print(
        f"{len(tally.list_ms)} lists, {len(tally.resolve_ms)} resolves "
        f"in {seconds:.1f} s: "
        f"{tally.resolved} resolved, {tally.conflicts} lost a race (409), "
        f"errors {tally.errors or 'none'}; the store holds {resolved} resolved cases"
    )
    if resolved != tally.resolved:
        print(
            f"MISMATCH: clients saw {tally.resolved} resolutions, store has {resolved}"
        )
    print(
        json.dumps(
            {
                "clients": args.clients,
                "list_p50_ms": percentile(tally.list_ms, 50),
                "list_p99_ms": percentile(tally.list_ms, 99),
                "resolve_p50_ms": percentile(tally.resolve_ms, 50),
                "resolve_p99_ms": percentile(tally.resolve_ms, 99),
                "resolved_per_s": round(tally.resolved / seconds, 1),
                "double_resolutions": doubles,
            }
        )
    )


if __name__ == "__main__":
    main()
