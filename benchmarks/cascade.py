"""The cost-aware cascade against running every signal: LLM calls and AUROC.

Seeded random SQuAD questions are answered by the default `confguard eval` pipeline
(MiniLM retrieval over every paragraph of the file, Gemma 3 270M, 2-shot completion
prompt; answers cached and shared with `confguard eval`). An answer is correct when
its token F1 against a gold answer is at least 0.5.

Every answer is scored once by every signal: the demo's cheap ones (token
probabilities, hedging, retrieval and answer support; no LLM call) and three that
call the LLM (a 1-5 correctness judge, 1 call; elicited confidence, 1 call;
self-consistency over 5 samples, 5 calls). The signals are combined by a logistic
regression cross-fitted on two seeded folds (each fold scored by the model fitted on
the other); a signal that did not run enters it at the value its linear imputer
predicts from the signals that did. The policy accepts at `--threshold` (ignoring
missing evidence); a sweep over thresholds, and the plain mean, are printed too.

Then the cascade is run by the guard's own `score_cascade` on the same answers,
with signals that replay the recorded results: cheapest first, stopping once the
signals left cannot move the logistic output across the threshold. Calls per
question count every LLM call, the answer's own included. Both arms take the same
decision on every answer (the "same decisions" column); AUROC is that of the final
confidence.

Example:
    $ python benchmarks/cascade.py \\
        --data ../shared/data/squad_dev_v1.1.json --limit 200 --seed 0
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confguard.defaults import demo_signals
from confguard.evaluation import grade, load_squad
from confguard.evaluation.datasets import Dataset, EvalItem
from confguard.evaluation.defaults import default_pipeline
from confguard.evaluation.metrics import auroc
from confguard.evaluation.runner import GenerationCache
from confguard.guard import score_cascade
from confguard.llm.local import default_generator
from confguard.observation import Observation
from confguard.policy import Policy, decide
from confguard.policy.cascade import Cascade, skipped_by_cascade
from confguard.results import SignalResult
from confguard.scoring import assess
from confguard.scoring.aggregate import Combiner, mean
from confguard.scoring.calibration import LabelledSample, fit_logistic
from confguard.signals.base import DeclaredCost, Signal
from confguard.signals.consistency import GeneratorSampler, SelfConsistency
from confguard.signals.elicitation import ElicitedConfidence
from confguard.signals.judge import CORRECTNESS, Judge, RatingScale

KEYS = (
    "all_calls_per_q",
    "cascade_calls_per_q",
    "call_reduction",
    "all_auroc",
    "cascade_auroc",
)


def llm_signals() -> list[Signal]:
    """The three signals that call the local LLM."""
    generator = default_generator()
    sampler = GeneratorSampler(generator, k=5, temperature=0.7, seed=0)
    return [
        Judge(generator, CORRECTNESS, RatingScale(low=1, high=5)),
        ElicitedConfidence(generator),
        SelfConsistency(sampler=sampler),
    ]


class Replay:
    """A signal that returns a recorded result (the cascade decides whether it runs)."""

    def __init__(self, name: str, cost: DeclaredCost, result: SignalResult) -> None:
        self.name, self.cost, self.result = name, cost, result
        self.runs = 0

    def score(self, obs: Observation) -> SignalResult:
        self.runs += 1
        return self.result


class Records:
    """Signal results per (item, signal), appended to JSONL so a run can resume."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.seen = path, {}
        if path is not None and path.is_file():
            for line in path.read_text("utf-8").splitlines():
                entry = json.loads(line)
                result = SignalResult.model_validate(entry["result"])
                self.seen[(entry["item"], entry["signal"])] = result

    def get(self, item: str, signal: str) -> SignalResult | None:
        return self.seen.get((item, signal))

    def need(self, item: str, signal: str) -> SignalResult:
        return self.seen[(item, signal)]

    def put(self, item: str, result: SignalResult) -> None:
        self.seen[(item, result.name)] = result
        if self.path is not None:
            entry = {"item": item, "signal": result.name, "result": result.model_dump()}
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(entry, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    """numpy scalars and other odd values in `details`, made JSON-friendly."""
    return value.item() if hasattr(value, "item") else repr(value)


def answer_all(
    full: Dataset, items: Sequence[EvalItem], cache_dir: Path
) -> list[Observation]:
    """Generate (or load) the RAG answer of every item."""
    pipeline = default_pipeline(full, "retrieve", cache_dir)
    cache = GenerationCache.for_pipeline(cache_dir / "eval", pipeline)
    out, start = [], time.perf_counter()
    for i, item in enumerate(items, start=1):
        obs = cache.get(item)
        if obs is None:
            obs = pipeline.answer(item)
            cache.put(item, obs)
        out.append(obs)
        _progress("answers", i, len(items), start)
    return out


def score_everything(
    signals: Sequence[Signal],
    items: Sequence[EvalItem],
    observations: Sequence[Observation],
    records: Records,
) -> None:
    """Every signal on every answer, signal by signal (llama.cpp reuses prefixes)."""
    for signal in signals:
        start = time.perf_counter()
        for i, (item, obs) in enumerate(zip(items, observations, strict=True), 1):
            if records.get(item.id, signal.name) is None:
                records.put(item.id, signal.score(obs))
            _progress(signal.name, i, len(items), start)


def _progress(what: str, done: int, total: int, start: float) -> None:
    if done % 20 and done != total:
        return
    spent = time.perf_counter() - start
    eta = spent / done * (total - done)
    print(f"  {what:<20} {done:>4}/{total}  {spent:6.0f}s  eta {eta:5.0f}s", flush=True)


def folds(n: int, seed: int) -> list[int]:
    """A seeded assignment of n samples to two folds."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    fold = [0] * n
    for rank, i in enumerate(order):
        fold[i] = rank % 2
    return fold


def run_arm(
    signals: Sequence[Signal],
    results: Sequence[SignalResult],
    combiner: Combiner,
    policy: Policy,
) -> dict[str, Any]:
    """All signals vs the cascade on one answer: confidences, decisions, calls."""
    replays = [Replay(s.name, s.cost, r) for s, r in zip(signals, results, strict=True)]
    obs = Observation(question="(replayed)", answer="(replayed)")
    cut = score_cascade(Cascade(combiner, None, policy), replays, obs, None)
    full = assess(results, combiner)
    cascaded = assess(cut, combiner)
    return {
        "all_conf": full.confidence,
        "cascade_conf": cascaded.confidence,
        "all_action": decide(policy, full).action,
        "cascade_action": decide(policy, cascaded).action,
        "all_calls": 1 + sum(r.cost.llm_calls for r in results),
        "cascade_calls": 1 + sum(r.cost.llm_calls for r in cut),
        "skipped": skipped_by_cascade(cut),
    }


def compare(
    rows: Sequence[dict[str, Any]], correct: Sequence[bool]
) -> dict[str, float | None]:
    """Calls per question, call reduction and both AUROCs."""
    n = len(rows)
    all_calls = sum(r["all_calls"] for r in rows) / n
    cut_calls = sum(r["cascade_calls"] for r in rows) / n
    conf = [(r["all_conf"] or 0.0, r["cascade_conf"] or 0.0) for r in rows]
    return {
        "all_calls_per_q": round(all_calls, 3),
        "cascade_calls_per_q": round(cut_calls, 3),
        "call_reduction": round(1.0 - cut_calls / all_calls, 4),
        "all_auroc": _round(auroc([a for a, _ in conf], correct)),
        "cascade_auroc": _round(auroc([c for _, c in conf], correct)),
        "same_decisions": sum(r["all_action"] == r["cascade_action"] for r in rows) / n,
        "accepted": sum(r["all_action"] == "accept" for r in rows) / n,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def evaluate_arms(
    signals: Sequence[Signal],
    table: Sequence[Sequence[SignalResult]],
    correct: Sequence[bool],
    policy: Policy,
    seed: int,
) -> tuple[dict[str, float | None], dict[str, float | None], list[dict[str, Any]]]:
    """Cross-fitted logistic combiner, and the plain mean for reference."""
    samples = [
        LabelledSample(signals={r.name: r.confidence for r in rs}, correct=c)
        for rs, c in zip(table, correct, strict=True)
    ]
    fold = folds(len(samples), seed)
    fitted = [
        fit_logistic([s for s, f in zip(samples, fold, strict=True) if f != k])
        for k in (0, 1)
    ]
    rows = [
        run_arm(signals, rs, fitted[f], policy)
        for rs, f in zip(table, fold, strict=True)
    ]
    plain = [run_arm(signals, rs, mean(), policy) for rs in table]
    for k, model in enumerate(fitted):
        coefs = ", ".join(f"{n} {c:+.2f}" for n, c in model.coefficients.items())
        print(f"fold {k} logistic: intercept {model.intercept:+.2f}; {coefs}")
    return compare(rows, correct), compare(plain, correct), rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; the last line printed is one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="SQuAD-format JSON")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--cache-dir", type=Path, default=Path(".confguard"))
    parser.add_argument("--records", type=Path, help="JSONL of signal results (resume)")
    args = parser.parse_args(argv)

    full = load_squad(args.data)
    items = full.sample(args.limit, seed=args.seed).items
    print(f"{len(items)} questions of {args.data.name}, seed {args.seed}")
    observations = answer_all(full, items, args.cache_dir)
    correct = [
        grade(obs.answer, item.answers).correct
        for obs, item in zip(observations, items, strict=True)
    ]
    print(f"accuracy (F1 >= 0.5): {sum(correct) / len(correct):.3f}")

    signals = [*demo_signals(), *llm_signals()]
    records = Records(args.records)
    score_everything(signals, items, observations, records)
    table = [[records.need(i.id, s.name) for s in signals] for i in items]
    sweep(signals, table, correct, args.seed)
    print(f"\nat threshold {args.threshold}:")
    logistic, plain, rows = evaluate_arms(
        signals, table, correct, accept_at(args.threshold), args.seed
    )
    print_report(signals, table, correct, rows, logistic, plain)
    print(json.dumps({k: logistic[k] for k in KEYS}))
    return 0


def accept_at(threshold: float) -> Policy:
    """One accept threshold; missing evidence ignored; the cascade on."""
    return Policy.from_dict(
        {
            "thresholds": {"accept": threshold},
            "on_missing_evidence": "ignore",
            "cascade": True,
        }
    )


def sweep(
    signals: Sequence[Signal],
    table: Sequence[Sequence[SignalResult]],
    correct: Sequence[bool],
    seed: int,
) -> None:
    """Call reduction and AUROC change at several accept thresholds."""
    print(
        "\nthreshold  combiner  accepted  calls all -> cascade  reduction  AUROC change"
    )
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7):
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet):  # the fold coefficients, printed later
            logistic, plain, _ = evaluate_arms(
                signals, table, correct, accept_at(threshold), seed
            )
        for label, f in (("logistic", logistic), ("mean", plain)):
            change = (f["cascade_auroc"] or 0.0) - (f["all_auroc"] or 0.0)
            print(
                f"{threshold:>9.1f}  {label:<8}  {f['accepted']:>8.1%}  "
                f"{f['all_calls_per_q']:>9.2f} -> {f['cascade_calls_per_q']:<7.2f}  "
                f"{f['call_reduction']:>9.1%}  {change:+.3f}"
            )


def print_report(
    signals: Sequence[Signal],
    table: Sequence[Sequence[Any]],
    correct: Sequence[bool],
    rows: Sequence[dict[str, Any]],
    logistic: dict[str, float | None],
    plain: dict[str, float | None],
) -> None:
    """Per-signal AUROC and cost, how often each was skipped, and the two arms."""
    print("\nsignal                   calls/q  AUROC   ok   skipped by cascade")
    for j, signal in enumerate(signals):
        results = [rs[j] for rs in table]
        pairs = [
            (r.confidence, c) for r, c in zip(results, correct, strict=True) if r.ok
        ]
        value = auroc([p for p, _ in pairs], [c for _, c in pairs]) if pairs else None
        calls = sum(r.cost.llm_calls for r in results) / len(results)
        skipped = sum(signal.name in r["skipped"] for r in rows) / len(rows)
        shown = "  —  " if value is None else f"{value:.3f}"
        print(
            f"{signal.name:<24} {calls:>6.2f}  {shown}  {len(pairs):>4}  "
            f"{skipped:>6.1%}"
        )
    print("\ncombiner   arm        calls/q  AUROC   same decisions  accepted")
    for label, figures in (("logistic", logistic), ("mean", plain)):
        for arm in ("all", "cascade"):
            print(
                f"{label:<10} {arm:<9} {figures[f'{arm}_calls_per_q']:>7.2f}  "
                f"{figures[f'{arm}_auroc']:.3f}   {figures['same_decisions']:>8.1%}"
                f"      {figures['accepted']:.1%}"
            )
        print(f"{label:<10} reduction {figures['call_reduction']:.1%}")


if __name__ == "__main__":
    sys.exit(main())
