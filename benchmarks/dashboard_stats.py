"""What the review loop's reads cost: the dashboard's figures, with and without
policy strata, and the labels a refit reads (`labelled_from_store`).

A SQLite store is seeded with `cases` escalated cases (seeded signals; half of them
with retrieval scores, half without), each resolved by a verdict; then
`confguard.serve.stats.stats` is timed `repeats` times under the shipped `balanced`
preset's policy (a `retrieved` stratum: every label's last decision is read back to
find its stratum) and under the same policy without strata (one threshold), and so
is `labelled_from_store` (every resolved review with its last decision's signals).

    python benchmarks/dashboard_stats.py [--cases 5000] [--repeats 5] [--store-url URL]

Without --store-url the store is a temporary SQLite file; a URL given (PostgreSQL,
say) must name an empty store, and the benchmark's rows stay in it.

Last line: {"cases", "labels", "strata_ms_p50", "no_strata_ms_p50",
"labelled_ms_p50", "by_stratum"}.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from confguard import Policy
from confguard.config import load
from confguard.config.presets import preset_path
from confguard.scoring.calibration import labelled_from_store
from confguard.serve.demo import DemoCase, seed_case
from confguard.serve.stats import stats
from confguard.store import SQLStore
from confguard.store.sql import masked


def seed(store: SQLStore, cases: int, rng: random.Random) -> None:
    for i in range(cases):
        support = rng.random()
        retrieval = rng.random() if i % 2 else None
        case = DemoCase(
            question=f"q{i}",
            answer=f"a{i}",
            signals={"retrieval": retrieval, "answer_support": support},
        )
        review_id = seed_case(store, case)
        store.resolve_review(review_id, "approved" if support > 0.4 else "rejected")


def p50_ms(read: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        read()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(store: SQLStore, args: argparse.Namespace) -> dict[str, object]:
    policy = Policy.from_dict(dict(load(preset_path("balanced")).config.policy))
    flat = Policy.from_dict(policy.to_dict() | {"strata": []})
    seed(store, args.cases, random.Random(0))
    figures = stats(store, policy)  # also the first call's imports, left untimed
    return {
        "cases": args.cases,
        "labels": figures.labels,
        "strata_ms_p50": round(p50_ms(lambda: stats(store, policy), args.repeats), 1),
        "no_strata_ms_p50": round(p50_ms(lambda: stats(store, flat), args.repeats), 1),
        "labelled_ms_p50": round(
            p50_ms(lambda: labelled_from_store(store), args.repeats), 1
        ),
        "by_stratum": [
            {
                "stratum": f.stratum,
                "threshold": f.threshold,
                "labels": f.labels,
                "accepted_labels": f.accepted_labels,
                "accepted_error": f.accepted_error,
            }
            for f in figures.strata
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--store-url", help="an empty store (default: temporary SQLite)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.store_url or f"sqlite:///{Path(folder) / 'audit.sqlite'}"
        with SQLStore(url) as store:
            if store.reviews() or store.decisions(limit=1):
                sys.exit(f"{masked(store.engine.url)} is not empty: name an empty one")
            result = measure(store, args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
