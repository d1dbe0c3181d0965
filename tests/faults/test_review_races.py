"""Two reviewers racing to resolve one review: exactly one wins, every time.

Real parts only: two stores (as two app servers would have) on one SQLite file or
one PostgreSQL database, raced from two threads, from two processes, and through two
`confguard review` commands started at once.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from confguard.exceptions import ReviewConflictError
from confguard.store import ReviewRequest, SQLStore
from confguard.store.base import Verdict

THREAD_ROUNDS = 100
PROCESS_ROUNDS = 20
WAIT_SECONDS = 30.0
"""The longest any one step of a race may take before the test fails."""

REVIEWERS: tuple[tuple[str, Verdict], ...] = (("ada", "approved"), ("bo", "rejected"))


@dataclass(frozen=True)
class Outcome:
    """What one reviewer was told: it won, or who won before it."""

    reviewer: str
    won: bool
    winner: str | None = None
    winning_verdict: str | None = None


def case(i: int) -> ReviewRequest:
    """The i-th escalated case."""
    return ReviewRequest(
        request_id=f"req-{i}",
        question="Who wrote Dune?",
        answer="Isaac Asimov",
        confidence=0.4,
        reason="low confidence",
    )


def resolve(
    store: SQLStore, review_id: str, reviewer: str, verdict: Verdict
) -> Outcome:
    """One reviewer's attempt, as the reviewer would see it."""
    try:
        store.resolve_review(review_id, verdict, reviewer=reviewer, note="raced")
    except ReviewConflictError as conflict:
        return Outcome(reviewer, False, conflict.resolved_by, conflict.verdict)
    return Outcome(reviewer, True)


def assert_one_winner(store: SQLStore, review_id: str, outcomes: list[Outcome]) -> None:
    """Exactly one winner; the loser was told who won; the store agrees."""
    winners = [o for o in outcomes if o.won]
    assert len(winners) == 1, outcomes
    (winner,) = winners
    (loser,) = (o for o in outcomes if not o.won)
    verdict = dict(REVIEWERS)[winner.reviewer]
    assert (loser.winner, loser.winning_verdict) == (winner.reviewer, verdict)
    (item,) = (i for i in store.reviews() if i.id == review_id)
    assert (item.status, item.reviewer) == (verdict, winner.reviewer)
    history = store.review_history(review_id)
    assert [(e.reviewer, e.verdict) for e in history] == [(winner.reviewer, verdict)]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file's URL."""
    return f"sqlite:///{tmp_path}/audit.sqlite"


def race_in_threads(url: str, rounds: int) -> None:
    """`rounds` races between two stores on `url`, one thread each."""
    with SQLStore(url) as ada, SQLStore(url) as bo, ThreadPoolExecutor(2) as pool:
        for i in range(rounds):
            review_id = ada.enqueue_review(case(i))
            start = threading.Barrier(2, timeout=WAIT_SECONDS)
            futures = [
                pool.submit(attempt_after, start, store, review_id, k)
                for k, store in enumerate((ada, bo))
            ]
            outcomes = [f.result(timeout=WAIT_SECONDS) for f in futures]
            assert_one_winner(ada, review_id, outcomes)


def attempt_after(
    start: threading.Barrier, store: SQLStore, review_id: str, k: int
) -> Outcome:
    """Reviewer k's attempt, once both reviewers are ready to press the button."""
    start.wait()
    reviewer, verdict = REVIEWERS[k]
    return resolve(store, review_id, reviewer, verdict)


def test_threads_on_sqlite_have_exactly_one_winner_every_round(
    sqlite_url: str,
) -> None:
    race_in_threads(sqlite_url, THREAD_ROUNDS)


@pytest.mark.postgres
def test_threads_on_postgres_have_exactly_one_winner_every_round(
    postgres_url: str,
) -> None:
    race_in_threads(postgres_url, THREAD_ROUNDS)


# -- two processes ----------------------------------------------------------------


def reviewer_process(
    url: str, k: int, jobs: Any, results: Any, start: Any
) -> None:  # pragma: no cover - runs in a child process
    """A reviewer in its own process: resolve each review id it is sent."""
    reviewer, verdict = REVIEWERS[k]
    with SQLStore(url) as store:
        while (review_id := jobs.get(timeout=WAIT_SECONDS)) is not None:
            start.wait()
            results.put(resolve(store, review_id, reviewer, verdict))


@pytest.fixture
def reviewer_processes(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[str], Callable[[str], list[Outcome]]]]:
    """Start two reviewer processes on a URL; returns `race(review_id)`."""
    # fork: the children start in milliseconds; they open their own stores after it.
    context = multiprocessing.get_context("fork")
    started: list[Any] = []
    # The parent must hold its queues and barrier while a child unpickles them.
    alive: list[Any] = []

    def start(url: str) -> Callable[[str], list[Outcome]]:
        jobs = [context.Queue() for _ in REVIEWERS]
        results = context.Queue()
        barrier = context.Barrier(2, timeout=WAIT_SECONDS)
        alive.extend((*jobs, results, barrier))
        for k, queue in enumerate(jobs):
            process = context.Process(
                target=reviewer_process, args=(url, k, queue, results, barrier)
            )
            process.start()
            started.append((process, queue))

        def race(review_id: str) -> list[Outcome]:
            for queue in jobs:
                queue.put(review_id)
            return [results.get(timeout=WAIT_SECONDS) for _ in REVIEWERS]

        return race

    yield start
    for _, queue in started:
        queue.put(None)
    for process, _ in started:
        process.join(timeout=WAIT_SECONDS)
        if process.is_alive():
            process.kill()
        assert process.exitcode == 0


def race_in_processes(url: str, start: Callable[[str], Any]) -> None:
    """`PROCESS_ROUNDS` races between two reviewer processes on `url`."""
    race = start(url)
    with SQLStore(url) as store:
        for i in range(PROCESS_ROUNDS):
            review_id = store.enqueue_review(case(i))
            assert_one_winner(store, review_id, race(review_id))


def test_processes_on_sqlite_have_exactly_one_winner_every_round(
    sqlite_url: str, reviewer_processes: Callable[[str], Any]
) -> None:
    SQLStore(sqlite_url).close()  # tables first, so the children only race
    race_in_processes(sqlite_url, reviewer_processes)


@pytest.mark.postgres
def test_processes_on_postgres_have_exactly_one_winner_every_round(
    postgres_url: str, reviewer_processes: Callable[[str], Any]
) -> None:
    SQLStore(postgres_url).close()
    race_in_processes(postgres_url, reviewer_processes)


# -- two `confguard review` commands ----------------------------------------------


def review_command(url: str, review_id: str, k: int) -> subprocess.Popen[str]:
    """`confguard review approve|reject ID` as reviewer k, started now."""
    reviewer, verdict = REVIEWERS[k]
    action = {"approved": "approve", "rejected": "reject"}[verdict]
    argv = [sys.executable, "-m", "confguard.cli", "review", action, review_id]
    return subprocess.Popen(
        [*argv, "--store", url, "--reviewer", reviewer],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def race_commands(url: str, rounds: int) -> None:
    """`rounds` races between `confguard review approve` and `... reject`."""
    with SQLStore(url) as store:
        for i in range(rounds):
            review_id = store.enqueue_review(case(i))
            commands = [review_command(url, review_id, k) for k in (0, 1)]
            ran = [c.communicate(timeout=WAIT_SECONDS) for c in commands]
            codes = [c.returncode for c in commands]
            assert sorted(codes) == [0, 1], ran
            winner = codes.index(0)
            (out, _), (lost, lost_err) = ran[winner], ran[1 - winner]
            reviewer, verdict = REVIEWERS[winner]
            assert out == f"review {review_id}: {verdict}\n"
            assert lost.startswith(
                f"error: review {review_id} was already {verdict} by {reviewer} at "
            )
            assert lost.count("\n") == 1 and "Traceback" not in lost + lost_err
            outcomes = [Outcome(REVIEWERS[winner][0], True)]
            outcomes.append(Outcome(REVIEWERS[1 - winner][0], False, reviewer, verdict))
            assert_one_winner(store, review_id, outcomes)


def test_two_review_commands_have_one_winner_and_the_loser_exits_1(
    sqlite_url: str,
) -> None:
    race_commands(sqlite_url, rounds=1)  # each command starts a Python: seconds


@pytest.mark.slow
def test_twenty_review_command_races_have_one_winner_each(sqlite_url: str) -> None:
    race_commands(sqlite_url, rounds=PROCESS_ROUNDS)
