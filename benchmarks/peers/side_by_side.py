"""confguard and UQLM side by side: the same answers, the same labels, one table.

Joins stage 1 (`export.py`: answers, labels, confguard's scores) with stage 2
(`score_uqlm.py`: UQLM's scores of those answers), fits UQLM's own tuned ensemble
on the training split confguard's combiner was fitted on (`split == "fit"`), and
measures every scorer on the held-out split:

- AUROC and AURC of the raw scores (confguard's metrics; AURC lower is better);
- ECE after the same calibration for every scorer: Platt scaling fitted on the
  training split, applied to the held-out answers;
- model calls per question: generated sequences plus scored continuations, the
  answer's own included (K samples are K calls, whoever asks for them);
- seconds per question as a cold run pays them: the recorded model seconds of
  those calls plus the scorer's own compute.

A score a scorer could not give (UQLM's NaN, a confguard signal that skipped) is
ranked lowest (0.0) and counted in a note under the table.

    .venv/bin/python benchmarks/peers/side_by_side.py \\
        --data .confguard/peers/squad.jsonl --seed 0

The last line is JSON: {"n", "accuracy", "confguard": {name: auroc}, "uqlm":
{name: auroc}, "best_confguard_auroc", "best_uqlm_auroc"}.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from confguard.evaluation.metrics import aurc, auroc, ece
from confguard.scoring.calibration import fit_platt

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PEER_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
ENSEMBLE = "uqlm_ensemble"


@dataclass(frozen=True)
class Scorer:
    """One scorer's scores on every joined row, with what each costs."""

    name: str
    side: str
    family: str
    scores: tuple[float | None, ...]
    calls: tuple[float, ...]
    seconds: tuple[float, ...]


@dataclass(frozen=True)
class Measured:
    """One table row: a scorer measured on the held-out answers."""

    name: str
    side: str
    family: str
    auroc: float | None
    aurc: float
    ece: float
    calls: float
    seconds: float
    missing: int


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of a file."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def peer_path(data: Path) -> Path:
    """Where `score_uqlm.py` writes its scores of `data` by default."""
    return data.with_suffix(".uqlm.jsonl")


def join(
    rows: Sequence[dict[str, Any]], peer: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Stage 1's rows, each with its UQLM scores; and the peer's meta line.

    Every row must have been scored by the peer, on the same answer text: else
    the two stages ran on different answers, and nothing is compared then.
    """
    head = next((p for p in peer if p.get("kind") == "meta"), None)
    if head is None:
        raise ValueError("the peer's file has no meta line (not from score_uqlm.py)")
    by_id = {p["id"]: p for p in peer if p.get("kind") == "item"}
    missing = [r["id"] for r in rows if r["id"] not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} answers lack UQLM scores, e.g. {missing[:3]}")
    changed = [r["id"] for r in rows if by_id[r["id"]].get("answer") != r["answer"]]
    if changed:
        raise ValueError(
            f"{len(changed)} answers differ between the stages: {changed[:3]}"
        )
    return [{**r, "uqlm": by_id[r["id"]]["uqlm"]} for r in rows], head


def confguard_scorers(rows: Sequence[dict[str, Any]]) -> list[Scorer]:
    """confguard's scorers: the answer's cost plus each scorer's own."""
    names = list(rows[0]["confguard"]) if rows else []
    return [
        Scorer(
            name=name,
            side="confguard",
            family=rows[0]["confguard"][name]["family"],
            scores=tuple(r["confguard"][name]["confidence"] for r in rows),
            calls=tuple(
                r["answer_calls"] + r["confguard"][name]["calls"] for r in rows
            ),
            seconds=tuple(
                r["answer_seconds"] + r["confguard"][name]["seconds"] for r in rows
            ),
        )
        for name in names
    ]


def uqlm_scorers(rows: Sequence[dict[str, Any]], head: dict[str, Any]) -> list[Scorer]:
    """UQLM's scorers: the answer, the K samples where read, and UQLM's compute."""
    out = []
    for name, info in head["scorers"].items():
        sampled = bool(info["uses_samples"])
        out.append(
            Scorer(
                name=name,
                side="uqlm",
                family=info["family"],
                scores=tuple(r["uqlm"][name] for r in rows),
                calls=tuple(_calls(r, sampled) for r in rows),
                seconds=tuple(
                    _seconds(r, sampled) + info["seconds_per_answer"] for r in rows
                ),
            )
        )
    return out


def _calls(row: dict[str, Any], sampled: bool) -> float:
    return float(row["answer_calls"] + (row["sample_calls"] if sampled else 0))


def _seconds(row: dict[str, Any], sampled: bool) -> float:
    return float(row["answer_seconds"] + (row["sample_seconds"] if sampled else 0.0))


def ensemble_scorer(
    parts: Sequence[Scorer],
    rows: Sequence[dict[str, Any]],
    scores: Sequence[float | None],
) -> Scorer:
    """The tuned ensemble as a scorer: it costs what its most costly part costs in
    calls (the parts share the answer and samples) and every part's compute."""
    extra = [
        [s - c for s, c in zip(p.seconds, _base_seconds(p, rows), strict=True)]
        for p in parts
    ]
    calls = [max(p.calls[i] for p in parts) for i in range(len(rows))]
    sampled = any(_reads_samples(p, rows) for p in parts)
    seconds = [
        _seconds(r, sampled) + sum(e[i] for e in extra) for i, r in enumerate(rows)
    ]
    return Scorer(
        ENSEMBLE, "uqlm", "ensemble", tuple(scores), tuple(calls), tuple(seconds)
    )


def _reads_samples(part: Scorer, rows: Sequence[dict[str, Any]]) -> bool:
    return any(c > r["answer_calls"] for c, r in zip(part.calls, rows, strict=True))


def _base_seconds(part: Scorer, rows: Sequence[dict[str, Any]]) -> list[float]:
    sampled = _reads_samples(part, rows)
    return [_seconds(r, sampled) for r in rows]


@dataclass(frozen=True)
class Pooled:
    """Training rows of other datasets: UQLM's scores of them, and their labels."""

    scores: dict[str, list[float | None]]
    correct: list[bool]


def pooled_training(paths: Sequence[Path], names: Sequence[str]) -> Pooled:
    """The 'fit' rows of other exports (each joined with its peer file).

    The presets' combiners were fitted on the dev sets' training splits pooled;
    so that UQLM's ensemble is tuned on the same rows, theirs join its training.
    """
    scores: dict[str, list[float | None]] = {n: [] for n in names}
    correct: list[bool] = []
    for path in paths:
        rows, _ = join(read_jsonl(path), read_jsonl(peer_path(path)))
        for r in (r for r in rows if r["split"] == "fit"):
            correct.append(bool(r["correct"]))
            for n in names:
                scores[n].append(r["uqlm"][n])
    return Pooled(scores, correct)


def tune_ensemble(
    parts: Sequence[Scorer],
    train: Sequence[bool],
    correct: Sequence[bool],
    seed: int,
    peer_python: Path,
    pooled: Pooled | None = None,
) -> list[float | None]:
    """UQLM's Tuner (run in the peer's venv) fitted on the training rows (and the
    pooled datasets' training rows); the ensemble's score on every row."""
    extra = pooled or Pooled({p.name: [] for p in parts}, [])
    request = {
        "train": {
            p.name: [s for s, t in zip(p.scores, train, strict=True) if t]
            + extra.scores[p.name]
            for p in parts
        },
        "correct": [c for c, t in zip(correct, train, strict=True) if t]
        + extra.correct,
        "apply": {p.name: list(p.scores) for p in parts},
    }
    script = HERE / "score_uqlm.py"
    done = subprocess.run(
        [str(peer_python), str(script), "tune", "--seed", str(seed)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"UQLM's ensemble tuning failed:\n{done.stderr[-2000:]}")
    tuned = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        "UQLM ensemble weights:",
        json.dumps(_rounded(tuned["weights"])),
        file=sys.stderr,
    )
    return list(tuned["scores"])


def _rounded(weights: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in weights.items()}


def filled(scores: Sequence[float | None]) -> tuple[list[float], int]:
    """Scores with a missing one ranked lowest (0.0), and how many were missing."""
    out = [0.0 if _absent(s) else min(max(float(s), 0.0), 1.0) for s in scores]  # type: ignore[arg-type]
    return out, sum(_absent(s) for s in scores)


def _absent(value: float | None) -> bool:
    return value is None or math.isnan(value)


def measure(scorer: Scorer, train: Sequence[bool], correct: Sequence[bool]) -> Measured:
    """AUROC, AURC and Platt-calibrated ECE on the held-out rows (`not train`)."""
    scores, _ = filled(scorer.scores)
    fit = [s for s, t in zip(scores, train, strict=True) if t]
    fit_y = [c for c, t in zip(correct, train, strict=True) if t]
    held = [i for i, t in enumerate(train) if not t]
    x = [scores[i] for i in held]
    y = [correct[i] for i in held]
    platt = fit_platt(fit, fit_y)
    _, missing = filled([scorer.scores[i] for i in held])
    return Measured(
        name=scorer.name,
        side=scorer.side,
        family=scorer.family,
        auroc=auroc(x, y),
        aurc=aurc(x, y),
        ece=ece([platt.calibrate(v) for v in x], y),
        calls=_mean([scorer.calls[i] for i in held]),
        seconds=_mean([scorer.seconds[i] for i in held]),
        missing=missing,
    )


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def usable(scorer: Scorer) -> bool:
    """A scorer that scored at least one answer (a signal that never applies, such
    as retrieval support on given contexts, has no row)."""
    return any(not _absent(s) for s in scorer.scores)


def table(measured: Sequence[Measured]) -> str:
    """The markdown table, confguard's scorers first, each side best AUROC first."""
    head = "| scorer | family | AUROC | AURC | ECE | calls/q | s/q |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for m in sorted(measured, key=lambda m: (m.side != "confguard", -(m.auroc or 0))):
        auc = "n/a" if m.auroc is None else f"{m.auroc:.4f}"
        lines.append(
            f"| {m.side}: {m.name} | {m.family} | {auc} | {m.aurc:.4f} | "
            f"{m.ece:.4f} | {m.calls:.2f} | {m.seconds:.3f} |"
        )
    return "\n".join(lines)


def missing_lines(measured: Sequence[Measured]) -> list[str]:
    """Which scorers could not score some held-out answers (ranked lowest)."""
    return [
        f"- missing on {m.missing} answers (ranked lowest): {m.side}: {m.name}"
        for m in measured
        if m.missing
    ]


def summary(measured: Sequence[Measured], correct: Sequence[bool]) -> dict[str, Any]:
    """The last line's JSON: n, accuracy, AUROC by side, each side's best."""
    sides: dict[str, dict[str, float | None]] = {"confguard": {}, "uqlm": {}}
    for m in measured:
        sides[m.side][m.name] = None if m.auroc is None else round(m.auroc, 4)
    return {
        "n": len(correct),
        "accuracy": round(sum(correct) / len(correct), 4) if correct else None,
        "confguard": sides["confguard"],
        "uqlm": sides["uqlm"],
        "best_confguard_auroc": _best(sides["confguard"]),
        "best_uqlm_auroc": _best(sides["uqlm"]),
    }


def _best(aurocs: dict[str, float | None]) -> float | None:
    found = [v for v in aurocs.values() if v is not None]
    return max(found) if found else None


def budget_lines(measured: Sequence[Measured]) -> list[str]:
    """At each peer scorer's cost in calls: each side's best AUROC within it.

    The goal is confguard ahead at no more model calls, so each budget compares
    only the scorers that spend at most that many calls per question.
    """
    lines = []
    for budget in sorted({round(m.calls, 2) for m in measured if m.side == "uqlm"}):
        best = {
            side: max(
                (m for m in measured if m.side == side and _within(m, budget)),
                key=lambda m: m.auroc or 0.0,
                default=None,
            )
            for side in ("confguard", "uqlm")
        }
        cells = [_best_cell(side, m) for side, m in best.items()]
        lines.append(f"- at <= {budget:.2f} calls/q: " + "; ".join(cells))
    return lines


def _within(m: Measured, budget: float) -> bool:
    return m.auroc is not None and round(m.calls, 2) <= budget


def _best_cell(side: str, m: Measured | None) -> str:
    return f"{side} none" if m is None else f"{side} {m.name} {m.auroc:.4f}"


def best_gap_line(
    measured: Sequence[Measured],
    scorers: Sequence[Scorer],
    train: Sequence[bool],
    correct: Sequence[bool],
    seed: int,
    rounds: int = 1000,
) -> str:
    """A paired bootstrap of best confguard minus best UQLM AUROC (95% interval).

    Held-out sets are small (tens of questions), so the gap is shown with its
    spread: the same resampled questions score both sides in each round.
    """
    ours, theirs = _best_of(measured, "confguard"), _best_of(measured, "uqlm")
    if ours is None or theirs is None:
        return "- best-vs-best bootstrap: a side has no AUROC"
    by_name = {(s.side, s.name): s for s in scorers}
    held = [i for i, t in enumerate(train) if not t]
    a, b = (
        np.array([filled(by_name[(m.side, m.name)].scores)[0][i] for i in held])
        for m in (ours, theirs)
    )
    y = np.array([correct[i] for i in held])
    gaps = _bootstrap_gaps(a, b, y, seed, rounds)
    lo, hi = np.percentile(gaps, [2.5, 97.5]) if gaps else (math.nan, math.nan)
    return (
        f"- best-vs-best AUROC gap ({ours.name} - {theirs.name}), paired bootstrap "
        f"x{rounds}, seed {seed}: 95% interval [{lo:+.4f}, {hi:+.4f}]"
    )


def _best_of(measured: Sequence[Measured], side: str) -> Measured | None:
    found = [m for m in measured if m.side == side and m.auroc is not None]
    return max(found, key=lambda m: m.auroc or 0.0, default=None)


def _bootstrap_gaps(a: Any, b: Any, y: Any, seed: int, rounds: int) -> list[float]:
    rng = np.random.default_rng(seed)
    gaps = []
    for _ in range(rounds):
        pick = rng.integers(0, y.size, y.size)
        first, second = auroc(a[pick], y[pick]), auroc(b[pick], y[pick])
        if first is not None and second is not None:
            gaps.append(first - second)
    return gaps


def unavailable_lines(head: dict[str, Any]) -> list[str]:
    """What of UQLM could not run here, and why (from stage 2's meta line)."""
    return [f"- not run: {name}: {why}" for name, why in head["unavailable"].items()]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Join, tune UQLM's ensemble, measure, print; returns the summary."""
    rows = read_jsonl(args.data)[: args.limit]
    rows, head = join(rows, read_jsonl(args.peer or peer_path(args.data)))
    train = [r["split"] == "fit" for r in rows]
    correct = [bool(r["correct"]) for r in rows]
    if all(train) or not any(train):
        raise ValueError("need rows of both splits: 'fit' (training) and 'holdout'")
    scorers = [
        s for s in confguard_scorers(rows) + uqlm_scorers(rows, head) if usable(s)
    ]
    peers = [s for s in scorers if s.side == "uqlm"]
    if args.skip_ensemble:
        print("- not run: uqlm_ensemble: --skip-ensemble", file=sys.stderr)
    else:
        pooled = pooled_training(args.pool, [p.name for p in peers])
        tuned = tune_ensemble(
            peers, train, correct, args.seed, args.peer_python, pooled
        )
        scorers.append(ensemble_scorer(peers, rows, tuned))
    measured = [measure(s, train, correct) for s in scorers]
    held = [c for c, t in zip(correct, train, strict=True) if not t]
    print(table(measured))
    gap = best_gap_line(measured, scorers, train, correct, args.seed)
    notes = [*budget_lines(measured), gap, *missing_lines(measured)]
    print("\n".join(notes + unavailable_lines(head)))
    out = summary(measured, held)
    print(json.dumps(out))
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="export.py's JSONL")
    parser.add_argument(
        "--peer",
        type=Path,
        help="score_uqlm.py's JSONL (default: DATA with suffix .uqlm.jsonl)",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N rows only")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the ensemble tuner and bootstrap"
    )
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    parser.add_argument(
        "--pool",
        type=Path,
        nargs="*",
        default=[],
        help="other exports whose training rows join the ensemble's (the presets "
        "were fitted on the dev sets pooled)",
    )
    parser.add_argument(
        "--skip-ensemble",
        action="store_true",
        help="leave UQLM's tuned ensemble out (no peer venv)",
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
