"""The cascade: cheap first; stop once the rest cannot change the decision."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from confguard.guard import AsyncGuard, Guard, score_all, score_cascade
from confguard.observation import Observation
from confguard.policy import Policy, decide
from confguard.policy.cascade import (
    Cascade,
    CascadePlan,
    calibrated_span,
    cost_order,
    skipped_by_cascade,
)
from confguard.results import SignalResult
from confguard.scoring import assess, mean, minimum, weighted
from confguard.scoring.aggregate import Combiner, LinearImputer, LogisticCombiner
from confguard.scoring.calibration import IsotonicCalibrator, PlattCalibrator
from confguard.scoring.stratified import StratifiedCombiner
from confguard.signals.base import DeclaredCost, FunctionSignal

OBS = Observation(question="Capital of France?", answer="Paris")
ACCEPT_ONLY = Policy.from_dict({"thresholds": {"accept": 0.8}})
BANDS = Policy.from_dict(
    {
        "thresholds": {"accept": 0.8, "annotate": 0.6, "retry": 0.4},
        "on_missing_evidence": "ignore",
    }
)


class Counting(FunctionSignal):
    """A fixed-confidence signal that counts how often it ran (fails if None)."""

    def __init__(
        self, name: str, value: float | None, calls: int = 0, rel: float = 0.0
    ):
        super().__init__(
            self._run, name=name, cost=DeclaredCost(llm_calls=calls, relative=rel)
        )
        self.value, self.runs = value, 0

    def _run(self, obs: Observation) -> float:
        self.runs += 1
        if self.value is None:
            raise RuntimeError("down")
        return self.value


def ok(name: str, value: float) -> SignalResult:
    return SignalResult(name=name, confidence=value)


def test_signals_run_cheapest_first_by_llm_calls_then_relative_cost() -> None:
    judge = Counting("judge", 0.5, calls=1, rel=1.0)
    sampler = Counting("sampler", 0.5, calls=5)
    hedging = Counting("hedging", 0.5, rel=0.05)
    logprob = Counting("logprob", 0.5)
    twin = Counting("twin", 0.5)
    ordered = cost_order([judge, sampler, hedging, logprob, twin])
    assert [s.name for s in ordered] == [
        "logprob",
        "twin",
        "hedging",
        "judge",
        "sampler",
    ]


def test_the_band_is_the_highest_threshold_reached() -> None:
    assert BANDS.thresholds.band(0.8) == "accept"
    assert BANDS.thresholds.band(0.79) == "annotate"
    assert BANDS.thresholds.band(0.4) == "retry"
    assert BANDS.thresholds.band(0.39) == "abstain"


def test_the_mean_span_puts_the_pending_signals_at_zero_and_at_one() -> None:
    # Two done (0.9, 0.95), one pending: [1.85 / 3, 2.85 / 3].
    low, high = mean().span([ok("a", 0.9), ok("b", 0.95)], ["c"])
    assert (low, high) == pytest.approx((1.85 / 3, 2.85 / 3))


def test_the_weighted_span_counts_the_pending_weights() -> None:
    combiner = weighted({"a": 3.0, "judge": 1.0})
    low, high = combiner.span([ok("a", 0.9)], ["judge"])
    assert (low, high) == pytest.approx((2.7 / 4, 3.7 / 4))


def test_a_pending_signal_of_weight_zero_cannot_move_the_weighted_mean() -> None:
    combiner = weighted({"a": 1.0, "free": 0.0})
    assert combiner.span([ok("a", 0.7)], ["free"]) == pytest.approx((0.7, 0.7))


def test_the_minimum_can_only_fall() -> None:
    assert minimum().span([ok("a", 0.7), ok("b", 0.9)], ["c"]) == (0.0, 0.7)
    assert minimum().span([ok("a", 0.7)], []) == (0.7, 0.7)


def test_the_logistic_span_moves_by_each_pending_coefficient() -> None:
    combiner = LogisticCombiner(
        intercept=-1.0, coefficients={"a": 2.0, "b": -1.0}, fill={"a": 0.5, "b": 0.5}
    )
    low, high = combiner.span([ok("a", 1.0)], ["b"])
    # z so far: -1 + 2 = 1; b adds between -1 and 0.
    assert (low, high) == pytest.approx((0.5, 1 / (1 + math.exp(-1))))


def test_a_missing_signal_imputed_from_a_pending_one_stays_open() -> None:
    # 'm' failed and is imputed from 'p', still pending: 4 * m can end anywhere in
    # [0, 4], so z = 1 * a + 4 * m lies in [1, 5] though p's own coefficient is 0.
    combiner = LogisticCombiner(
        intercept=0.0,
        coefficients={"a": 1.0, "m": 4.0, "p": 0.0},
        fill={"a": 0.5, "m": 0.5, "p": 0.5},
        imputers={"m": LinearImputer(intercept=0.0, coefficients={"p": 1.0})},
    )
    done = [ok("a", 1.0), SignalResult.failed("m", "down")]
    low, high = combiner.span(done, ["p"])
    assert (low, high) == pytest.approx(
        (1 / (1 + math.exp(-1)), 1 / (1 + math.exp(-5)))
    )


def test_imputation_predicts_a_missing_signal_from_the_ok_ones() -> None:
    combiner = LogisticCombiner(
        intercept=0.0,
        coefficients={"a": 1.0, "b": 2.0},
        fill={"a": 0.5, "b": 0.5},
        imputers={"b": LinearImputer(intercept=0.1, coefficients={"a": 0.5})},
    )
    value, reasons = combiner.combine([ok("a", 0.8)])
    # b = 0.1 + 0.5 * 0.8 = 0.5; z = 0.8 + 2 * 0.5 = 1.8
    assert value == pytest.approx(1 / (1 + math.exp(-1.8)))
    assert reasons[0] == "logistic ['a' 0.80, 'b' 0.50 (imputed)] = 0.86"


def test_without_evidence_everything_is_still_possible() -> None:
    for combiner in (mean(), weighted({}), minimum()):
        assert combiner.span([], ["a"]) == (0.0, 1.0)


def test_a_calibrator_maps_both_ends_lowest_first() -> None:
    rising = IsotonicCalibrator(x=(0.0, 1.0), y=(0.0, 0.5), n=10)
    assert calibrated_span((0.2, 0.8), rising) == pytest.approx((0.1, 0.4))
    falling = PlattCalibrator(slope=-4.0, intercept=2.0, n=10)
    low, high = calibrated_span((0.2, 0.8), falling)
    assert low == pytest.approx(falling.calibrate(0.8))
    assert high == pytest.approx(falling.calibrate(0.2))


def test_settle_skips_the_rest_when_both_ends_share_a_band() -> None:
    cascade = Cascade(mean(), None, ACCEPT_ONLY)
    done = [ok("a", 1.0), ok("b", 1.0), ok("c", 1.0), ok("d", 1.0)]
    judge = Counting("judge", 0.0, calls=1)
    [skipped] = cascade.settle(done, [judge]) or ()
    assert skipped.name == "judge"
    assert skipped.cascade_skipped
    assert skipped.details == {}
    # Four at 1.0, one pending: [4/5, 5/5] = [0.80, 1.00], all accept.
    assert skipped.reason == (
        "cascade: 'judge' could move the confidence only within [0.80, 1.00], "
        "all in band 'accept'"
    )


def test_settle_runs_on_when_the_span_crosses_a_threshold() -> None:
    cascade = Cascade(mean(), None, ACCEPT_ONLY)
    done = [ok("a", 0.95), ok("b", 0.95)]  # span [0.63, 0.97] crosses 0.8
    assert cascade.settle(done, [Counting("judge", 0.5, calls=1)]) is None


def test_a_confidence_low_enough_settles_on_abstain() -> None:
    cascade = Cascade(mean(), None, ACCEPT_ONLY)
    done = [ok("a", 0.1), ok("b", 0.1)]  # span [0.07, 0.40]: below 0.8 either way
    [skipped] = cascade.settle(done, [Counting("judge", 1.0, calls=1)]) or ()
    assert "all in band 'abstain'" in str(skipped.reason)


def test_under_fail_closed_a_signal_not_ok_settles_at_once() -> None:
    cascade = Cascade(mean(), None, ACCEPT_ONLY)
    done = [SignalResult.skipped("logprob", "no logprobs")]
    [skipped] = cascade.settle(done, [Counting("judge", 1.0, calls=1)]) or ()
    assert skipped.reason == (
        "cascade: 'logprob' is not ok and the policy fails closed, "
        "so the decision no longer depends on the rest"
    )


def drive(plan: CascadePlan, reply: float) -> tuple[list[str], list[SignalResult]]:
    """Run a cascade plan by hand: every signal it asks for reports `reply`."""
    asked: list[str] = []
    try:
        signal = next(plan)
        while True:
            asked.append(signal.name)
            signal = plan.send(ok(signal.name, reply))
    except StopIteration as done:
        return asked, list(done.value)


def test_the_plan_asks_cheapest_first_and_stops_once_the_band_is_settled() -> None:
    judge = Counting("judge", 0.0, calls=1)
    cheap = [Counting(n, 1.0) for n in "abcd"]
    plan = Cascade(mean(), None, ACCEPT_ONLY).plan([judge, *cheap])
    asked, results = drive(plan, 1.0)
    # Four at 1.0 leave the judge only [0.80, 1.00]: all accept, so it is not asked.
    assert asked == ["a", "b", "c", "d"]
    assert [r.name for r in results] == ["judge", "a", "b", "c", "d"]
    assert [r.cascade_skipped for r in results] == [True, False, False, False, False]


def test_the_plan_asks_for_everything_while_the_band_stays_open() -> None:
    judge, cheap = Counting("judge", 0.0, calls=1), Counting("a", 1.0)
    asked, results = drive(
        Cascade(minimum(), None, ACCEPT_ONLY).plan([judge, cheap]), 1.0
    )
    assert asked == ["a", "judge"]
    assert [r.name for r in results] == ["judge", "a"]
    assert not any(r.cascade_skipped for r in results)


def test_nothing_pending_means_nothing_to_settle() -> None:
    assert Cascade(mean(), None, ACCEPT_ONLY).settle([ok("a", 1.0)], []) is None


def test_a_combiner_without_a_span_never_stops_early() -> None:
    class Opaque:
        name = "opaque"

        def combine(self, results: Any) -> Any:
            return 1.0, ()

    cascade = Cascade(Opaque(), None, ACCEPT_ONLY)
    assert cascade.settle([ok("a", 1.0)] * 4, [Counting("j", 1.0, calls=1)]) is None


COMBINERS: list[Combiner] = [
    mean(),
    weighted({"s0": 2.0, "s1": 0.5, "s3": 3.0}),
    minimum(),
    LogisticCombiner(
        intercept=-2.0,
        coefficients={"s0": 1.5, "s1": -0.5, "s2": 2.0, "s3": 3.0},
        fill={"s0": 0.5, "s1": 0.5, "s2": 0.5, "s3": 0.5},
    ),
    # Imputers that read cheaper and dearer signals: a missing s1 depends on s3.
    LogisticCombiner(
        intercept=-2.0,
        coefficients={"s0": 1.5, "s1": -0.5, "s2": 2.0, "s3": 3.0},
        fill={"s0": 0.5, "s1": 0.5, "s2": 0.5, "s3": 0.5},
        imputers={
            "s1": LinearImputer(intercept=0.1, coefficients={"s0": 0.3, "s3": 0.6}),
            "s2": LinearImputer(intercept=0.2, coefficients={"s0": 0.7}),
            "s3": LinearImputer(intercept=-0.2, coefficients={"s1": 0.5, "s2": 0.9}),
        },
    ),
    # One fit per stratum, picked by a cheap signal (s0) or by a dearer one (s2),
    # which leaves both fits open until it reports.
    *(
        StratifiedCombiner(
            by=by,
            when_ok=LogisticCombiner(
                intercept=-1.0,
                coefficients={"s1": 2.0, "s3": 1.0},
                fill={"s1": 0.5, "s3": 0.5},
            ),
            otherwise=LogisticCombiner(
                intercept=0.5,
                coefficients={"s1": -1.0, "s2": 1.5, "s3": -2.0},
                fill={"s1": 0.5, "s2": 0.5, "s3": 0.5},
            ),
        )
        for by in ("s0", "s2")
    ),
]


@pytest.mark.parametrize(
    "combiner", COMBINERS, ids=lambda c: f"{c.name}-{getattr(c, 'by', '')}"
)
@pytest.mark.parametrize("policy", [ACCEPT_ONLY, BANDS], ids=["accept", "bands"])
def test_the_cascade_never_changes_the_decision(
    combiner: Combiner, policy: Policy
) -> None:
    rng = random.Random(7)
    calibrator = IsotonicCalibrator(x=(0.0, 0.5, 1.0), y=(0.05, 0.5, 0.9), n=10)
    for _ in range(300):
        signals = [
            Counting(f"s{i}", rng.choice([0.0, 1.0, None, rng.random()]), calls=i)
            for i in range(4)
        ]
        full = score_all(signals, OBS, None)
        cascade = Cascade(combiner, calibrator, policy)
        cut = score_cascade(cascade, signals, OBS, None)
        assert [r.name for r in cut] == [s.name for s in signals]
        expected = decide(policy, assess(full, combiner, calibrator)).action
        assert decide(policy, assess(cut, combiner, calibrator)).action == expected


def guard_signals() -> tuple[Counting, Counting, Counting]:
    return (
        Counting("judge", 0.0, calls=1),  # listed first, run last
        Counting("logprob", 0.95),
        Counting("hedging", 1.0, rel=0.05),
    )


def cascading(**extra: Any) -> Policy:
    return Policy.from_dict({"thresholds": {"accept": 0.6}, "cascade": True, **extra})


def test_the_guard_skips_a_judge_that_cannot_change_the_decision() -> None:
    judge, logprob, hedging = guard_signals()
    result = Guard([judge, logprob, hedging], cascading()).check(OBS)
    assert (judge.runs, logprob.runs, hedging.runs) == (0, 1, 1)
    assert skipped_by_cascade(result.assessment.signals) == ("judge",)
    assert [s.name for s in result.assessment.signals] == [
        "judge",
        "logprob",
        "hedging",
    ]
    # Span [1.95 / 3, 2.95 / 3] = [0.65, 0.98], all at or above accept 0.6.
    assert result.decision.action == "accept"
    assert result.confidence == pytest.approx(0.975)
    assert result.cost.llm_calls == 0


def test_cascade_skips_are_not_missing_evidence_under_fail_closed() -> None:
    judge, logprob, hedging = guard_signals()
    result = Guard([judge, logprob, hedging], cascading()).check(OBS)
    assert Policy.from_dict({"thresholds": {"accept": 0.6}}).on_missing_evidence == (
        "fail_closed"
    )
    assert result.assessment.missing == ()
    assert result.decision.reason == "confidence 0.97 ≥ accept 0.60: accept"


def test_the_guard_runs_the_judge_when_it_could_change_the_decision() -> None:
    judge, logprob, hedging = guard_signals()
    result = Guard(
        [judge, logprob, hedging], cascading(thresholds={"accept": 0.9})
    ).check(OBS)
    assert judge.runs == 1
    assert result.confidence == pytest.approx((0.0 + 0.95 + 1.0) / 3)
    assert result.decision.action == "abstain"


def test_without_the_flag_every_signal_runs() -> None:
    judge, logprob, hedging = guard_signals()
    result = Guard(
        [judge, logprob, hedging], Policy.from_dict({"thresholds": {"accept": 0.6}})
    ).check(OBS)
    assert (judge.runs, logprob.runs, hedging.runs) == (1, 1, 1)
    assert skipped_by_cascade(result.assessment.signals) == ()


def test_the_policy_file_turns_the_cascade_on() -> None:
    policy = Policy.from_yaml("thresholds: {accept: 0.6}\ncascade: true\n")
    assert policy.cascade is True
    assert Policy().cascade is False


async def test_the_async_guard_cascades_the_same_way() -> None:
    judge, logprob, hedging = guard_signals()
    result = await AsyncGuard([judge, logprob, hedging], cascading()).acheck(OBS)
    assert (judge.runs, logprob.runs, hedging.runs) == (0, 1, 1)
    assert skipped_by_cascade(result.assessment.signals) == ("judge",)
    assert result.decision.action == "accept"


def test_a_policy_carries_a_fitted_combiner_and_calibrator_into_the_guard() -> None:
    policy = Policy.from_dict(
        {
            "thresholds": {"accept": 0.5},
            "combiner": {
                "kind": "logistic",
                "intercept": -1.0,
                "coefficients": {"logprob": 2.0},
                "fill": {"logprob": 0.5},
            },
            "calibrator": {
                "kind": "isotonic",
                "x": [0.0, 1.0],
                "y": [0.0, 0.5],
                "n": 9,
            },
        }
    )
    result = Guard([Counting("logprob", 1.0)], policy).check(OBS)
    assert result.assessment.combiner == "logistic"
    raw = 1 / (1 + math.exp(-1.0))  # sigmoid(-1 + 2 * 1.0)
    assert result.confidence == pytest.approx(raw / 2)
    assert result.assessment.calibrated


def test_a_fitted_combiner_naming_an_unknown_signal_is_refused() -> None:
    from confguard.exceptions import UnknownComponentError

    policy = Policy.from_dict(
        {
            "thresholds": {"accept": 0.5},
            "combiner": {
                "kind": "logistic",
                "intercept": 0.0,
                "coefficients": {"judge": 1.0},
                "fill": {"judge": 0.5},
            },
        }
    )
    with pytest.raises(UnknownComponentError, match="signal \\(in policy combiner\\)"):
        Guard([Counting("logprob", 1.0)], policy)
