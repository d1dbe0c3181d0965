"""One fitted combination per kind of request: the stratified combiner.

Answers over retrieved passages and answers over passages a caller supplies are
told right from wrong by different evidence, so a guard that serves both can carry
one logistic fit for each, picked by whether the `retrieval` signal is ok (it is
exactly when the contexts carry retrieval scores). Run it:

    python examples/stratified.py

It prints, for one confident answer that its passage does not contain, the
decision over a retrieved passage (that fit trusts the tokens) and over a supplied
one (that fit wants the answer in the passage), and which fit made it.
"""

from __future__ import annotations

from confguard import Guard, Policy
from confguard.observation import Context, Observation, TokenLogprob
from confguard.scoring.aggregate import LogisticCombiner
from confguard.scoring.stratified import StratifiedCombiner
from confguard.signals import AnswerSupport, RetrievalSupport
from confguard.signals.token import token_signals

# Fitted by scripts/fit_presets.py in practice; set by hand here to show the shape.
retrieved = LogisticCombiner(
    intercept=-3.0,
    coefficients={"min_token_prob": 4.0, "answer_support": 1.0},
    fill={"min_token_prob": 0.5, "answer_support": 0.8},
)
supplied = LogisticCombiner(
    intercept=-4.0,
    coefficients={"min_token_prob": 1.0, "answer_support": 4.0},
    fill={"min_token_prob": 0.5, "answer_support": 0.8},
)
policy = Policy.from_dict(
    {
        "thresholds": {"accept": 0.6, "annotate": 0.4},
        "on_missing_evidence": "ignore",
        "combiner": StratifiedCombiner(
            by="retrieval", when_ok=retrieved, otherwise=supplied
        ).model_dump(mode="json"),
    }
)
signals = [token_signals()["min_token_prob"](), RetrievalSupport(), AnswerSupport()]
guard = Guard(signals, policy)


def observation(score: float | None) -> Observation:
    passage = "Super Bowl 50 was played at Levi's Stadium in Santa Clara."
    return Observation(
        question="Who won Super Bowl 50?",
        answer="the Denver Broncos",
        logprobs=tuple(
            TokenLogprob(token=t, logprob=lp)
            for t, lp in (("the", -0.05), (" Denver", -0.1), (" Broncos", -0.02))
        ),
        contexts=[Context(text=passage, score=score)],
    )


for label, score in (("retrieved passage", 0.71), ("supplied passage", None)):
    result = guard.check(observation(score))
    print(
        f"{label:18} {result.decision.action:9} {result.assessment.confidence:.2f}  "
        f"{result.assessment.reasons[0]}"
    )
