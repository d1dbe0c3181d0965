"""Does a refit's certificate hold on answers it never saw, stratum by stratum?

Reads the labelled answers of one or more `confguard eval` runs (their
samples.jsonl), splits them in two (seeded), and runs `calibrate_policy` on the
first half from a preset's policy twice: as shipped, with its strata (a threshold
per stratum, `confguard.evaluation.groups`), and with its strata removed (one
threshold for every request). Each refitted policy then decides the second half
(`confguard.evaluation.replay`), and the error among accepted answers is counted in
each of the preset's groups of requests.

    python benchmarks/refit_strata.py --samples EVAL_DIR [EVAL_DIR ...] \\
        [--preset fast] [--target-risk 0.5] [--stratum-risk retrieved=0.45] \\
        [--delta 0.1] [--seed 0] [--combiner logistic|policy] \\
        [--calibrator isotonic|platt|none]

`--stratum-risk` gives a named stratum its own target in the "strata" refit (the
"pooled" one has no strata). `--combiner policy --calibrator isotonic` refits the
calibrator only, as a user recalibrating a preset on labels of their own domain
would (`confguard calibrate` takes the same choices).

Last line: {"n_calibrate", "n_test", "target_risk", "stratum_risk", "delta",
"combiner", "calibrator", "shipped": {...}, "strata": {...}, "pooled": {...}}.
"shipped" is the preset's policy as shipped (its own certificates, not refitted):
"test" (per group: answers, accepted, risk, coverage) and "ranking" (AUROC, ECE
and Brier score of the final confidence over the whole second half). Each of
"strata" and "pooled" holds "kept" (the fitted pair or the current one),
"certified" (one entry per group: threshold, target_risk, upper_bound, held_out,
or the outcome and why), "test" and "ranking"; or "refused" (why none
certifies).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from confguard import Policy
from confguard.config import load
from confguard.config.presets import preset_path
from confguard.evaluation.calibrate import Calibrated, calibrate_policy, final_scores
from confguard.evaluation.datasets import json_lines
from confguard.evaluation.groups import grouped
from confguard.evaluation.metrics import auroc, brier, ece
from confguard.evaluation.replay import replay
from confguard.evaluation.runner import EvalSample
from confguard.evaluation.targets import parse_targets
from confguard.exceptions import CalibrationError
from confguard.scoring.calibration import LabelledSample


def read_samples(folders: list[Path]) -> list[LabelledSample]:
    """Every labelled answer, once per item id (runs with other seeds overlap)."""
    found: dict[str, LabelledSample] = {}
    for folder in folders:
        for _, data in json_lines(folder / "samples.jsonl"):
            sample = EvalSample.model_validate(data)
            found.setdefault(f"{folder.name}:{sample.id}", sample.labelled())
    return list(found.values())


def halves(
    samples: list[LabelledSample], seed: int
) -> tuple[list[LabelledSample], list[LabelledSample]]:
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    cut = len(order) // 2
    return [samples[i] for i in order[:cut]], [samples[i] for i in order[cut:]]


def certified(done: Calibrated) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group in done.groups:
        c = group.control
        out[group.group] = (
            {"outcome": group.outcome, "why": group.why}
            if c is None
            else {
                "threshold": c.threshold,
                "target_risk": c.target_risk,
                "upper_bound": round(c.upper_bound, 4),
                "held_out": group.held_out,
            }
        )
    return out


def tested(policy: Policy, test: list[LabelledSample], base: Policy) -> dict[str, Any]:
    """The second half's figures in the base policy's groups (the pooled policy has
    none of its own)."""
    got = replay(policy, test, grouped(base, test))
    return {
        r.group: {
            "answers": r.answers,
            "accepted": r.accepted,
            "risk": None if r.risk is None else round(r.risk, 4),
            "coverage": None if r.coverage is None else round(r.coverage, 4),
        }
        for r in got
    }


def ranking(policy: Policy, test: list[LabelledSample]) -> dict[str, Any]:
    """AUROC, ECE and Brier of the policy's final confidence on the second half (an
    answer the guard would never accept scores 0)."""
    scores = final_scores(test, policy.build_combiner(), policy.calibrator, policy)
    conf = [0.0 if s is None else s for s in scores]
    correct = [s.correct for s in test]
    found = auroc(conf, correct)
    return {
        "auroc": None if found is None else round(found, 4),
        "ece": round(ece(conf, correct), 4),
        "brier": round(brier(conf, correct), 4),
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=Path, nargs="+", required=True)
    p.add_argument("--preset", default="fast")
    p.add_argument("--target-risk", type=float, default=0.5)
    p.add_argument("--stratum-risk", action="append", default=[], metavar="NAME=RISK")
    p.add_argument("--delta", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--combiner", choices=["logistic", "policy"], default="logistic")
    p.add_argument(
        "--calibrator", choices=["isotonic", "platt", "none"], default="isotonic"
    )
    args = p.parse_args(argv)
    fits: dict[str, Any] = {
        "combiner": args.combiner,
        "calibrator": None if args.calibrator == "none" else args.calibrator,
    }
    own = parse_targets(",".join(args.stratum_risk))
    base = Policy.from_dict(dict(load(preset_path(args.preset)).config.policy))
    flat = Policy.from_dict(base.to_dict() | {"strata": []})
    calibrate, test = halves(read_samples(args.samples), args.seed)
    result: dict[str, Any] = {
        "n_calibrate": len(calibrate),
        "n_test": len(test),
        "target_risk": args.target_risk,
        "stratum_risk": own,
        "delta": args.delta,
        "combiner": args.combiner,
        "calibrator": args.calibrator,
    }
    # The preset as shipped, on the same unseen half: does its own certificate hold?
    result["shipped"] = {
        "test": tested(base, test, base),
        "ranking": ranking(base, test),
    }
    for name, policy in (("strata", base), ("pooled", flat)):
        try:
            done = calibrate_policy(
                calibrate, policy, target_risk=args.target_risk, delta=args.delta,
                stratum_risk=own if policy.strata else None, seed=args.seed,
                **fits,
            )  # fmt: skip
        except CalibrationError as exc:
            result[name] = {"refused": str(exc)}
            print(name, json.dumps(result[name]), flush=True)
            continue
        result[name] = {
            "kept": None if done.comparison is None else done.comparison.kept,
            "certified": certified(done),
            "test": tested(done.policy, test, base),
            "ranking": ranking(done.policy, test),
        }
        print(name, json.dumps(result[name]), flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
