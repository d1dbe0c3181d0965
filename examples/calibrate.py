"""Calibrate a guard on your own labelled answers, with a guarantee on its threshold.

Reads the samples of a `confguard eval` run (every signal's confidence and whether
the answer was right), then:

1. fits a logistic combiner and an isotonic calibrator on half of them and shows
   how calibration error drops on the other half;
2. certifies the lowest accept threshold whose error rate among accepted answers is
   at most the target, with probability 1 - delta (Learn-then-Test, Clopper-Pearson),
   or prints how many labelled samples that would take;
3. writes the fitted policy and guards an answer with it.

    confguard eval --dataset squad:squad_dev_v1.1.json --limit 200
    python examples/calibrate.py confguard-eval --target-risk 0.3

Without an eval folder it runs on synthetic labels (printed as such), so it always
runs offline in a second.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from confguard.evaluation.calibrate import calibrate_policy, split, write_policy
from confguard.evaluation.metrics import auroc, ece
from confguard.evaluation.report import read_samples
from confguard.exceptions import CalibrationError
from confguard.policy import Policy
from confguard.scoring.calibration import (
    LabelledSample,
    combined,
    fit_isotonic,
    fit_logistic,
)


def synthetic(n: int = 1500, seed: int = 0) -> list[LabelledSample]:
    """Two overconfident signals, one informative, one mostly noise."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        right = rng.random() < 0.45
        token = min(1.0, max(0.0, rng.gauss(0.85 if right else 0.6, 0.12)))
        judge = min(1.0, max(0.0, rng.gauss(0.6 if right else 0.5, 0.2)))
        out.append(
            LabelledSample(signals={"token": token, "judge": judge}, correct=right)
        )
    return out


def load(folder: Path | None) -> list[LabelledSample]:
    """The labelled samples of an eval run, or synthetic ones."""
    path = None if folder is None else folder / "samples.jsonl"
    if path is None or not path.is_file():
        print("no eval folder given (or no samples.jsonl in it): synthetic labels\n")
        return synthetic()
    samples = [s.labelled() for s in read_samples(path)]
    print(f"{len(samples)} labelled answers from {path}\n")
    return samples


def show_calibration(samples: list[LabelledSample]) -> None:
    """Fit on one half, measure on the other."""
    fit, held = split(samples, 0.5, seed=0)
    combiner = fit_logistic(fit)
    calibrator = fit_isotonic(combined(fit, combiner), [s.correct for s in fit])
    raw = combined(held, combiner)
    kept = [(r, s.correct) for r, s in zip(raw, held, strict=True) if r is not None]
    scores, right = [r for r, _ in kept], [c for _, c in kept]
    calibrated = [calibrator.calibrate(r) for r in scores]
    print(f"held-out AUROC of the logistic combination: {auroc(scores, right):.3f}")
    print(f"ECE before calibration: {ece(scores, right):.3f}")
    print(f"ECE after isotonic calibration: {ece(calibrated, right):.3f}\n")


def main() -> None:
    """Load, calibrate, certify, write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", help="a confguard eval folder")
    parser.add_argument("--target-risk", type=float, default=0.1)
    parser.add_argument("--delta", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=Path("policy.calibrated.yaml"))
    args = parser.parse_args()

    samples = load(args.folder)
    show_calibration(samples)
    base = Policy.from_dict(
        {"thresholds": {"accept": 0.8}, "on_missing_evidence": "ignore"}
    )
    try:
        done = calibrate_policy(
            samples, base, target_risk=args.target_risk, delta=args.delta
        )
    except CalibrationError as refusal:
        print(f"no guarantee: {refusal}")
        return
    c = done.control
    assert c is not None  # without strata the one threshold is certified or refused
    print(
        f"accept at confidence >= {c.threshold:.3f}: the error rate among accepted "
        f"answers is <= {c.target_risk:g} with probability >= {1 - done.delta:g}\n"
        f"  (bound {c.upper_bound:.3f} from {c.errors} errors in {c.accepted} "
        f"accepted test answers; expected coverage {c.coverage:.0%})"
    )
    write_policy(done.policy, args.out)
    print(f"policy written to {args.out}; load it with Policy.from_yaml")


if __name__ == "__main__":
    main()
