"""`confguard eval` and `confguard calibrate`: measure signals, then fit a policy.

Wire into the main command with ``add_commands(subparsers)``.

Example:
    $ confguard eval --dataset squad:dev.json --limit 200 --out eval-out
    $ confguard calibrate --samples eval-out --target-risk 0.1 --delta 0.05 \\
        --out policy.yaml
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from confguard.exceptions import ConfigurationError
from confguard.guard import Guard

console = Console(soft_wrap=True)  # messages stay whole, for logs and tests


def add_commands(subparsers: Any) -> None:
    """Register `eval` and `calibrate` on the main parser's subparsers.

    Example:
        >>> sub = parser.add_subparsers()
        >>> add_commands(sub)
    """
    _eval_parser(subparsers.add_parser("eval", help="measure every signal on data"))
    _calibrate_parser(
        subparsers.add_parser(
            "calibrate", help="fit combiner, calibrator and a risk-controlled threshold"
        )
    )


def _eval_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset", required=True, help="squad:PATH, conflicts:PATH, jsonl:PATH"
    )
    p.add_argument("--limit", type=int, help="evaluate N random items")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("confguard-eval"))
    p.add_argument("--cache-dir", type=Path, default=Path(".confguard"))
    p.add_argument("--policy", help="policy YAML (default: the demo policy)")
    p.add_argument(
        "--f1-threshold", type=float, default=0.5, help="F1 to count as right"
    )
    p.add_argument("--exact-match", action="store_true", help="require exact match")
    p.add_argument(
        "--contexts",
        choices=["retrieve", "given"],
        help="retrieve from all passages, or answer from each item's own "
        "(default: by dataset)",
    )
    p.add_argument(
        "--pipeline", help="MODULE:FACTORY, factory(whole dataset) -> pipeline"
    )
    p.add_argument("--guard", help="MODULE:FACTORY, factory() -> Guard")
    p.set_defaults(func=run_eval)


def _calibrate_parser(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--samples", type=Path, help="samples.jsonl or an eval folder")
    source.add_argument("--store", help="audit store URL: use the reviewers' verdicts")
    p.add_argument("--target-risk", type=float, required=True)
    p.add_argument("--delta", type=float, default=0.05)
    p.add_argument("--policy", help="the policy to start from (default: demo policy)")
    p.add_argument("--out", type=Path, default=Path("policy.calibrated.yaml"))
    p.add_argument("--combiner", choices=["logistic", "policy"], default="logistic")
    p.add_argument(
        "--calibrator", choices=["isotonic", "platt", "none"], default="isotonic"
    )
    p.add_argument("--fit-fraction", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cascade", action="store_true", help="turn the cascade on")
    p.set_defaults(func=run_calibrate)


# --- eval ----------------------------------------------------------------------------


def load_object(spec: str) -> Any:
    """The attribute named by ``module:attr`` (the module must be importable)."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ConfigurationError(f"expected MODULE:ATTRIBUTE, got {spec!r}")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot load {spec!r}: {exc}") from exc


@contextmanager
def progress_bars() -> Iterator[Callable[[str, int, int], None]]:
    """A `progress(stage, done, total)` callback drawing one bar per stage, with ETA."""
    bars = Progress(
        TextColumn("{task.description:<11}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
    )
    tasks: dict[str, Any] = {}

    def advance(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    with bars:
        yield advance


def _rule(args: argparse.Namespace) -> Any:
    from confguard.evaluation import ExactMatch, F1AtLeast

    return ExactMatch() if args.exact_match else F1AtLeast(args.f1_threshold)


def _setup(args: argparse.Namespace, dataset: Any, advance: Any) -> tuple[Any, Guard]:
    from confguard.evaluation.defaults import (
        Contexts,
        default_guard,
        default_pipeline,
    )
    from confguard.evaluation.runner import ItemPipeline, QuestionPipeline
    from confguard.policy import Policy

    contexts: Contexts = args.contexts or (
        "retrieve" if dataset.shared_corpus else "given"
    )
    if args.guard:
        guard = load_object(args.guard)
        guard = guard() if not isinstance(guard, Guard) else guard
    else:
        policy = Policy.from_yaml(Path(args.policy)) if args.policy else None
        guard = default_guard(policy, contexts)
    if args.pipeline:
        pipeline = load_object(args.pipeline)(dataset)
        if not isinstance(pipeline, ItemPipeline):
            pipeline = QuestionPipeline(pipeline, key=args.pipeline)
    else:

        def indexing(done: int, total: int) -> None:
            advance("indexing", done, total)

        pipeline = default_pipeline(dataset, contexts, args.cache_dir, indexing)
    return pipeline, guard


def run_eval(args: argparse.Namespace) -> int:
    """`confguard eval`: evaluate, write the report folder, print the table."""
    from confguard.evaluation import load_dataset
    from confguard.evaluation.report import write_report
    from confguard.evaluation.runner import GenerationCache, evaluate

    full = load_dataset(args.dataset)
    dataset = full.sample(args.limit, seed=args.seed)
    with progress_bars() as advance:
        pipeline, guard = _setup(args, full, advance)  # the corpus: every passage
        cache = GenerationCache.for_pipeline(args.cache_dir / "eval", pipeline)
        run = evaluate(
            dataset, pipeline, guard, rule=_rule(args), cache=cache, progress=advance
        )
    metrics = write_report(run, args.out)
    console.print(_metrics_table(metrics))
    p = metrics.policy
    risk = "—" if p.risk is None else f"{p.risk:.3f}"
    console.print(
        f"n {metrics.n}, accuracy {metrics.accuracy:.3f}; policy coverage "
        f"{p.coverage:.3f}, risk {risk}"
    )
    console.print(f"report: {args.out / 'report.md'}")
    return 0


def _metrics_table(metrics: Any) -> Table:
    table = Table("score", "n", "AUROC", "AUPRC", "AURC", "ECE", "Brier")
    rows = {"final": metrics.final, **metrics.signals}
    for name, m in rows.items():
        table.add_row(
            name,
            str(m.n),
            *(_fmt(v) for v in (m.auroc, m.auprc, m.aurc, m.ece, m.brier)),
        )
    return table


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


# --- calibrate -------------------------------------------------------------------


def _labelled(args: argparse.Namespace) -> list[Any]:
    from confguard.evaluation.report import read_samples
    from confguard.scoring.calibration import labelled_from_store
    from confguard.store import SQLStore

    if args.store:
        return labelled_from_store(SQLStore(args.store))
    path: Path = args.samples
    path = path / "samples.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise ConfigurationError(f"no samples file at {path}")
    return [s.labelled() for s in read_samples(path)]


def run_calibrate(args: argparse.Namespace) -> int:
    """`confguard calibrate`: fit, certify and write the policy file."""
    from confguard.demo import demo_policy
    from confguard.evaluation.calibrate import calibrate_policy, write_policy
    from confguard.policy import Policy

    base = Policy.from_yaml(Path(args.policy)) if args.policy else demo_policy()
    done = calibrate_policy(
        _labelled(args),
        base,
        target_risk=args.target_risk,
        delta=args.delta,
        combiner=args.combiner,
        calibrator=None if args.calibrator == "none" else args.calibrator,
        fit_fraction=args.fit_fraction,
        seed=args.seed,
        cascade=True if args.cascade else None,
    )
    write_policy(done.policy, args.out)
    c = done.control
    console.print(
        f"accept >= {c.threshold:.3f}: error rate among accepted answers <= "
        f"{c.target_risk:g} with probability >= {1 - c.delta:g} (Clopper-Pearson "
        f"bound {c.upper_bound:.3f}; {c.errors} errors in {c.accepted} accepted of "
        f"{c.n} test samples); expected coverage {c.coverage:.1%}"
    )
    console.print(
        f"fitted on {done.fitted_on} samples, certified on {done.certified_on}; "
        f"policy written to {args.out}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m confguard.cli_eval eval|calibrate ...`: the `confguard` command.

    Example:
        >>> main(["eval", "--dataset", "jsonl:questions.jsonl", "--limit", "5"])
        0
    """
    from confguard.cli import main as confguard_main  # cli imports this module

    return confguard_main(argv)


__all__ = [
    "add_commands",
    "load_object",
    "main",
    "progress_bars",
    "run_calibrate",
    "run_eval",
]


if __name__ == "__main__":
    sys.exit(main())
