"""Claim signals that ask whether a claim answers the question, not whether it is true.

A claim can be supported by the context word for word and still be wrong: a true
sentence of the passage that answers something else. Support and likelihood do
not see that; these two signals do.

- `ClaimQuestionLift`: how much likelier the model finds the claim when the
  question it answers is asked than under a generic question, with the same
  context (pointwise mutual information between claim and question, summed over
  the claim's tokens).
- `ClaimQuestionRelevance`: the context sentence that states the claim, compared
  with the sentence the question points at (embedding cosine to the question).

A question of several parts ("Who founded it? When?") is split into its
sentences, and each claim is held to the part it answers: the one sharing most
words with the claim and the answer sentence before it (`question_part`).
"""

from __future__ import annotations

import numpy as np

from confguard.claims.base import BaseClaimSignal, with_calls
from confguard.claims.signals import SentenceSignal, _lexical_share, _sigmoid
from confguard.claims.split import SentenceSplitter, Splitter
from confguard.embeddings.base import Embedder
from confguard.llm.base import ContinuationScorer, ScoringRequest
from confguard.observation import Observation
from confguard.results import Claim, SignalResult
from confguard.signals.base import DeclaredCost
from confguard.signals.retrieval import ramp
from confguard.text import content_tokens

GENERIC_QUESTION = "What does the context say?"
"""The question a claim's likelihood is compared against: asks for nothing."""


def question_part(obs: Observation, claim: Claim, splitter: Splitter) -> str:
    """The part of `obs.question` that `claim` answers.

    One question: itself. Several (split by `splitter`): the one whose content
    words (`confguard.text.content_tokens`) are most found in the claim and the
    answer sentence just before it; none found, the whole question.

    Example:
        >>> obs = Observation(question="Who won? When?", answer="In 2016.")
        >>> question_part(obs, Claim(index=0, text="In 2016.", start=0, end=8),
        ...               SentenceSplitter())
        'When?'
    """
    parts = [obs.question[s:e] for s, e in splitter.spans(obs.question)]
    if len(parts) <= 1:
        return obs.question.strip()
    before = obs.answer[: claim.start]
    previous = [before[s:e] for s, e in splitter.spans(before)]
    window = " ".join([*previous[-1:], claim.text])
    found = set(content_tokens(window))
    shares = [_content_share(p, found) for p in parts]
    best = int(np.argmax(shares))
    return parts[best] if shares[best] > 0 else obs.question.strip()


def _content_share(part: str, found: set[str]) -> float:
    words = content_tokens(part)
    return sum(w in found for w in words) / len(words) if words else 0.0


def _context_head(obs: Observation) -> str:
    return "Context:\n" + "\n\n".join(c.text for c in obs.contexts) + "\n\n"


def _sum_logprob(scorer: ContinuationScorer, prompt: str, claim: str) -> float:
    tokens = scorer.score_continuation(
        ScoringRequest(prompt=prompt, continuation=claim)
    )
    if not tokens:
        raise ValueError("the scorer returned no tokens for the claim")
    return float(sum(t.logprob for t in tokens))


class ClaimQuestionLift(BaseClaimSignal):
    """Log-likelihood of the claim under the question it answers minus under a
    generic question (same context), through `sigmoid(scale * lift)`.

    A claim that answers what was asked gets likelier when it is asked; a true
    but irrelevant sentence does not. The part of the question used is in
    `details["question"]`.

    Example:
        >>> ClaimQuestionLift(LocalGenerator()).score_claim(claim, obs).confidence
    """

    cost = DeclaredCost(llm_calls=2)

    def __init__(
        self,
        scorer: ContinuationScorer,
        *,
        scale: float = 0.5,
        generic: str = GENERIC_QUESTION,
        splitter: Splitter | None = None,
        name: str = "claim_question_lift",
    ) -> None:
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        if not generic.strip():
            raise ValueError("generic must be a question, got an empty string")
        self.scorer, self.scale, self.generic, self.name = scorer, scale, generic, name
        self.splitter = splitter or SentenceSplitter()

    def _score_claim(self, claim: Claim, obs: Observation) -> SignalResult:
        if not obs.contexts:
            return SignalResult.skipped(self.name, "no retrieved contexts")
        question = question_part(obs, claim, self.splitter)
        head = _context_head(obs)
        asked = _sum_logprob(
            self.scorer, f"{head}Question: {question}\nAnswer: ", claim.text
        )
        generic = _sum_logprob(
            self.scorer, f"{head}Question: {self.generic}\nAnswer: ", claim.text
        )
        lift = asked - generic
        result = SignalResult(
            name=self.name,
            confidence=_sigmoid(self.scale * lift),
            raw=lift,
            details={"question": question, "asked": asked, "generic": generic},
        )
        return with_calls(result, 2, 0)


class ClaimQuestionRelevance(SentenceSignal):
    """How close the context sentence stating the claim is to the question, against
    the closest sentence of all: cosine(its sentence, question) minus the best
    cosine of any context sentence (0 when the claim comes from the sentence the
    question points at), on a ramp from `low` (0) to `high` (1).

    The claim's sentence is the one sharing most of its words; with none shared
    (a paraphrase), the closest to the claim by embedding.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        low: float = -0.3,
        high: float = 0.0,
        splitter: Splitter | None = None,
        name: str = "claim_question_relevance",
    ) -> None:
        super().__init__(embedder, low=low, high=high, splitter=splitter, name=name)

    def _score_sentences(
        self, claim: Claim, obs: Observation, sentences: list[str], vectors: np.ndarray
    ) -> SignalResult:
        if not sentences:
            return SignalResult.skipped(self.name, "the contexts have no sentences")
        question = question_part(obs, claim, self.splitter)
        query = np.asarray(self.embedder.embed_query(question)).reshape(-1)
        to_question = vectors @ query
        stating = self._stating(claim.text, sentences, vectors)
        gap = float(max(to_question[i] for i in stating) - to_question.max())
        at = stating[int(np.argmax([to_question[i] for i in stating]))]
        return SignalResult(
            name=self.name,
            confidence=ramp(gap, self.low, self.high),
            raw=gap,
            details={"question": question, "sentence": sentences[at]},
        )

    def _stating(
        self, claim: str, sentences: list[str], vectors: np.ndarray
    ) -> list[int]:
        shares = [_lexical_share(claim, s) for s in sentences]
        top = max(shares)
        if top > 0:
            return [i for i, s in enumerate(shares) if s == top]
        to_claim = vectors @ np.asarray(self.embedder.embed_query(claim)).reshape(-1)
        return [int(np.argmax(to_claim))]


__all__ = [
    "GENERIC_QUESTION",
    "ClaimQuestionLift",
    "ClaimQuestionRelevance",
    "question_part",
]
