"""`confguard calibrate`: fit combiner, calibrator and a risk-controlled threshold."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confguard.cli.checks import (
    add_create_option,
    existing_store,
    fraction,
    output_file,
    output_folder,
)
from confguard.cli.command import Command
from confguard.cli.output import say
from confguard.exceptions import ConfigurationError, DatasetError

if TYPE_CHECKING:
    from confguard.config.load import LoadedConfig
    from confguard.embeddings.base import Embedder
    from confguard.evaluation import Calibrated
    from confguard.policy import Policy
    from confguard.scoring.calibration import LabelledSample
    from confguard.signals.history import LabelledCase


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Where the labels come from, the guarantee asked for, and what to fit."""
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--samples", type=Path, help="samples.jsonl or an eval folder")
    source.add_argument("--store", help="audit store URL: use the reviewers' verdicts")
    add_create_option(p)
    p.add_argument("--target-risk", type=fraction(), required=True)
    p.add_argument(
        "--stratum-risk",
        action="append",
        default=[],
        metavar="NAME=RISK",
        help="a named stratum's own target risk (repeatable; others: --target-risk)",
    )
    p.add_argument("--delta", type=fraction(), default=0.05)
    start = p.add_mutually_exclusive_group()
    start.add_argument(
        "--policy", help="the policy to start from (default: demo policy)"
    )
    start.add_argument(
        "--config",
        help="a guard config file or preset name (fast, balanced, thorough) to start "
        "from; --out is then the whole config with its policy calibrated",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="the file to write (default: policy.calibrated.yaml, or "
        "guard.calibrated.yaml with --config)",
    )
    p.add_argument("--combiner", choices=["logistic", "policy"], default="logistic")
    p.add_argument(
        "--calibrator", choices=["isotonic", "platt", "none"], default="isotonic"
    )
    p.add_argument(
        "--fit-fraction", type=fraction(), default=0.5, help="share fitted, in (0, 1)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cascade", action="store_true", help="turn the cascade on")
    p.add_argument(
        "--history",
        type=Path,
        help="also write a fresh History of the labelled questions to this folder",
    )
    p.add_argument(
        "--history-embedder",
        default="minilm",
        help="the registered embedder the --history is built with (default: minilm)",
    )


def run(args: argparse.Namespace) -> int:
    """Fit, certify and write the policy file (or the guard config).

    Example:
        $ confguard calibrate --samples ev --target-risk 0.1 --delta 0.05 \\
            --out policy.yaml
        $ confguard calibrate --samples ev --config fast --target-risk 0.6 \\
            --stratum-risk retrieved=0.5 --out fast.calibrated.yaml
    """
    from confguard.evaluation.calibrate import calibrate_policy
    from confguard.evaluation.targets import group_targets, parse_targets

    out = args.out or Path(
        "guard.calibrated.yaml" if args.config else "policy.calibrated.yaml"
    )
    output_file(out, "--out")
    stratum_risk = parse_targets(",".join(args.stratum_risk))
    embedder = _history_embedder(args)  # a missing model fails before any fit
    base, loaded = _base(args)
    group_targets(base, args.target_risk, stratum_risk)  # a typo before the labels
    samples, cases = _labelled(args)
    done = calibrate_policy(
        samples,
        base,
        target_risk=args.target_risk,
        delta=args.delta,
        stratum_risk=stratum_risk,
        combiner=args.combiner,
        calibrator=None if args.calibrator == "none" else args.calibrator,
        fit_fraction=args.fit_fraction,
        seed=args.seed,
        cascade=True if args.cascade else None,
    )
    written = _write(done, loaded, out)
    if done.fallback is not None:
        say(done.fallback.summary())
    if done.comparison is not None:
        say(done.comparison.summary())
    for line in _guarantees(done):
        say(line)
    say(
        f"fitted on {done.fitted_on} samples, certified on {done.certified_on}; "
        f"{written} written to {out}"
    )
    if embedder is not None:
        _write_history(cases, embedder, args.history)
    return 0


def _base(args: argparse.Namespace) -> tuple[Policy, LoadedConfig | None]:
    """The policy to start from, and the config it came from (with --config)."""
    from confguard.defaults import demo_policy
    from confguard.policy import Policy

    if args.config:
        from confguard.config.recalibrate import policy_to_calibrate

        return policy_to_calibrate(args.config)
    return (Policy.from_yaml(Path(args.policy)) if args.policy else demo_policy()), None


def _write(done: Calibrated, loaded: LoadedConfig | None, out: Path) -> str:
    """Write the policy, or the config with it; say which."""
    from confguard.evaluation.calibrate import write_policy

    if loaded is None:
        write_policy(done.policy, out)
        return "policy"
    from confguard.config.recalibrate import with_policy

    header = (
        f"{loaded.source}, its policy calibrated by `confguard calibrate`: fitted on "
        f"{done.fitted_on} labels, certified on {done.certified_on} "
        f"(delta {done.delta:g})"
    )
    out.write_text(with_policy(loaded, done.policy, header), encoding="utf-8")
    return f"guard config (from {loaded.source})"


def _history_embedder(args: argparse.Namespace) -> Embedder | None:
    if args.history is None:
        return None
    from confguard.embeddings import get_embedder

    output_folder(args.history, "--history")
    return get_embedder(args.history_embedder)


def _write_history(cases: list[LabelledCase], embedder: Embedder, folder: Path) -> None:
    from confguard.evaluation.calibrate import refit_history

    history = refit_history(cases, embedder, folder)
    say(
        f"history of {len(history)} cases ({history.correct} right) built with "
        f"{embedder.name!r} written to {folder}"
    )


def _labelled(
    args: argparse.Namespace,
) -> tuple[list[LabelledSample], list[LabelledCase]]:
    """The calibration samples and, for --history, the same answers' questions."""
    from confguard.evaluation.datasets import json_lines
    from confguard.scoring.calibration import labelled_from_store
    from confguard.signals.history import eval_cases, review_cases
    from confguard.store import SQLStore

    wanted = args.history is not None
    if args.store:
        with SQLStore(existing_store(args.store, create=args.create)) as store:
            cases = review_cases(store) if wanted else []
            return labelled_from_store(store), cases
    path: Path = args.samples
    path = path / "samples.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise ConfigurationError(f"--samples: no samples file at {path}")
    samples = [_labelled_line(path, n, data) for n, data in json_lines(path)]
    return samples, eval_cases(path) if wanted else []


def _labelled_line(path: Path, line: int, data: dict[str, Any]) -> LabelledSample:
    """One line of samples.jsonl as calibration data; errors name file, line, field."""
    from pydantic import ValidationError

    from confguard.evaluation.calibrate import sample_problem
    from confguard.evaluation.runner import EvalSample

    try:
        sample = EvalSample.model_validate(data).labelled()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise DatasetError(str(path), first["msg"], line=line, field=field) from None
    problem = sample_problem(sample)
    if problem is not None:
        raise DatasetError(str(path), problem[1], line=line, field=problem[0])
    return sample


def _guarantees(done: Calibrated) -> list[str]:
    """One line per group of requests: its guarantee, or what it got instead."""
    lines = []
    for group in done.groups:
        c = group.control
        if c is None:
            lines.append(group.summary())
            continue
        # done.delta, not c.delta: compared pairs and strata split the level.
        name = "" if len(done.groups) == 1 else f"{group.name}: "
        lines.append(
            f"{name}accept >= {c.threshold:.3f}: error rate among accepted answers "
            f"<= {c.target_risk:g} with probability >= {1 - done.delta:g} "
            f"(Clopper-Pearson bound {c.upper_bound:.3f}; {c.errors} errors in "
            f"{c.accepted} accepted of {c.n} test samples); expected coverage "
            f"{c.coverage:.1%}"
        )
    return lines


COMMAND = Command(
    "calibrate",
    "fit combiner, calibrator and a risk-controlled threshold",
    add_arguments,
    run,
)
