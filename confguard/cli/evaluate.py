"""`confguard eval`: measure every signal on a dataset, write the report folder."""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from confguard.cli.checks import at_least, fraction, output_folder
from confguard.cli.command import Command
from confguard.cli.output import Advance, progress_bars, say, show
from confguard.exceptions import ConfigurationError
from confguard.guard import Guard

if TYPE_CHECKING:
    from collections.abc import Callable

    from confguard.evaluation import Correctness, Dataset, EvalMetrics, ItemPipeline
    from confguard.evaluation.defaults import Contexts
    from confguard.evaluation.report import ScoreMetrics
    from confguard.policy import Policy


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The dataset, the grading rule, and the pipeline and guard to evaluate."""
    p.add_argument(
        "--dataset", required=True, help="squad:PATH, conflicts:PATH, jsonl:PATH"
    )
    p.add_argument("--limit", type=at_least(1), help="evaluate N random items")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("confguard-eval"))
    p.add_argument("--cache-dir", type=Path, default=Path(".confguard"))
    p.add_argument(
        "--policy",
        help="policy YAML (default: the demo policy); with --guard, passed to the "
        "factory as policy=",
    )
    p.add_argument(
        "--f1-threshold",
        type=fraction(one=True),
        default=0.5,
        help="F1 to count as right, in (0, 1]",
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
    p.add_argument(
        "--guard", help="MODULE:FACTORY, factory() -> Guard (factory(policy=...))"
    )
    p.add_argument(
        "--preset",
        choices=["fast", "balanced", "thorough"],
        help="score and answer with a shipped preset (docs/presets.md); default: "
        "the demo's five cheap signals under the demo policy",
    )
    p.add_argument("--config", help="score and answer with a guard config file")


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the report folder, print the table.

    Example:
        $ confguard eval --dataset squad:path/to/squad.json --limit 200 --out ev
    """
    from confguard.evaluation import evaluate, load_dataset, write_report
    from confguard.evaluation.runner import GenerationCache
    from confguard.policy import Policy

    output_folder(args.out, "--out")
    output_folder(args.cache_dir, "--cache-dir")
    policy = Policy.from_yaml(Path(args.policy)) if args.policy else None
    _check_preset_options(args)
    full = load_dataset(args.dataset)
    dataset = full.sample(args.limit, seed=args.seed)
    guard = _guard(args, policy, full)
    with progress_bars() as advance:
        pipeline = _pipeline(args, full, advance)  # the corpus: every passage
        cache = GenerationCache.for_pipeline(args.cache_dir / "eval", pipeline)
        done = evaluate(
            dataset, pipeline, guard, rule=_rule(args), cache=cache, progress=advance
        )
    metrics = write_report(done, args.out)
    show(_metrics_table(metrics))
    say(_summary(metrics))
    say(f"report: {args.out / 'report.md'}")
    return 0


def load_object(spec: str) -> Any:
    """The attribute named by ``module:attr`` (the module must be importable).

    Example:
        >>> load_object("confguard.defaults:demo_policy")().thresholds.accept
        0.7
    """
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ConfigurationError(f"expected MODULE:ATTRIBUTE, got {spec!r}")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot load {spec!r}: {exc}") from exc


def _rule(args: argparse.Namespace) -> Correctness:
    from confguard.evaluation import ExactMatch, F1AtLeast

    return ExactMatch() if args.exact_match else F1AtLeast(args.f1_threshold)


def _contexts(args: argparse.Namespace, dataset: Dataset) -> Contexts:
    if args.contexts is not None:
        chosen: Contexts = args.contexts
        return chosen
    return "retrieve" if dataset.shared_corpus else "given"


def _source(args: argparse.Namespace) -> str | None:
    source: str | None = args.config or args.preset
    return source


def _check_preset_options(args: argparse.Namespace) -> None:
    given = [o for o in ("preset", "config", "guard") if getattr(args, o)]
    if len(given) > 1:
        raise ConfigurationError(
            f"--{given[0]} and --{given[1]} both name the guard; give one"
        )
    if _source(args) and args.policy:
        what = "--config" if args.config else "--preset"
        raise ConfigurationError(
            f"{what} carries its own policy; --policy cannot replace it"
        )


def _guard(args: argparse.Namespace, policy: Policy | None, dataset: Dataset) -> Guard:
    from confguard.evaluation.defaults import default_guard

    source = _source(args)
    if source:
        from confguard.presets import preset_guard
        from confguard.store import InMemoryStore

        return preset_guard(source, store=InMemoryStore())
    if not args.guard:
        return default_guard(policy, _contexts(args, dataset))
    made = _loaded("--guard", args.guard)
    if isinstance(made, Guard):
        if policy is not None:
            raise ConfigurationError(
                f"--policy: --guard {args.guard} is a Guard built with its own "
                "policy; give a factory taking policy=, or drop --policy"
            )
        return made
    kwargs = {} if policy is None else {"policy": policy}
    guard = _called("--guard", args.guard, made, **kwargs)
    if not isinstance(guard, Guard):
        raise ConfigurationError(
            f"--guard {args.guard}: the factory returned a {type(guard).__name__}, "
            "not a Guard"
        )
    return guard


def _loaded(option: str, spec: str) -> Any:
    try:
        return load_object(spec)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{option}: {exc}") from None


def _called(option: str, spec: str, factory: Any, *args: Any, **kwargs: Any) -> Any:
    """factory(*args, **kwargs), refused first if it cannot be called that way."""
    if not callable(factory):
        raise ConfigurationError(
            f"{option} {spec}: not callable (a value of type "
            f"{type(factory).__name__}); expected a factory"
        )
    try:
        inspect.signature(factory).bind(*args, **kwargs)
    except ValueError:
        pass  # no signature to read (a builtin): the call itself will tell
    except TypeError as exc:
        unwanted = "policy" in kwargs and "'policy'" in str(exc)
        hint = "; it takes no policy=, so --policy cannot be applied"
        raise ConfigurationError(
            f"{option} {spec}: {exc}{hint if unwanted else ''}"
        ) from None
    return factory(*args, **kwargs)


def _pipeline(
    args: argparse.Namespace, dataset: Dataset, advance: Advance
) -> ItemPipeline:
    from confguard.evaluation.defaults import default_pipeline
    from confguard.evaluation.runner import ItemPipeline, QuestionPipeline

    if args.pipeline:
        factory = _loaded("--pipeline", args.pipeline)
        pipeline = _called("--pipeline", args.pipeline, factory, dataset)
        if isinstance(pipeline, ItemPipeline):
            return pipeline
        return QuestionPipeline(pipeline, key=args.pipeline)

    def indexing(done: int, total: int) -> None:
        advance("indexing", done, total)

    contexts = _contexts(args, dataset)
    source = _source(args)
    if source:
        return _preset_pipeline(source, dataset, contexts, args.cache_dir, indexing)
    return default_pipeline(dataset, contexts, args.cache_dir, indexing)


def _preset_pipeline(
    source: str,
    dataset: Dataset,
    contexts: Contexts,
    cache_dir: Path,
    indexing: Callable[[int, int], None],
) -> ItemPipeline:
    """The config's pipeline over the dataset's passages (or its given ones)."""
    from confguard.config import load
    from confguard.evaluation.defaults import corpus_folder, default_pipeline
    from confguard.evaluation.runner import QuestionPipeline
    from confguard.llm.local import default_generator
    from confguard.presets import build_pipeline

    if contexts == "given":
        return default_pipeline(dataset, contexts, cache_dir, indexing)
    config = load(source).config
    folder = corpus_folder(cache_dir, dataset)
    rag = build_pipeline(
        config, dataset.passages(), folder, default_generator(), indexing
    )
    section = config.pipeline.model_dump_json() if config.pipeline else "default"
    digest = hashlib.sha256(section.encode("utf-8")).hexdigest()[:12]
    return QuestionPipeline(rag, key=f"preset-{digest}")


def _metrics_table(metrics: EvalMetrics) -> Table:
    table = Table("score", "n", "AUROC", "AUPRC", "AURC", "ECE", "Brier")
    rows: dict[str, ScoreMetrics] = {"final": metrics.final, **metrics.signals}
    for name, m in rows.items():
        table.add_row(
            name,
            str(m.n),
            *(_fmt(v) for v in (m.auroc, m.auprc, m.aurc, m.ece, m.brier)),
        )
    return table


def _summary(metrics: EvalMetrics) -> str:
    p = metrics.policy
    return (
        f"n {metrics.n}, accuracy {metrics.accuracy:.3f}; policy coverage "
        f"{p.coverage:.3f}, risk {_fmt(p.risk)}"
    )


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


COMMAND = Command("eval", "measure every signal on data", add_arguments, run)
