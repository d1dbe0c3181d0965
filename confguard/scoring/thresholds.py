"""Risk-controlled thresholds: "accept above t" with a bound on the error rate.

Given labelled calibration data, a target risk alpha (the error rate among accepted
answers) and delta, `choose_threshold` returns the lowest threshold t such that,
with probability at least 1 - delta over the calibration data, the error rate among
answers with confidence >= t is at most alpha.

The procedure is Learn-then-Test (Angelopoulos, Bates, Candès, Jordan & Lei, 2021)
with fixed-sequence testing. Each candidate t carries the null "risk(t) > alpha",
rejected when the one-sided Clopper-Pearson upper bound on the error rate among the
accepted answers is <= alpha. Candidates are tested from a start down to lower
thresholds, and the sequence stops at the first that fails; fixed-sequence testing
needs no multiplicity correction, so every threshold passed is controlled together
at level delta, and the lowest one passed is returned.

Starting at the very top wastes the test: a threshold accepting a handful of answers
fails on one error, and the sequence ends there. So, as LTT suggests, a random part
of the data (`plan_fraction`, 20 % by default) only chooses the start: the
candidate whose bound it predicts to be lowest on the rest. The rest tests. Since
the start never sees the testing labels, the guarantee is exact. A threshold
accepting fewer than ``min_samples(alpha, delta)`` testing answers cannot pass
(even with no errors its bound stays above alpha) and is passed over.

The data must be exchangeable with the answers the guard will see: a threshold
fitted on one workload says nothing of another.
Needs scipy (``pip install confguard[eval]``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from confguard.exceptions import CalibrationError, InputError

DEFAULT_GRID: tuple[float, ...] = tuple(round(1.0 - i / 200, 3) for i in range(201))
"""Candidate thresholds 1.000, 0.995, ..., 0.000, fixed before seeing the data."""

PLAN_FRACTION = 0.2
"""The share of calibration data that only chooses where the sequence starts."""

Floats = npt.NDArray[np.float64]


class RiskControl(BaseModel):
    """A threshold and its guarantee: risk <= target_risk with probability 1 - delta.

    Example:
        >>> control = choose_threshold(conf, correct, target_risk=0.1, delta=0.05)
        >>> control.threshold, control.upper_bound, control.coverage
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str = "learn-then-test, fixed sequence, Clopper-Pearson"
    target_risk: float = Field(gt=0.0, lt=1.0)
    delta: float = Field(gt=0.0, lt=1.0)
    threshold: float = Field(ge=0.0, le=1.0)
    upper_bound: float = Field(ge=0.0, le=1.0)
    """The (1 - delta) Clopper-Pearson upper bound on the risk at `threshold`."""
    empirical_risk: float = Field(ge=0.0, le=1.0)
    coverage: float = Field(ge=0.0, le=1.0)
    """The share of calibration answers accepted: the expected coverage."""
    accepted: int = Field(ge=1)
    errors: int = Field(ge=0)
    n: int = Field(ge=1)
    """Labelled samples that tested the thresholds."""
    n_plan: int = Field(default=0, ge=0)
    """Labelled samples that only chose where the sequence starts."""
    start: float = Field(default=1.0, ge=0.0, le=1.0)
    """The candidate the fixed sequence started from."""


def min_samples(target_risk: float, delta: float) -> int:
    """The fewest accepted answers that can certify `target_risk` (zero errors).

    Example:
        >>> min_samples(0.1, 0.05)  # 0.9 ** 29 <= 0.05 < 0.9 ** 28
        29
    """
    _check_levels(target_risk, delta)
    return math.ceil(math.log(delta) / math.log1p(-target_risk) - 1e-12)


def clopper_pearson_upper(errors: int, n: int, delta: float) -> float:
    """The one-sided (1 - delta) Clopper-Pearson upper bound on an error rate.

    Example:
        >>> round(clopper_pearson_upper(0, 29, 0.05), 4)
        0.0983
    """
    from scipy.stats import beta

    if not 0 <= errors <= n or n < 1:
        raise InputError(f"need 0 <= errors <= n and n >= 1, got {errors}/{n}")
    if errors == n:
        return 1.0
    return float(beta.ppf(1.0 - delta, errors + 1, n - errors))


def _check_levels(target_risk: float, delta: float) -> None:
    for name, value in (("target risk", target_risk), ("delta", delta)):
        if not 0.0 < value < 1.0:
            raise InputError(f"{name} must be in (0, 1), got {value}")


def _arrays(
    scores: Sequence[float | None], correct: Sequence[bool]
) -> tuple[Floats, Floats]:
    if len(scores) != len(correct):
        raise InputError(f"{len(scores)} scores but {len(correct)} labels")
    # None: the guard would never accept this answer (e.g. it fails closed).
    s = np.array([-1.0 if v is None else float(v) for v in scores], dtype=np.float64)
    if not np.all(np.isfinite(s)):
        raise InputError("scores must be finite (None marks a never-accepted answer)")
    wrong = 1.0 - np.asarray(correct, dtype=np.float64)
    return s, wrong


@dataclass(frozen=True)
class _Table:
    """Accepted answers, errors and risk bounds at each candidate threshold."""

    accepted: Any
    errors: Any
    bounds: Floats


def _table(s: Floats, wrong: Floats, grid: Floats, delta: float) -> _Table:
    from scipy.stats import beta

    order = np.argsort(-s, kind="stable")
    desc, cum = s[order], np.concatenate([[0.0], np.cumsum(wrong[order])])
    accepted = np.searchsorted(-desc, -grid, side="right")
    errors = cum[accepted].astype(int)
    n = np.maximum(accepted, 1)
    upper = beta.ppf(1.0 - delta, errors + 1, np.maximum(n - errors, 1))
    bounds = np.where((accepted == 0) | (errors >= n), 1.0, upper)
    return _Table(accepted, errors, bounds)


def _split(n: int, plan_fraction: float, seed: int) -> tuple[Any, Any]:
    if not 0.0 <= plan_fraction < 1.0:
        raise InputError(f"plan_fraction must be in [0, 1), got {plan_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    cut = round(n * plan_fraction)
    return order[:cut], order[cut:]


def _start(plan: _Table | None, scale: float, delta: float) -> int:
    """The start: the candidate with the lowest bound predicted for the test part."""
    from scipy.stats import beta

    if plan is None:
        return 0
    n = np.maximum(np.round(plan.accepted * scale), 1)
    rate = (plan.errors + 0.5) / (plan.accepted + 1.0)  # smoothed: 0/3 is not 0
    k = np.floor(rate * n)
    predicted = beta.ppf(1.0 - delta, k + 1, np.maximum(n - k, 1))
    return int(np.argmin(predicted))  # ties: the highest threshold


def choose_threshold(
    scores: Sequence[float | None],
    correct: Sequence[bool],
    *,
    target_risk: float,
    delta: float,
    grid: Sequence[float] = DEFAULT_GRID,
    plan_fraction: float = PLAN_FRACTION,
    seed: int = 0,
    one_class: bool = False,
) -> RiskControl:
    """The lowest threshold whose risk is certified <= `target_risk` at level `delta`.

    A random `plan_fraction` of the data (split with `seed`) only chooses where the
    fixed sequence starts; the rest tests. Refuses (CalibrationError, saying how many
    samples are needed) when the data cannot certify any threshold: too few samples,
    one class only, or an error rate too high at every threshold. With `one_class`
    a set all right (or all wrong) is tested like any other: for one stratum's
    answers, once the whole set was checked to hold both.

    Example:
        >>> control = choose_threshold(conf, correct, target_risk=0.1, delta=0.05)
        >>> control.upper_bound <= 0.1 and control.accepted >= 29
        True
    """
    _check_levels(target_risk, delta)
    s, wrong = _arrays(scores, correct)
    plan, test = _split(s.size, plan_fraction, seed)
    _enough(s.size, test.size, target_risk, delta)
    if not one_class:
        _both_classes(s.size, int(wrong.sum()))
    grid_ = np.array(sorted(set(grid), reverse=True), dtype=np.float64)
    smallest = min_samples(target_risk, delta)
    planned = _table(s[plan], wrong[plan], grid_, delta) if plan.size else None
    start = _start(planned, test.size / max(plan.size, 1), delta)
    table = _table(s[test], wrong[test], grid_, delta)
    first = _first_tested(table, start, smallest)
    chosen = _fixed_sequence(table, first, target_risk)
    if chosen is None:
        raise _no_threshold(s.size, table, first, (target_risk, delta))
    threshold = float(grid_[chosen])
    return RiskControl(
        target_risk=target_risk,
        delta=delta,
        threshold=threshold,
        upper_bound=float(table.bounds[chosen]),
        empirical_risk=float(table.errors[chosen] / table.accepted[chosen]),
        coverage=float(np.mean(s >= threshold)),
        accepted=int(table.accepted[chosen]),
        errors=int(table.errors[chosen]),
        n=int(test.size),
        n_plan=int(plan.size),
        start=float(grid_[start]),
    )


def _first_tested(table: _Table, start: int, smallest: int) -> int | None:
    """The first candidate from `start` on that accepts enough answers to pass."""
    for i in range(start, table.accepted.size):
        if table.accepted[i] >= smallest:
            return i
    return None


def _fixed_sequence(table: _Table, first: int | None, target_risk: float) -> int | None:
    chosen = None
    for i in range(
        table.accepted.size if first is None else first, table.accepted.size
    ):
        if table.bounds[i] > target_risk:
            break
        chosen = i
    return chosen


def _enough(n: int, tested: int, target_risk: float, delta: float) -> None:
    smallest = min_samples(target_risk, delta)
    if tested < smallest:
        needed = math.ceil(smallest * n / max(tested, 1))
        raise CalibrationError(
            f"certifying risk <= {target_risk:g} at delta {delta:g} needs at least "
            f"{smallest} labelled samples in the test part, about {needed} in all "
            f"(and that only if the accepted ones are all right); got {n}",
            have=n,
            needed=needed,
        )


def _both_classes(n: int, errors: int) -> None:
    if errors in (0, n):
        kind = "wrong" if errors else "right"
        raise CalibrationError(
            f"calibration data needs both right and wrong answers; all {n} are {kind}",
            have=n,
        )


def _no_threshold(
    n: int, table: _Table, first: int | None, control: tuple[float, float]
) -> CalibrationError:
    target_risk, delta = control
    head = f"no threshold certifies risk <= {target_risk:g} at delta {delta:g}"
    if first is None:  # the answers never accepted (None scores) leave too few
        return CalibrationError(f"{head}: too few answers can be accepted", have=n)
    acc, err = int(table.accepted[first]), int(table.errors[first])
    seen = (
        f"the first threshold tested accepted {acc} answers with {err} wrong "
        f"(bound {table.bounds[first]:.3f})"
    )
    per = _accepted_needed(err / acc, target_risk, delta)
    if err / acc >= target_risk or per is None:
        where = "above" if err / acc >= target_risk else "too close to"
        return CalibrationError(
            f"{head}: {seen}, an error rate {where} the target for any amount of "
            "data to certify there; a higher threshold (more data to plan with), "
            "better signals or a higher target risk might",
            have=n,
        )
    needed = math.ceil(per * n / acc)  # acc of `tested` scaled to all n
    return CalibrationError(
        f"{head} with {n} labelled samples: {seen}; at that error rate about "
        f"{needed} labelled samples would be needed",
        have=n,
        needed=needed,
    )


def _accepted_needed(rate: float, target_risk: float, delta: float) -> int | None:
    """Accepted answers at error `rate` for the bound to reach `target_risk`."""
    m = min_samples(target_risk, delta)
    while clopper_pearson_upper(math.floor(rate * m), m, delta) > target_risk:
        if m > 10**7:
            return None
        m = math.ceil(m * 1.05) + 1
    return m


__all__ = [
    "DEFAULT_GRID",
    "PLAN_FRACTION",
    "RiskControl",
    "choose_threshold",
    "clopper_pearson_upper",
    "min_samples",
]
