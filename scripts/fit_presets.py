"""Fit the shipped presets (`fast`, `balanced`, `thorough`) on the dev data only.

Seeded and replayable: the model calls come from the record `preset_calls.py` made
(run it first with the same --limit/--seed). The questions of each dev file are
split once by a hash of the question id: 30% are held out for
`benchmarks/presets.py` and never read here. Of the rest, a seeded half fits and
half certifies. Every tuned choice is made by 5-fold cross-validation on the fitting
part, grouped by question:
- Confident RAG's selector (features and regularisation; SQuAD, retrieval); the
  answers everything below is fitted and certified on are picked cross-fitted
  (each question by the selector refitted without its fold),
- RCR's plausibility centre and scale and its trust floor,
- each preset's signals (greedy forward selection by cross-validated AUROC) and the
  logistic combiner's regularisation,
- the calibrator (none, Platt or isotonic, fitted on out-of-fold combined
  confidences),
- each stratum's target risk alpha (the smallest on the grid whose out-of-fold
  coverage in that stratum is at least MIN_COVERAGE).
The target risk is chosen, and the threshold certified by Learn-then-Test on the
certification part, for each stratum apart (requests with retrieval scores, SQuAD
here; the rest, the conflicts; delta split between them): the retrieved ones get a
policy stratum of their own, the rest the policy's thresholds, each with its own
guarantee.

    python scripts/fit_presets.py --squad ../shared/data/squad_dev_v1.1.json \\
        --conflicts ../shared/data/knowledge_conflicts_dev.jsonl \\
        --squad-limit 400 --conflicts-limit 350 --seed 0 --work .confguard/presets
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from preset_data import (
    DEFAULT_EMBEDDERS,
    SAMPLES_K,
    SAMPLES_SEED,
    SAMPLES_T,
    load_items,
    open_run,
    split_of,
)
from preset_features import (
    CONSISTENCY,
    RCR_NAME,
    TOKEN,
    Answer,
    Candidates,
    answer_of,
    candidates_of,
    cheap_signals,
    consistency_signals,
    fast_observation,
    rcr_result,
    selected_observation,
)

from confguard.evaluation.metrics import auroc, ece
from confguard.policy import Policy
from confguard.rag.selection import (
    EVIDENCE_FEATURES,
    TOKEN_FEATURES,
    ByMetric,
    FittedSelector,
    Selector,
)
from confguard.scoring.calibration import (
    LabelledSample,
    fit_calibrator,
    fit_logistic,
)
from confguard.scoring.stratified import StratifiedCombiner, signal_ok
from confguard.scoring.thresholds import choose_threshold

FOLDS = 5
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)
ALPHAS = (
    *(0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7),
    *(0.75, 0.8),
)
CERT_FRACTION = 0.5
DELTA = 0.1
MIN_COVERAGE = 0.3
RCR_CENTERS = (-2.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0)
RCR_SCALES = (0.5, 1.0, 2.0, 4.0)
RCR_TRUSTS = (0.2, 0.35, 0.5)
PRESET_DIR = Path(__file__).resolve().parents[1] / "confguard" / "data" / "presets"

CHEAP = (*TOKEN, "retrieval", "answer_support")
POOLS: dict[str, tuple[str, ...]] = {
    "fast": CHEAP,
    "balanced": (*CHEAP, "multi_embedding_agreement", RCR_NAME),
    "thorough": (*CHEAP, "multi_embedding_agreement", RCR_NAME, *CONSISTENCY),
}


START: dict[str, tuple[str, ...]] = {"thorough": ("perplexity_consistency",)}
"""Signals a preset always weighs (its defining evidence); the rest are selected."""


# --- folds ----------------------------------------------------------------------


def folds_of(groups: Sequence[str], seed: int) -> list[int]:
    """A fold number per row; rows of one question share a fold."""
    keys = sorted(set(groups))
    random.Random(seed).shuffle(keys)
    fold = {k: i % FOLDS for i, k in enumerate(keys)}
    return [fold[g] for g in groups]


# --- Confident RAG's selector -------------------------------------------------------


def selector_rows(found: Sequence[Candidates], names: Sequence[str]) -> np.ndarray:
    return np.array(
        [[row.get(n, 0.0) for n in names] for c in found for row in c.features]
    )


def fit_selector(
    found: Sequence[Candidates], names: Sequence[str], c: float
) -> FittedSelector:
    """A logistic model of candidate correctness over `names`, as a selector."""
    from sklearn.linear_model import LogisticRegression

    x = selector_rows(found, names)
    y = np.array([v for f in found for v in f.correct], dtype=int)
    means = np.nan_to_num(np.nanmean(x, axis=0))
    x = np.where(np.isnan(x), means, x)  # a metric that could not run: its mean
    scales = x.std(axis=0)
    scales[scales == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=2000).fit((x - means) / scales, y)
    return FittedSelector(
        {n: float(w) for n, w in zip(names, model.coef_[0], strict=True)},
        intercept=float(model.intercept_[0]),
        means={n: float(m) for n, m in zip(names, means, strict=True)},
        scales={n: float(s) for n, s in zip(names, scales, strict=True)},
    )


def selection_em(
    found: Sequence[Candidates], selector: Selector | Mapping[str, Selector]
) -> float:
    """EM of the picks of one selector, or of each question's own (by item id)."""
    picks = []
    for f in found:
        chosen = selector[f.item.id] if isinstance(selector, Mapping) else selector
        picks.append(f.exact[chosen.select(f.item.question, f.candidates)])
    return float(np.mean(picks))


def selector_sets(embedders: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The feature sets a selector is chosen among."""
    priors = tuple(f"embedder:{e}" for e in embedders)
    return {
        "token": TOKEN_FEATURES,
        "token+agreement": (*TOKEN_FEATURES, "agreement", "empty"),
        "all": (*TOKEN_FEATURES, *EVIDENCE_FEATURES),
        "all+embedder": (*TOKEN_FEATURES, *EVIDENCE_FEATURES, *priors),
    }


def choose_selector(
    found: Sequence[Candidates], embedders: Sequence[str], seed: int
) -> tuple[FittedSelector, dict[str, Any]]:
    """Feature set and C by grouped CV on selection EM; refit on all of `found`."""
    sets = selector_sets(embedders)
    folds = folds_of([f.item.id for f in found], seed)
    scores: dict[tuple[str, float], float] = {}
    for label, names in sets.items():
        for c in C_GRID:
            ems = []
            for k in range(FOLDS):
                train = [f for f, g in zip(found, folds, strict=True) if g != k]
                test = [f for f, g in zip(found, folds, strict=True) if g == k]
                ems.append(selection_em(test, fit_selector(train, names, c)))
            scores[(label, c)] = float(np.mean(ems))
    (label, c), best = max(scores.items(), key=lambda kv: kv[1])
    report = {
        "features": label,
        "C": c,
        "cv_em": round(best, 4),
        "cv_em_by_metric": round(selection_em(found, ByMetric()), 4),
    }
    return fit_selector(found, sets[label], c), report


def cross_fitted(
    found: Sequence[Candidates], names: Sequence[str], c: float, seed: int
) -> dict[str, FittedSelector]:
    """For each question, the selector over `names` at `c` refitted without that
    question's fold.

    The answers the combiner, the calibrator and the certificate are fitted on must
    be picked as a question the selector never saw is picked: selected in-sample,
    a flexible selector's pick is right more often than its features say, and the
    certificate would be made on answers unlike the ones it gates. (With the
    strongly regularised token-only selector cross-validation has chosen so far,
    the picks barely differ: the header's `em_in_sample` and `em_cross_fitted`.)
    """
    folds = folds_of([f.item.id for f in found], seed)
    out: dict[str, FittedSelector] = {}
    for k in range(FOLDS):
        train = [f for f, g in zip(found, folds, strict=True) if g != k]
        selector = fit_selector(train, names, c)
        out.update(
            {f.item.id: selector for f, g in zip(found, folds, strict=True) if g == k}
        )
    return out


# --- RCR's parameters ------------------------------------------------------------


def choose_rcr(answers: Sequence[Answer], seed: int) -> tuple[dict[str, float], dict]:
    """Centre and scale by grouped-CV AUROC of RCR's confidence; trust floor by
    the CV gap in accuracy between answers it flags and answers it does not."""
    folds = folds_of([a.group for a in answers], seed)
    grid = [(c, s) for c in RCR_CENTERS for s in RCR_SCALES]
    labels = np.array([a.correct for a in answers])

    def conf(params: tuple[float, float], t: float = 0.5) -> list[float | None]:
        out = []
        for a in answers:
            r = rcr_result(a, params[0], params[1], t)
            out.append(r.confidence if r.ok else None)
        return out

    table = {p: conf(p) for p in grid}

    def auc_on(idx: Sequence[int], values: list[float | None]) -> float:
        ran = [i for i in idx if values[i] is not None]  # RCR not ok: no evidence
        got = auroc([values[i] for i in ran], [bool(labels[i]) for i in ran])
        return -1.0 if got is None else got

    cv = []
    for k in range(FOLDS):
        train = [i for i, g in enumerate(folds) if g != k]
        test = [i for i, g in enumerate(folds) if g == k]
        best = max(grid, key=lambda p: auc_on(train, table[p]))
        cv.append(auc_on(test, table[best]))
    center, scale = max(grid, key=lambda p: auc_on(range(len(answers)), table[p]))

    def gap(t: float, idx: Sequence[int]) -> float:
        flags = [
            bool(rcr_result(answers[i], center, scale, t).details.get("conflict"))
            for i in idx
        ]
        hit = [labels[i] for i, f in zip(idx, flags, strict=True) if f]
        miss = [labels[i] for i, f in zip(idx, flags, strict=True) if not f]
        if len(hit) < 5 or not miss:
            return -1.0
        return float(np.mean(miss) - np.mean(hit))

    min_trust = max(RCR_TRUSTS, key=lambda t: gap(t, range(len(answers))))
    report = {
        "center": center,
        "scale": scale,
        "min_trust": min_trust,
        "cv_auroc": round(float(np.mean(cv)), 4),
        "accuracy_gap_flagged": round(gap(min_trust, range(len(answers))), 4),
    }
    return {"center": center, "scale": scale, "min_trust": min_trust}, report


# --- combiner, calibrator, threshold --------------------------------------------------


def samples_of(
    answers: Sequence[Answer], names: Sequence[str], rcr: dict[str, float]
) -> list[LabelledSample]:
    """Each answer's confidences of `names` (None: the signal did not run or was
    not ok there), RCR's under the chosen parameters."""
    out = []
    for a in answers:
        values: dict[str, float | None] = {}
        for n in names:
            if n == RCR_NAME:
                r = rcr_result(a, rcr["center"], rcr["scale"], rcr["min_trust"])
            else:
                r = a.results.get(n)
            values[n] = r.confidence if r is not None and r.ok else None
        out.append(LabelledSample(signals=values, correct=a.correct))
    return out


def oof(
    samples: Sequence[LabelledSample], folds: Sequence[int], c: float
) -> list[float]:
    """Out-of-fold combined confidences of a logistic fit at regularisation c."""
    out = [0.0] * len(samples)
    for k in range(FOLDS):
        train = [s for s, g in zip(samples, folds, strict=True) if g != k]
        model = fit_logistic(train, regularization=c)
        for i, (s, g) in enumerate(zip(samples, folds, strict=True)):
            if g == k:
                out[i] = _combine(model, s)
    return out


def _combine(model: Any, sample: LabelledSample) -> float:
    value = model.combine(sample.results())[0]
    return 0.5 if value is None else float(value)


def restricted(
    samples: Sequence[LabelledSample], names: Sequence[str]
) -> list[LabelledSample]:
    keep = set(names)
    return [
        s.model_copy(
            update={"signals": {k: v for k, v in s.signals.items() if k in keep}}
        )
        for s in samples
    ]


def matrix_of(samples: Sequence[LabelledSample], names: Sequence[str]) -> np.ndarray:
    """Confidences as a matrix, NaN where a signal did not run or was not ok."""
    return np.array(
        [[_or_nan(s.signals.get(n)) for n in names] for s in samples], dtype=float
    )


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def fast_cv_auc(x: np.ndarray, y: np.ndarray, folds: np.ndarray, c: float) -> float:
    """CV AUROC of a plain logistic fit (NaN filled with the train fold's means).

    Only for choosing signals and C: a few thousand fits, where `fit_logistic`'s
    imputers would cost minutes; the chosen set is then fitted by `fit_logistic`.
    """
    from sklearn.linear_model import LogisticRegression

    out = np.zeros(len(y))
    for k in range(FOLDS):
        train, test = folds != k, folds == k
        means = np.nan_to_num(np.nanmean(x[train], axis=0))
        filled = np.where(np.isnan(x), means, x)
        model = LogisticRegression(C=c, max_iter=1000).fit(filled[train], y[train])
        out[test] = model.predict_proba(filled[test])[:, 1]
    got = auroc(list(out), [bool(v) for v in y])
    return -1.0 if got is None else got


def forward_select(
    samples: Sequence[LabelledSample],
    folds: Sequence[int],
    pool: Sequence[str],
    start: Sequence[str] = (),
) -> tuple[list[str], float, float]:
    """Greedy forward selection of signals by CV AUROC; C re-chosen at each step.

    A signal joins only if it raises the CV AUROC by more than 0.002.
    """
    x_all = matrix_of(samples, pool)
    y = np.array([s.correct for s in samples], dtype=int)
    f = np.asarray(folds)
    chosen: list[int] = [pool.index(n) for n in start if n in pool]
    best_auc, best_c = -1.0, 1.0
    if chosen:
        best_auc, best_c = max(
            (fast_cv_auc(x_all[:, chosen], y, f, c), c) for c in C_GRID
        )
    while True:
        trials = [
            (fast_cv_auc(x_all[:, [*chosen, j]], y, f, c), c, j)
            for j in range(len(pool))
            if j not in chosen and not np.isnan(x_all[:, j]).all()
            for c in C_GRID
        ]
        if not trials:
            break
        auc, c, j = max(trials)
        if auc <= best_auc + 0.002:
            break
        chosen.append(j)
        best_auc, best_c = auc, c
    return [pool[j] for j in chosen], best_auc, best_c


def choose_alpha(conf: Sequence[float], correct: Sequence[bool]) -> float:
    """The smallest alpha whose out-of-fold accepted share is >= MIN_COVERAGE."""
    c = np.asarray(conf)
    wrong = ~np.asarray(correct, dtype=bool)
    order = np.argsort(-c)
    risk = np.cumsum(wrong[order]) / np.arange(1, len(c) + 1)
    for alpha in ALPHAS:
        ok = np.flatnonzero(risk <= alpha * 0.8)  # headroom for the certified bound
        if ok.size and (ok.max() + 1) / len(c) >= MIN_COVERAGE:
            return alpha
    return ALPHAS[-1]


def certify(
    conf: Sequence[float],
    correct: Sequence[bool],
    alpha: float,
    delta: float,
    seed: int,
) -> Any:
    """Learn-then-Test at `alpha`, else the next alpha up the grid that certifies;
    None when none does."""
    from confguard.exceptions import CalibrationError

    for target in [a for a in ALPHAS if a >= alpha]:
        try:
            return choose_threshold(
                conf, correct, target_risk=target, delta=delta, seed=seed
            )
        except CalibrationError as exc:
            print(f"  alpha {target} not certified: {exc}", flush=True)
    return None


def certify_strata(
    conf: Sequence[float],
    correct: Sequence[bool],
    strata: Sequence[str],
    alphas: dict[str, float],
    seed: int,
) -> dict[str, Any]:
    """Each stratum's own certificate, at its planned alpha or the next up, on its
    own answers, at delta / strata (so all of them hold at once with probability
    1 - delta): one stratum that cannot reach a low risk no longer sets the
    threshold of the others."""
    names = sorted(set(strata))
    out = {}
    for name in names:
        out[name] = certify(
            *_inside(conf, correct, strata, name),
            alphas.get(name, ALPHAS[-1]),
            DELTA / len(names),
            seed,
        )
    return out


def _inside(
    conf: Sequence[float], correct: Sequence[bool], strata: Sequence[str], name: str
) -> tuple[list[float], list[bool]]:
    rows = [(c, y) for c, y, s in zip(conf, correct, strata, strict=True) if s == name]
    return [c for c, _ in rows], [y for _, y in rows]


def _round4(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


PLAN_SEEDS = 40


def plan_seed_stability(
    conf: Sequence[float], correct: Sequence[bool], alpha: float, delta: float
) -> dict[str, float]:
    """How often Learn-then-Test certifies `alpha` on these answers over PLAN_SEEDS
    draws of its planning split, and the mean coverage (0 where it refuses): how
    much the shipped certificate owes to the one seed it was made with."""
    from confguard.exceptions import CalibrationError

    coverage = []
    for seed in range(PLAN_SEEDS):
        try:
            got = choose_threshold(
                conf, correct, target_risk=alpha, delta=delta, seed=seed
            )
            coverage.append(got.coverage)
        except CalibrationError:
            coverage.append(0.0)
    return {
        "certified": round(sum(c > 0 for c in coverage) / PLAN_SEEDS, 3),
        "mean_coverage": round(float(np.mean(coverage)), 4),
    }


STRATUM_BY = "retrieval"
"""The signal a stratified combination picks its fit by: ok exactly when the
contexts carry retrieval scores (SQuAD here), not ok for supplied ones (the
conflicts)."""


@dataclass
class Combination:
    """A chosen combination: the combiner, the signals it reads, its out-of-fold
    confidences on the fitting answers and what the header reports of it."""

    combiner: Any
    signals: list[str]
    out_of_fold: list[float]
    report: dict[str, Any]


def strata_of(answers: Sequence[Answer]) -> list[str]:
    """Each answer's stratum, by the rule the stratified combiner applies."""
    return [
        "ok" if signal_ok(a.results.values(), STRATUM_BY) else "not ok" for a in answers
    ]


def within_auroc(
    conf: Sequence[float], correct: Sequence[bool], strata: Sequence[str]
) -> dict[str, float]:
    """AUROC inside each stratum: how well answers of one kind are ranked (a pooled
    AUROC also rewards telling the kinds apart, which no threshold needs)."""
    out = {}
    for name in sorted(set(strata)):
        got = auroc(*_inside(conf, correct, strata, name))
        out[name] = -1.0 if got is None else round(got, 4)
    return out


def pooled_combination(
    samples: Sequence[LabelledSample],
    folds: Sequence[int],
    pool: Sequence[str],
    start: Sequence[str],
) -> Combination:
    """One logistic fit over every kind of answer."""
    chosen, cv_auroc, c = forward_select(samples, folds, pool, start)
    picked = restricted(samples, chosen)
    report = {"signals": chosen, "C": c, "cv_auroc": round(cv_auroc, 4)}
    return Combination(
        fit_logistic(picked, regularization=c), chosen, oof(picked, folds, c), report
    )


def stratified_combination(
    samples: Sequence[LabelledSample],
    folds: Sequence[int],
    pool: Sequence[str],
    start: Sequence[str],
    strata: Sequence[str],
) -> Combination | None:
    """One logistic fit per stratum, each with its own signals and C."""
    if set(strata) != {"ok", "not ok"}:
        return None
    fits: dict[str, Combination] = {}
    out = [0.0] * len(samples)
    for name in ("ok", "not ok"):
        rows = [i for i, k in enumerate(strata) if k == name]
        part = pooled_combination(
            [samples[i] for i in rows], [folds[i] for i in rows], pool, start
        )
        for i, value in zip(rows, part.out_of_fold, strict=True):
            out[i] = value
        fits[name] = part
    combiner = StratifiedCombiner(
        by=STRATUM_BY, when_ok=fits["ok"].combiner, otherwise=fits["not ok"].combiner
    )
    signals = [n for n in pool if n in combiner.signal_names()]
    report = {name: fit.report for name, fit in fits.items()}
    return Combination(combiner, signals, out, {"by": STRATUM_BY, **report})


def choose_combination(
    samples: Sequence[LabelledSample],
    folds: Sequence[int],
    pool: Sequence[str],
    start: Sequence[str],
    strata: Sequence[str],
    force: str | None = None,
) -> tuple[Combination, dict[str, Any]]:
    """Pooled or stratified, whichever ranks better inside the strata (mean of
    their out-of-fold AUROCs; the pooled one on a tie: fewer parameters), or the
    one `force` names (an ablation: `--combination`)."""
    labels = [s.correct for s in samples]
    found = {"pooled": pooled_combination(samples, folds, pool, start)}
    stratified = stratified_combination(samples, folds, pool, start, strata)
    if stratified is not None:
        found["stratified"] = stratified
    scores = {
        name: within_auroc(c.out_of_fold, labels, strata) for name, c in found.items()
    }
    means = {name: float(np.mean(list(v.values()))) for name, v in scores.items()}
    best = max(means, key=lambda name: (means[name], name == "pooled"))
    if force is not None:
        if force not in found:
            raise SystemExit(f"--combination {force}: the answers form one stratum")
        best = force
    within = {n: {**v, "mean": round(means[n], 4)} for n, v in scores.items()}
    report = {"combination": best, "cv_auroc_within": within}
    return found[best], report


def calibrator_of(
    out_of_fold: Sequence[float], labels: Sequence[bool], folds: Sequence[int]
) -> tuple[Any, str, dict[str, float]]:
    """None, Platt or isotonic, by the out-of-fold ECE of each fitted on the other
    folds. None is a candidate because a logistic fit per stratum is already a
    probability inside its stratum, and one calibrator over both strata can only
    move one of them off."""
    kinds = {"none": ece(out_of_fold, labels)}
    for kind in ("platt", "isotonic"):
        cal_oof = [0.0] * len(labels)
        for k in range(FOLDS):
            tr = [i for i, g in enumerate(folds) if g != k]
            cal = fit_calibrator(
                kind, [out_of_fold[i] for i in tr], [labels[i] for i in tr]
            )
            for i, g in enumerate(folds):
                if g == k:
                    cal_oof[i] = cal.calibrate(out_of_fold[i])
        kinds[kind] = ece(cal_oof, labels)
    kind = min(kinds, key=kinds.__getitem__)
    if kind == "none":
        return None, kind, kinds
    return fit_calibrator(kind, out_of_fold, labels), kind, kinds


def calibrated(calibrator: Any, value: float) -> float:
    return value if calibrator is None else float(calibrator.calibrate(value))


def fit_preset(
    name: str,
    fit: Sequence[Answer],
    cert: Sequence[Answer],
    rcr: dict[str, float],
    seed: int,
    force: str | None = None,
) -> tuple[Policy, dict[str, Any]]:
    pool = [n for n in POOLS[name] if any(n in a.results for a in fit)]
    samples = samples_of(fit, pool, rcr)
    folds = folds_of([a.group for a in fit], seed)
    start = START.get(name, ())
    strata = strata_of(fit)
    chosen, choice = choose_combination(samples, folds, pool, start, strata, force)
    labels = [s.correct for s in samples]
    calibrator, kind, kinds = calibrator_of(chosen.out_of_fold, labels, folds)
    on_fit = [calibrated(calibrator, v) for v in chosen.out_of_fold]
    alphas = {
        stratum: choose_alpha(*_inside(on_fit, labels, strata, stratum))
        for stratum in sorted(set(strata))
    }
    combiner = chosen.combiner
    cert_samples = samples_of(cert, pool, rcr)
    cert_conf = [calibrated(calibrator, _combine(combiner, s)) for s in cert_samples]
    cert_correct = [s.correct for s in cert_samples]
    cert_strata = strata_of(cert)
    controls = certify_strata(cert_conf, cert_correct, cert_strata, alphas, seed)
    for stratum, control in controls.items():
        if control is None:
            inside = _inside(cert_conf, cert_correct, cert_strata, stratum)
            top = ALPHAS[-1]
            stable = plan_seed_stability(*inside, top, DELTA / len(controls))
            raise SystemExit(
                f"{name}: no alpha on the grid certifies stratum {stratum!r} with "
                f"planning seed {seed} (alpha {top} certifies with "
                f"{stable['certified']:.0%} of {PLAN_SEEDS} planning seeds); more "
                "labels needed"
            )
    policy = preset_policy(name, combiner, calibrator, controls)
    report = {
        "signals": chosen.signals,
        **chosen.report,
        **choice,
        "calibrator": kind,
        "cv_ece": {k: round(v, 4) for k, v in kinds.items()},
        "strata": {
            STRATUM_NAMES[stratum]: stratum_report(
                control,
                alphas.get(stratum),
                *_inside(cert_conf, cert_correct, cert_strata, stratum),
            )
            for stratum, control in controls.items()
        },
        "n_fit": len(fit),
        "n_cert": len(cert),
    }
    return policy, report


def stratum_report(
    control: Any,
    planned: float | None,
    conf: Sequence[float],
    correct: Sequence[bool],
) -> dict[str, Any]:
    """What a preset's header says of one stratum's certificate, from the
    certifying answers of that stratum."""
    return {
        "alpha": control.target_risk,
        "alpha_planned": planned,
        "threshold": control.threshold,
        "certified_bound": round(control.upper_bound, 4),
        "cert_coverage": round(control.coverage, 4),
        "n_cert": len(conf),
        "plan_seeds": plan_seed_stability(
            conf, correct, control.target_risk, control.delta
        ),
        # Ranking on answers no choice of the fit read (only the threshold).
        "cert_auroc": _round4(auroc(conf, correct)),
    }


STRATUM_NAMES = {"ok": "retrieved", "not ok": "default"}
"""How a preset names each stratum: requests whose contexts carry retrieval scores
get a stratum of their own; the rest (supplied context) the policy's thresholds."""


def preset_policy(
    name: str, combiner: Any, calibrator: Any, controls: dict[str, Any]
) -> Policy:
    """The preset's policy: the not-retrieved stratum's certificate as the policy's
    own thresholds (they band every request no stratum picks out), and the
    retrieved one's as a stratum; one kind alone sets the policy's thresholds."""
    default = controls.get("not ok", controls.get("ok"))
    data: dict[str, Any] = {
        "thresholds": _bands(default.threshold),
        "risk_control": default.model_dump(mode="json"),
        "escalate": {"route": "review"},
        "annotate": {
            "caveat": "Low confidence: check this answer against the sources."
        },
        "abstain": {
            "message": "I can't answer that reliably from the documents I have."
        },
        "on_missing_evidence": "ignore",
        "cascade": name != "fast",
    }
    retrieved = controls.get("ok")
    if retrieved is not None and "not ok" in controls:
        data["strata"] = [
            {
                "name": STRATUM_NAMES["ok"],
                "when": {"signal": STRATUM_BY, "status": "ok"},
                "thresholds": _bands(retrieved.threshold),
                "risk_control": retrieved.model_dump(mode="json"),
            }
        ]
    policy = Policy.from_dict(data)
    return policy.model_copy(update={"combiner": combiner, "calibrator": calibrator})


def _bands(accept: float) -> dict[str, float]:
    return {
        "accept": accept,
        "annotate": round(max(0.0, accept - 0.15), 4),
        "escalate": round(max(0.0, accept - 0.35), 4),
    }


# --- the run ----------------------------------------------------------------------


def split_fit_cert(
    answers: Sequence[Answer], seed: int
) -> tuple[list[Answer], list[Answer]]:
    """Half the non-held-out questions fit, half certify (by question, seeded)."""
    groups = sorted({a.group for a in answers})
    random.Random(seed + 1).shuffle(groups)
    cert = set(groups[: int(len(groups) * CERT_FRACTION)])
    return [a for a in answers if a.group not in cert], [
        a for a in answers if a.group in cert
    ]


def collect(args: argparse.Namespace, embedders: Sequence[str]) -> dict[str, Any]:
    """Pass 1 (candidates), the selector, pass 2 (every signal on each answer, the
    retrieval answers picked by a selector fitted without their fold)."""
    squad = open_run(args.squad, "retrieve", args.work, embedders)
    conflicts = open_run(args.conflicts, "given", args.work, embedders)
    s_items = [
        i
        for i in load_items(args.squad, args.squad_limit, args.seed)
        if split_of(i) == "fit"
    ]
    c_items = [
        i
        for i in load_items(args.conflicts, args.conflicts_limit, args.seed)
        if split_of(i) == "fit"
    ]
    t = time.perf_counter()
    found = [candidates_of(squad, i) for i in s_items]
    print(
        f"pass 1: {len(found)} questions' candidates in {time.perf_counter() - t:.0f}s",
        flush=True,
    )
    selector, sel_report = choose_selector(found, embedders, args.seed)
    print("selector:", json.dumps(sel_report), flush=True)
    names = selector_sets(embedders)[sel_report["features"]]
    picks = cross_fitted(found, names, sel_report["C"], args.seed)
    sel_report["em_in_sample"] = round(selection_em(found, selector), 4)
    sel_report["em_cross_fitted"] = round(selection_em(found, picks), 4)
    t = time.perf_counter()
    fast: list[Answer] = []
    full: list[Answer] = []
    for run, items, found_by in (
        (squad, s_items, {f.item.id: f for f in found}),
        (conflicts, c_items, {}),
    ):
        cheap = cheap_signals(run.contexts == "retrieve")
        sampled = consistency_signals(run)
        for item in items:
            fast.append(answer_of(run, item, fast_observation(run, item), cheap))
            pick = picks.get(item.id, selector)
            obs = selected_observation(run, item, found_by.get(item.id), pick)
            full.append(answer_of(run, item, obs, [*cheap, *sampled]))
        print(
            f"pass 2: {run.dataset.name}: {len(items)} items, "
            f"{time.perf_counter() - t:.0f}s, "
            f"{run.generator.stats.calls - run.generator.stats.replayed} new calls",
            flush=True,
        )
    return {
        "selector": selector,
        "selector_report": sel_report,
        "fast": fast,
        "full": full,
    }


def collected(args: argparse.Namespace, embedders: Sequence[str]) -> dict[str, Any]:
    """`collect`, or what an earlier run with the same arguments collected (`--keep`:
    the answers and their signals take most of a fit's time; the choices do not)."""
    import pickle

    if args.keep is None:
        return collect(args, embedders)
    key = (str(args.squad), str(args.conflicts), args.squad_limit)
    key += (args.conflicts_limit, args.seed, tuple(embedders), "cross-fitted picks")
    if args.keep.exists():
        kept_key, got = pickle.loads(args.keep.read_bytes())
        if kept_key == key:
            print(f"collected answers reused from {args.keep}", flush=True)
            return got
    got = collect(args, embedders)
    try:
        args.keep.write_bytes(pickle.dumps((key, got)))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        print(f"could not keep the answers in {args.keep}: {exc}", flush=True)
    return got


def write_preset(
    name: str,
    policy: Policy,
    rcr: dict[str, float],
    selector: FittedSelector | None,
    chosen: Sequence[str],
    embedders: Sequence[str],
    report: dict[str, Any],
) -> Path:
    signals: list[Any] = []
    for n in _with_rule_signals(name, chosen, policy):
        signals.append(_signal_entry(n, rcr))
    config: dict[str, Any] = {"signals": signals}
    if name == "fast":
        config["pipeline"] = {
            "retrieval": "single",
            "embedders": [embedders[0]],
            "top_k": 1,
        }
    else:
        assert selector is not None
        config["pipeline"] = {
            "retrieval": "confident_rag",
            "embedders": list(embedders),
            "top_k": 1,
            "selector": {
                "weights": selector.weights,
                "intercept": selector.intercept,
                "means": selector.means,
                "scales": selector.scales,
            },
        }
    if any(n in CONSISTENCY for n in chosen):
        config["sampler"] = {
            "k": SAMPLES_K,
            "temperature": SAMPLES_T,
            "seed": SAMPLES_SEED,
        }
    data = policy.to_dict()
    if name != "fast":
        data["rules"] = [
            {
                "name": "context conflict",
                "when": {"signal": RCR_NAME, "detail": {"key": "conflict", "eq": True}},
                "then": "escalate",
                "reason": "the context and the model's own knowledge disagree",
            }
        ]
    config["policy"] = data
    config["routes"] = {"review": {"type": "review_queue"}}
    # In memory unless the caller gives a store (preset_guard(store=...)).
    config["store"] = {"url": "memory://"}
    header = HEADER.format(name=name, report=json.dumps(report, sort_keys=True))
    path = PRESET_DIR / f"{name}.yaml"
    import yaml

    path.write_text(header + yaml.safe_dump(config, sort_keys=False), "utf-8")
    return path


HEADER = """# The `{name}` preset, written by scripts/fit_presets.py: do not edit.
# Its card, measured on held-out dev questions: docs/presets.md.
# Fit: {report}
"""


def _with_rule_signals(name: str, chosen: Sequence[str], policy: Policy) -> list[str]:
    # The conflict rule reads RCR, so balanced and thorough always run it; the
    # strata read retrieval.
    names = list(chosen)
    if name != "fast" and RCR_NAME not in names:
        names.append(RCR_NAME)
    names += [n for n in policy.stratum_signals() if n not in names]
    return names


def _signal_entry(name: str, rcr: dict[str, float]) -> Any:
    if name == RCR_NAME:
        return {
            "type": "situated_faithfulness",
            "params": {"mode": "rcr", "name": RCR_NAME, "method_params": dict(rcr)},
        }
    if name in CONSISTENCY:
        return {"type": name, "params": {"draw": True}}
    return name


def dump(answers: Sequence[Answer], path: Path) -> None:
    """The answers as labelled samples (e.g. for scripts/review_loop.py)."""
    with path.open("w", encoding="utf-8") as out:
        for a in answers:
            row = {
                "id": a.item.id,
                "question": a.item.question,
                "answer": a.answer,
                "gold": list(a.item.answers),
                "correct": a.correct,
                "dataset": a.dataset,
                "signals": {
                    n: (r.confidence if r.ok else None) for n, r in a.results.items()
                },
            }
            out.write(json.dumps(row) + "\n")


def main() -> None:
    import torch

    # One thread: the embedder runs beside the model; two would fight on 2 cores.
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, required=True)
    parser.add_argument("--conflicts", type=Path, required=True)
    parser.add_argument("--squad-limit", type=int, default=500)
    parser.add_argument("--conflicts-limit", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedders", default=",".join(DEFAULT_EMBEDDERS))
    parser.add_argument("--work", type=Path, default=Path(".confguard/presets"))
    parser.add_argument("--no-write", action="store_true", help="report only")
    parser.add_argument("--presets", default="fast,balanced,thorough")
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the collected answers in this file, and reuse them when the data "
        "arguments are the same (a refit then takes seconds)",
    )
    parser.add_argument(
        "--combination",
        choices=["pooled", "stratified"],
        help="an ablation: ship this combination whatever cross-validation prefers",
    )
    parser.add_argument(
        "--dump-answers",
        type=Path,
        help="also write the fitting split's answers (question, answer, signals, "
        "correct, gold) as JSONL, the shape `confguard eval` writes",
    )
    args = parser.parse_args()
    embedders = tuple(args.embedders.split(","))
    got = collected(args, embedders)
    if args.dump_answers:
        dump(got["full"], args.dump_answers)
    fast_fit, fast_cert = split_fit_cert(got["fast"], args.seed)
    full_fit, full_cert = split_fit_cert(got["full"], args.seed)
    rcr, rcr_report = choose_rcr(full_fit, args.seed)
    print("rcr:", json.dumps(rcr_report), flush=True)
    reports: dict[str, Any] = {"selector": got["selector_report"], "rcr": rcr_report}
    for name in args.presets.split(","):
        fit, cert = (fast_fit, fast_cert) if name == "fast" else (full_fit, full_cert)
        policy, report = fit_preset(name, fit, cert, rcr, args.seed, args.combination)
        reports[name] = report
        print(f"{name}:", json.dumps(report), flush=True)
        if not args.no_write:
            selector = None if name == "fast" else got["selector"]
            written = write_preset(
                name, policy, rcr, selector, report["signals"], embedders, report
            )
            print(f"wrote {written}", flush=True)
    print(json.dumps(reports))


if __name__ == "__main__":
    main()
