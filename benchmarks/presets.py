"""Every shipped preset on questions held out from fitting: quality, cost, its gate.

Each preset (`confguard/data/presets/*.yaml`) is run as a user runs it: its own
pipeline (`confguard.presets.preset_pipeline`; with `--contexts given`, each item's
own passage) answers, its own guard (`preset_guard`: fitted combiner, calibrator,
rules, cascade) scores and decides. The questions are the held-out 30% of the
seeded sample `scripts/fit_presets.py` draws (it never reads them). Correct = token
F1 >= 0.5. Model calls go through the call record that `scripts/preset_calls.py`
made (`--work`); a call not in it is made and recorded. Seconds per question add
the recorded seconds of replayed calls to the wall time, so they are what a cold
run costs. Calls per question count every model call, the answer's own included.

    python benchmarks/presets.py --data ../shared/data/squad_dev_v1.1.json \\
        --contexts retrieve --limit 400 --seed 0
    python benchmarks/presets.py \\
        --data ../shared/data/knowledge_conflicts_dev.jsonl --contexts given \\
        --limit 350 --seed 0

With `--fitted-on N` (the fit's --squad-limit or --conflicts-limit) and a larger
--limit whose calls are recorded, it measures on every question the fit did not
read: the held-out share and all questions past the fit's first N.

The last line is one JSON object: n, accuracy, and per preset auroc, ece,
coverage, realised_risk, alpha, calls_per_q, s_per_q.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from preset_data import group_of, load_items, open_run, split_of  # noqa: E402

from confguard.config import load  # noqa: E402
from confguard.evaluation import grade  # noqa: E402
from confguard.evaluation.datasets import EvalItem  # noqa: E402
from confguard.evaluation.metrics import auroc, ece  # noqa: E402
from confguard.evaluation.runner import GivenContexts  # noqa: E402
from confguard.guard import Guard  # noqa: E402
from confguard.observation import Observation  # noqa: E402
from confguard.presets import PRESETS, preset_guard  # noqa: E402
from confguard.presets.build import build_pipeline  # noqa: E402
from confguard.results import SignalResult  # noqa: E402
from confguard.scoring.thresholds import RiskControl  # noqa: E402
from confguard.store import InMemoryStore  # noqa: E402


def answer(run: Any, pipeline: Any, item: EvalItem) -> Observation:
    if run.contexts == "given":
        return GivenContexts(run.generator).answer(item)
    return pipeline(item.question)


def evaluate(name: str, run: Any, items: list[EvalItem], work: Path) -> dict[str, Any]:
    config = load(name).config
    guard: Guard = preset_guard(name, generator=run.generator, store=InMemoryStore())
    pipeline = None
    if run.contexts == "retrieve":
        pipeline = build_pipeline(config, run.dataset.passages(), work, run.generator)
    rows = []
    for item in items:
        before = run.generator.stats
        start = time.perf_counter()
        obs = answer(run, pipeline, item)
        result = guard.check(obs)
        wall = time.perf_counter() - start
        after = run.generator.stats
        rows.append(
            {
                "correct": grade(obs.answer, item.answers).correct,
                "confidence": result.confidence,
                "action": result.decision.action,
                "calls": after.calls - before.calls,
                "seconds": wall + after.replayed_seconds - before.replayed_seconds,
                "signals": every_part(guard, obs, result.assessment.signals),
                "stratum": _stratum(guard, result.assessment.signals),
            }
        )
    return summary(guard, rows)


def every_part(
    guard: Guard, obs: Observation, signals: Sequence[SignalResult]
) -> dict[str, float | None]:
    """Each of the preset's signals' confidence on `obs`, the ones the cascade
    skipped scored here (after the answer's calls and seconds were counted): a
    preset is compared with its best single part on every answer, and the
    cascade skips its costliest part on most of them."""
    skipped = {s.name for s in signals if s.cascade_skipped}
    scored = {s.name: s.score(obs) for s in guard.signals if s.name in skipped}
    return {s.name: _conf(scored.get(s.name, s)) for s in signals}


def _stratum(guard: Guard, signals: Sequence[SignalResult]) -> str:
    """The name of the policy stratum that banded the answer ("default": none)."""
    _, stratum = guard.policy.thresholds_for({s.name: s for s in signals})
    return "default" if stratum is None else stratum.name or stratum.label


def _controls(guard: Guard) -> dict[str, tuple[float | None, float | None]]:
    """(alpha, accept threshold) of the policy and of each stratum, by name."""
    policy = guard.policy
    out = {"default": (_alpha(policy.risk_control), policy.thresholds.accept)}
    for stratum in policy.strata:
        name = stratum.name or stratum.label
        out[name] = (_alpha(stratum.risk_control), stratum.thresholds.accept)
    return out


def _alpha(control: RiskControl | None) -> float | None:
    return None if control is None else control.target_risk


def _conf(result: SignalResult) -> float | None:
    return result.confidence if result.ok else None


def summary(guard: Guard, rows: list[dict[str, Any]]) -> dict[str, Any]:
    conf = [r["confidence"] for r in rows]
    correct = [r["correct"] for r in rows]
    parts = {}
    for name in sorted({n for r in rows for n in r["signals"]}):
        values = [r["signals"].get(name) for r in rows]
        if sum(v is not None for v in values) == len(values):
            got = auroc(values, correct)
            if got is not None:
                parts[name] = round(got, 4)
    controls = _controls(guard)
    strata = {}
    for name in sorted({r["stratum"] for r in rows}):
        inside = [r for r in rows if r["stratum"] == name]
        alpha, threshold = controls[name]
        strata[name] = {
            "n": len(inside),
            **_gate(inside),
            "alpha": alpha,
            "threshold": threshold,
        }
    alphas = [s["alpha"] for s in strata.values() if s["alpha"] is not None]
    return {
        "n": len(rows),
        "accuracy": round(sum(correct) / len(rows), 4),
        "auroc": _round(auroc(conf, correct)),
        "ece": round(ece([0.0 if c is None else c for c in conf], correct), 4),
        **_gate(rows),
        # The weakest guarantee in force on these answers (one per stratum).
        "alpha": max(alphas) if alphas else None,
        "strata": strata,
        "calls_per_q": round(sum(r["calls"] for r in rows) / len(rows), 3),
        "s_per_q": round(sum(r["seconds"] for r in rows) / len(rows), 3),
        "actions": {a: sum(r["action"] == a for r in rows) for a in _actions(rows)},
        "best_part": max(parts.items(), key=lambda kv: kv[1]) if parts else None,
        "parts": parts,
    }


def _gate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage, and the realised risk among the accepted answers."""
    accepted = [r for r in rows if r["action"] == "accept"]
    risk = sum(not r["correct"] for r in accepted) / len(accepted) if accepted else None
    return {
        "coverage": round(len(accepted) / len(rows), 4),
        "realised_risk": _round(risk),
    }


def _actions(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({r["action"] for r in rows})


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def selector_report(run: Any, items: list[EvalItem]) -> dict[str, Any]:
    """Confident RAG's fitted selector against the paper's rule, each single
    embedder and the oracle, on the same held-out candidates (EM)."""
    from confguard.rag import ConfidentRAGPipeline
    from confguard.rag.selection import ByMetric

    config = load("balanced").config
    built = build_pipeline(config, run.dataset.passages(), run.work, run.generator)
    assert isinstance(built, ConfidentRAGPipeline)
    plain = ConfidentRAGPipeline(run.generator, built.indices)
    fitted, metric, oracle = [], [], []
    singles: dict[str, list[bool]] = {i.name: [] for i in built.indices}
    for item in items:
        result = plain.run(item.question)
        exact = [grade(c.answer, item.answers).exact_match for c in result.candidates]
        fitted.append(exact[built.selector.select(item.question, result.candidates)])
        metric.append(exact[ByMetric().select(item.question, result.candidates)])
        oracle.append(any(exact))
        for c, e in zip(result.candidates, exact, strict=True):
            singles[c.retriever].append(e)
    n = len(items)
    single = {k: round(sum(v) / n, 4) for k, v in singles.items()}
    return {
        "n": n,
        "fitted_em": round(sum(fitted) / n, 4),
        "by_metric_em": round(sum(metric) / n, 4),
        "single_em": single,
        "best_single_em": max(single.values()),
        "oracle_em": round(sum(oracle) / n, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--contexts", choices=["retrieve", "given"], default="retrieve")
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=ROOT / ".confguard" / "presets")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument(
        "--fitted-on",
        type=int,
        metavar="N",
        help="the shipped presets were fitted on the first N of the seeded sample "
        "(fit_presets.py --*-limit N): measure on every question of --limit the fit "
        "did not read, the held-out ones and those beyond its first N",
    )
    args = parser.parse_args()
    items = unseen(args.data, args.limit, args.seed, args.fitted_on)
    run = open_run(args.data, args.contexts, args.work)
    out: dict[str, Any] = {}
    for name in args.presets.split(","):
        out[name] = evaluate(name, run, items, args.work)
    print_table(out)
    if args.contexts == "retrieve":
        run.work = args.work
        out["selector"] = selector_report(run, items)
        print("Confident RAG selection (EM):", json.dumps(out["selector"]))
    # The default preset's accuracy heads the line; each preset has its own.
    head = out.get("balanced") or out[next(iter(out))]
    print(json.dumps({"n": head["n"], "accuracy": head["accuracy"], **out}))


def unseen(path: Path, limit: int, seed: int, fitted_on: int | None) -> list[EvalItem]:
    """The questions of the seeded sample no fit read: the held-out share, and
    with `fitted_on`, every question past the fit's own first `fitted_on`."""
    read = set()
    if fitted_on is not None:
        read = {group_of(i) for i in load_items(path, fitted_on, seed)}
    return [
        i
        for i in load_items(path, limit, seed)
        if split_of(i) == "holdout"
        or (fitted_on is not None and group_of(i) not in read)
    ]


def print_table(out: dict[str, Any]) -> None:
    cols = (
        "accuracy",
        "auroc",
        "ece",
        "coverage",
        "realised_risk",
        "alpha",
        "calls_per_q",
        "s_per_q",
    )
    print("| preset | " + " | ".join(cols) + " | best single part |")
    print("|---" * (len(cols) + 2) + "|")
    for name, r in out.items():
        cells = " | ".join(str(r[c]) for c in cols)
        print(f"| {name} | {cells} | {r['best_part']} |")


if __name__ == "__main__":
    main()
