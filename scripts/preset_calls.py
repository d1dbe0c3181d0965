"""Make every model call the presets need on the dev data, once, into a call record.

`fit_presets.py` and `benchmarks/presets.py` run the real preset pipelines and
signals through `confguard.llm.recorded`: a call made here is replayed there, so
fitting and evaluating never wait for the model twice. For each question this runs
what the most expensive preset could ask: every embedder's candidate answer
(Confident RAG), and for each distinct candidate the situated-faithfulness (RCR)
calls and K temperature samples — so any selector fitted later finds its calls
recorded.

    python scripts/preset_calls.py --data ../shared/data/squad_dev_v1.1.json \\
        --contexts retrieve --limit 400 --seed 0 --out .confguard/presets
    python scripts/preset_calls.py \\
        --data ../shared/data/knowledge_conflicts_dev.jsonl \\
        --contexts given --limit 350 --seed 0 --out .confguard/presets
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from preset_data import (
    DEFAULT_EMBEDDERS,
    candidate_observations,
    load_items,
    model_calls,
    open_run,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--contexts", choices=["retrieve", "given"], required=True)
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedders", default=",".join(DEFAULT_EMBEDDERS))
    parser.add_argument("--out", type=Path, default=Path(".confguard/presets"))
    parser.add_argument(
        "--part",
        default="1/1",
        help="K/N: make the calls of every N-th item from the K-th, into a record of "
        "its own (append it to the main record when done), so N processes share out "
        "the work",
    )
    parser.add_argument("--suffix", default="", help="added to the record's name")
    args = parser.parse_args()
    embedders = tuple(args.embedders.split(","))
    k, n = (int(v) for v in args.part.split("/"))
    suffix = ("" if n == 1 else f".part{k}") + args.suffix
    run = open_run(args.data, args.contexts, args.out, embedders, suffix=suffix)
    items = load_items(args.data, args.limit, args.seed)[k - 1 :: n]
    start = time.perf_counter()
    for n, item in enumerate(items, 1):
        for obs in candidate_observations(run, item):
            model_calls(run.generator, obs)
        if n % 10 == 0 or n == len(items):
            stats = run.generator.stats
            took = time.perf_counter() - start
            print(
                f"{n}/{len(items)} items, {stats.calls} calls "
                f"({stats.replayed} replayed), {took:.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
