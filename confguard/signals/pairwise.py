"""Pairwise LLM judging with likelihood-aware aggregation (TrustJudge, 2025).

The judge sees both orders (first as A, then second as A); the second order's
labels are swapped back, so each order gives probabilities over {first, second,
tie} from the label token's top-k logprobs. An aggregator turns the two into one
verdict: `SumProbabilities` averages them and calls a tie when the tie is likelier
or the gap is within a tolerance; `LowerPerplexity` trusts the order the judge
was surer of.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from confguard.llm.base import Completion, GenerationRequest, Generator
from confguard.observation import Observation
from confguard.results import SignalResult
from confguard.signals._judge_prompts import pairwise_prompt
from confguard.signals._plans import complete
from confguard.signals.base import BaseSignal, DeclaredCost, Plan, arun_plan, run_plan

__all__ = [
    "LowerPerplexity",
    "OrderJudgement",
    "PairwiseAggregator",
    "PairwiseJudge",
    "PairwiseVerdict",
    "SumProbabilities",
    "order_judgement",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Outcome = Literal["first", "second", "tie"]
_LABELS: dict[str, Outcome] = {"A": "first", "B": "second", "tie": "tie"}
_OUTCOMES: tuple[Outcome, ...] = ("first", "second", "tie")
_SWAP: dict[Outcome, Outcome] = {"first": "second", "second": "first", "tie": "tie"}


class OrderJudgement(_Frozen):
    """One ordering's verdict, with labels already mapped back to first/second."""

    probs: dict[Outcome, float]
    perplexity: float = Field(ge=1.0)


class PairwiseVerdict(_Frozen):
    """Which of two answers is better, aggregated over both orders."""

    winner: Outcome
    probs: dict[Outcome, float]
    forward: OrderJudgement
    backward: OrderJudgement
    method: str


class PairwiseAggregator(Protocol):
    """Turns the two orders' judgements into one verdict."""

    def aggregate(
        self, forward: OrderJudgement, backward: OrderJudgement
    ) -> PairwiseVerdict:
        """One verdict from the forward and the (label-swapped) backward order."""
        ...


def _mean(forward: OrderJudgement, backward: OrderJudgement) -> dict[Outcome, float]:
    return {k: (forward.probs[k] + backward.probs[k]) / 2.0 for k in _OUTCOMES}


class SumProbabilities:
    """TrustJudge's bidirectional aggregation: a tie if the gap is within `tolerance`.

    Example:
        >>> SumProbabilities(tolerance=0.1).aggregate(forward, backward).winner
        'tie'
    """

    def __init__(self, tolerance: float = 0.1) -> None:
        self.tolerance = tolerance

    def aggregate(
        self, forward: OrderJudgement, backward: OrderJudgement
    ) -> PairwiseVerdict:
        """Average both orders; the larger side wins unless a tie is likelier/close."""
        probs = _mean(forward, backward)
        first, second = probs["first"], probs["second"]
        winner: Outcome = "first" if first > second else "second"
        if probs["tie"] >= max(first, second) or abs(first - second) <= self.tolerance:
            winner = "tie"
        return PairwiseVerdict(
            winner=winner, probs=probs, forward=forward, backward=backward,
            method=f"sum(tolerance={self.tolerance})",
        )  # fmt: skip


class LowerPerplexity:
    """Trust the order whose verdict the judge generated with lower perplexity.

    Example:
        >>> LowerPerplexity().aggregate(forward, backward).method
        'perplexity'
    """

    def aggregate(
        self, forward: OrderJudgement, backward: OrderJudgement
    ) -> PairwiseVerdict:
        """The likelier order's most probable outcome."""
        trusted = forward if forward.perplexity <= backward.perplexity else backward
        winner = max(_OUTCOMES, key=lambda k: trusted.probs[k])
        return PairwiseVerdict(
            winner=winner, probs=dict(trusted.probs), forward=forward,
            backward=backward, method="perplexity",
        )  # fmt: skip


def order_judgement(reply: Completion, swapped: bool) -> OrderJudgement | None:
    """Probabilities over {A, B, tie} from one reply, mapped back to first/second."""
    masses = _label_masses(reply)
    total = sum(masses.values())
    if total <= 0:
        return None
    probs: dict[Outcome, float] = {"first": 0.0, "second": 0.0, "tie": 0.0}
    for outcome, mass in masses.items():
        probs[_SWAP[outcome] if swapped else outcome] += mass / total
    steps = [t for t in reply.logprobs or () if t.token.strip()][:1]
    perplexity = math.exp(-sum(t.logprob for t in steps) / len(steps)) if steps else 1.0
    return OrderJudgement(probs=probs, perplexity=max(1.0, perplexity))


def _label_key(text: str) -> str:
    # Case matters for A and B (" a" is an article); any casing of "tie" is a tie.
    key = text.strip()
    return "tie" if key.lower() == "tie" else key


def _label_masses(reply: Completion) -> dict[Outcome, float]:
    step = next((t for t in reply.logprobs or () if t.token.strip()), None)
    if step is None:
        words = reply.text.strip().split()
        label = _LABELS.get(_label_key(words[0].strip(".,:")) if words else "")
        return {label: 1.0} if label else {}
    masses: dict[Outcome, float] = {}
    for alt in step.top_logprobs:
        label = _LABELS.get(_label_key(alt.token))
        if label:
            masses[label] = masses.get(label, 0.0) + math.exp(alt.logprob)
    return masses


class PairwiseJudge(BaseSignal):
    """Compare two answers in both orders (two calls) and aggregate.

    As a signal it compares the observation's answer with `obs.reference_answer`
    (or the first sample); confidence is P(answer wins) + P(tie) / 2.

    Example:
        >>> PairwiseJudge(default_generator()).compare("Q?", ["ctx"], "x", "y").winner
    """

    def __init__(
        self,
        generator: Generator,
        aggregator: PairwiseAggregator | None = None,
        *,
        top_logprobs: int = 20,
        name: str = "pairwise_judge",
    ) -> None:
        self.generator = generator
        self.aggregator = aggregator or SumProbabilities()
        self.top_logprobs, self.name = top_logprobs, name
        self.cost = DeclaredCost(llm_calls=2, relative=1.0)

    def compare(
        self, question: str, contexts: Sequence[str], first: str, second: str
    ) -> PairwiseVerdict:
        """Judge `first` against `second` in both orders."""
        plan = self._verdict_plan(question, contexts, first, second)
        return run_plan(plan, self.generator)[0]

    async def acompare(
        self, question: str, contexts: Sequence[str], first: str, second: str
    ) -> PairwiseVerdict:
        """Async twin of `compare`."""
        plan = self._verdict_plan(question, contexts, first, second)
        return (await arun_plan(plan, self.generator))[0]

    def _verdict_plan(
        self, question: str, contexts: Sequence[str], first: str, second: str
    ) -> Plan[PairwiseVerdict]:
        """The two label calls, forward then backward, and their aggregate."""
        forward = yield from complete(self._request(question, contexts, first, second))
        backward = yield from complete(self._request(question, contexts, second, first))
        return self.aggregator.aggregate(
            _judged(forward, swapped=False), _judged(backward, swapped=True)
        )

    def _request(
        self, question: str, contexts: Sequence[str], a: str, b: str
    ) -> GenerationRequest:
        prompt = pairwise_prompt(question, contexts, a, b)
        return GenerationRequest(prompt=prompt, max_tokens=2, top_k=self.top_logprobs)

    def _plan(self, obs: Observation) -> Plan[SignalResult]:
        other = _reference(obs)
        if other is None:
            return SignalResult.skipped(self.name, "no reference_answer and no samples")
        contexts = [c.text for c in obs.contexts]
        verdict = yield from self._verdict_plan(
            obs.question, contexts, obs.answer, other
        )
        return _pairwise_result(self.name, verdict)


def _judged(reply: Completion, swapped: bool) -> OrderJudgement:
    judged = order_judgement(reply, swapped)
    if judged is None:
        raise ValueError(f"pairwise judge reply {reply.text!r} has no A/B/tie label")
    return judged


def _reference(obs: Observation) -> str | None:
    reference = obs.reference_answer
    if reference is not None and reference.strip():
        return reference
    return obs.samples[0].text if obs.samples else None


def _pairwise_result(name: str, verdict: PairwiseVerdict) -> SignalResult:
    win = verdict.probs["first"] + verdict.probs["tie"] / 2.0
    return SignalResult(
        name=name,
        confidence=min(1.0, max(0.0, win)),
        raw=win,
        details=verdict.model_dump(mode="json"),
    )
