"""Every signal the presets may use, on every dev answer, from the call record.

Nothing here calls the model for a request `preset_calls.py` made: the real
pipelines and signals run through the recorded generator and replay. RCR's
evidence is kept whole, so its tuned parameters (plausibility centre and scale,
the trust floor) can be chosen later without running it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from preset_data import Run, group_of, sampler, split_of

from confguard.evaluation import grade
from confguard.evaluation.datasets import EvalItem
from confguard.evaluation.runner import GivenContexts
from confguard.observation import Observation
from confguard.rag import (
    ConfidentRAGPipeline,
    RAGPipeline,
    RetrievedAnswer,
    confident_observation,
)
from confguard.rag.selection import Selector, candidate_features
from confguard.results import SignalResult
from confguard.signals._faithfulness_rcr import (
    RCR,
    HigherConfidenceWins,
    Plausibility,
    RCRChoice,
    RCREvidence,
    _verdict,
)
from confguard.signals.agreement import MultiEmbeddingAgreement
from confguard.signals.base import Signal
from confguard.signals.consistency import (
    Deg,
    Ecc,
    EigV,
    NumSet,
    PerplexityConsistency,
    SelfConsistency,
    default_similarity,
)
from confguard.signals.faithfulness import SituatedFaithfulness, to_signal_result
from confguard.signals.retrieval import AnswerSupport, RetrievalSupport
from confguard.signals.token import token_signals

TOKEN = (
    "avg_logprob",
    "min_token_prob",
    "entropy",
    "gini",
    "self_certainty",
    "distributional_perplexity",
)
CONSISTENCY = (
    "numset",
    "deg",
    "ecc",
    "eigv",
    "self_consistency",
    "perplexity_consistency",
)
RCR_NAME = "situated_rcr"


@dataclass
class Candidates:
    """Pass 1 of a retrieval item: each embedder's candidate and whether it is right."""

    item: EvalItem
    candidates: tuple[RetrievedAnswer, ...]
    features: list[dict[str, float]]
    exact: list[bool]
    correct: list[bool]


@dataclass
class Answer:
    """One preset's answer to one item, every signal on it, and its label."""

    item: EvalItem
    dataset: str
    split: str
    group: str
    answer: str
    correct: bool
    exact: bool
    results: dict[str, SignalResult] = field(default_factory=dict)
    rcr: RCREvidence | None = None
    rcr_context: str = ""


def candidates_of(run: Run, item: EvalItem) -> Candidates:
    """Every embedder's candidate answer, replayed, with its selector features."""
    result = ConfidentRAGPipeline(run.generator, run.indices).run(item.question)
    grades = [grade(c.answer, item.answers) for c in result.candidates]
    return Candidates(
        item=item,
        candidates=result.candidates,
        features=candidate_features(result.candidates),
        exact=[g.exact_match for g in grades],
        correct=[g.correct for g in grades],
    )


def fast_observation(run: Run, item: EvalItem) -> Observation:
    """The `fast` preset's answer: one retrieval with the first embedder."""
    if run.contexts == "given":
        return GivenContexts(run.generator).answer(item)
    return RAGPipeline(run.generator, run.indices[0])(item.question)


def selected_observation(
    run: Run, item: EvalItem, found: Candidates | None, selector: Selector
) -> Observation:
    """`balanced`/`thorough`'s answer: the selector's pick among the candidates."""
    if run.contexts == "given" or found is None:
        return GivenContexts(run.generator).answer(item)
    chosen = selector.select(item.question, found.candidates)
    return confident_observation(item.question, found.candidates, chosen)


class _Recording:
    """The default RCR rule, keeping the evidence it was shown."""

    def __init__(self) -> None:
        self.evidence: RCREvidence | None = None

    def choose(self, evidence: RCREvidence) -> RCRChoice:
        self.evidence = evidence
        return HigherConfidenceWins().choose(evidence)


def cheap_signals(retrieval: bool) -> list[Signal]:
    """Token metrics, retrieval and answer support: no model call."""
    signals: list[Signal] = [token_signals()[n]() for n in TOKEN]
    if retrieval:
        signals.append(RetrievalSupport())
    return [*signals, AnswerSupport(), MultiEmbeddingAgreement()]


def consistency_signals(run: Run) -> list[Signal]:
    """The dispersion measures and RPC over the presets' K seeded samples."""
    drawn, similarity = sampler(run.generator), default_similarity()
    kinds = (NumSet, Deg, Ecc, EigV, SelfConsistency, PerplexityConsistency)
    return [k(similarity, drawn, draw=True) for k in kinds]


def answer_of(
    run: Run, item: EvalItem, obs: Observation, signals: Sequence[Signal]
) -> Answer:
    """Every signal on `obs`, RCR's evidence, and the label."""
    graded = grade(obs.answer, item.answers)
    out = Answer(
        item=item,
        dataset="conflicts" if run.contexts == "given" else "squad",
        split=split_of(item),
        group=group_of(item),
        answer=obs.answer,
        correct=graded.correct,
        exact=graded.exact_match,
    )
    for signal in signals:
        out.results[signal.name] = signal.score(obs)
    recording = _Recording()
    rcr = SituatedFaithfulness(run.generator, mode=RCR(rule=recording), name=RCR_NAME)
    out.results[RCR_NAME] = rcr.score(obs)
    out.rcr = recording.evidence
    out.rcr_context = rcr.context_of([c.text for c in obs.contexts])
    return out


def rcr_result(
    answer: Answer, center: float, scale: float, min_trust: float
) -> SignalResult:
    """RCR's result on `answer` had it run with these parameters (no model call)."""
    e = answer.rcr
    if e is None:
        return answer.results[RCR_NAME]
    trust = None if e.plausibility is None else _trust(e.plausibility, center, scale)
    e = e.model_copy(update={"context_trust": trust})
    choice = HigherConfidenceWins(min_trust=min_trust).choose(e)
    return to_signal_result(
        RCR_NAME, _verdict("rcr", choice, e), answer.answer, answer.rcr_context
    )


def _trust(raw: float, center: float, scale: float) -> float:
    return Plausibility(center=center, scale=scale).trust(raw)


def confidences(results: dict[str, SignalResult]) -> dict[str, Any]:
    """Signal name -> confidence (None where the signal was not ok)."""
    return {n: (r.confidence if r.ok else None) for n, r in results.items()}
