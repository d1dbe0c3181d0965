"""Claim signals: evidence about one claim of a long answer.

- `ClaimTokenConfidence`: a token metric over the claim's own tokens only.
- `ClaimLexicalSupport`: the share of the claim's words found in one context.
- `ClaimContextSupport`: the best-matching context sentence by embedding cosine.
- `ClaimSampleAgreement`: how well sampled answers say the same (obs.samples).
- `ClaimForcedLikelihood` / `ClaimContextLift`: teacher-forced scoring of the claim
  by a `ContinuationScorer`, with the context (likelihood) and with against without
  it (lift: a claim the context supports gets likelier when the context is shown).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from confguard.claims.base import BaseClaimSignal, with_calls
from confguard.claims.split import SentenceSplitter, Splitter
from confguard.embeddings.base import Embedder
from confguard.llm.base import ContinuationScorer, ScoringRequest
from confguard.observation import Observation
from confguard.results import Claim, SignalResult
from confguard.signals.base import DeclaredCost
from confguard.signals.retrieval import ramp
from confguard.signals.token import AverageLogprob, TokenSignal
from confguard.text import answer_tokens


class ClaimTokenConfidence(BaseClaimSignal):
    """A token metric (default: average logprob) over the claim's own tokens.

    Example:
        >>> ClaimTokenConfidence().score_claim(claim, obs).confidence
    """

    cost = DeclaredCost(inline=True)

    def __init__(self, metric: TokenSignal | None = None, name: str | None = None):
        self.metric = metric or AverageLogprob()
        self.name = name or f"claim_{self.metric.name}"

    def _score_claim(self, claim: Claim, obs: Observation) -> SignalResult:
        if obs.logprobs is None:
            return SignalResult.skipped(self.name, "model exposes no logprobs")
        if claim.token_start is None or claim.token_end is None:
            return SignalResult.skipped(self.name, "no tokens align with the claim")
        tokens = obs.logprobs[claim.token_start : claim.token_end]
        found = self.metric.score_tokens(tokens)
        return found.model_copy(update={"name": self.name})


def _lexical_share(claim: str, text: str) -> float:
    words = answer_tokens(claim)
    if not words:
        return 0.0
    found = set(answer_tokens(text))
    return sum(w in found for w in words) / len(words)


class ClaimLexicalSupport(BaseClaimSignal):
    """The share of the claim's normalised words found in its best context."""

    cost = DeclaredCost(relative=0.02, inline=True)

    def __init__(self, name: str = "claim_lexical") -> None:
        self.name = name

    def _score_claim(self, claim: Claim, obs: Observation) -> SignalResult:
        if not obs.contexts:
            return SignalResult.skipped(self.name, "no retrieved contexts")
        share = max(_lexical_share(claim.text, c.text) for c in obs.contexts)
        return SignalResult(name=self.name, confidence=share, raw=share)


class _Sentences:
    """Sentences of texts and their embeddings, the last set kept (every claim of
    an answer reads the same contexts, so they are split and embedded once)."""

    def __init__(self, embedder: Embedder, splitter: Splitter) -> None:
        self.embedder, self.splitter = embedder, splitter
        self._last: tuple[tuple[str, ...], list[str], np.ndarray] | None = None

    def of(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        key = tuple(texts)
        if self._last is not None and self._last[0] == key:
            return self._last[1], self._last[2]
        sentences = [t[s:e] for t in texts for s, e in self.splitter.spans(t)]
        vectors = np.asarray(self.embedder.embed_documents(sentences or [""]))
        self._last = (key, sentences, vectors)
        return sentences, vectors


def _best(
    embedder: Embedder, claim: str, sentences: list[str], vectors: np.ndarray
) -> tuple[float, str]:
    query = np.asarray(embedder.embed_query(claim)).reshape(-1)
    cosines = vectors @ query
    at = int(np.argmax(cosines))
    return float(cosines[at]), sentences[at] if sentences else ""


class SentenceSignal(BaseClaimSignal):
    """Base of the claim signals that read the contexts sentence by sentence: the
    embedder, a ramp from `low` (0) to `high` (1), and the contexts split and
    embedded once per answer (`prepare`, or on the first claim); a subclass
    implements `_score_sentences`."""

    cost = DeclaredCost(relative=0.5)

    def __init__(
        self,
        embedder: Embedder,
        *,
        low: float,
        high: float,
        splitter: Splitter | None,
        name: str,
    ) -> None:
        ramp(low, low, high)  # validates the bounds at construction
        self.embedder, self.low, self.high, self.name = embedder, low, high, name
        self.splitter = splitter or SentenceSplitter()
        self._sentences = _Sentences(embedder, self.splitter)

    def prepare(self, obs: Observation) -> None:
        """Split and embed the contexts now (a stream does it while generating)."""
        if obs.contexts:
            self._sentences.of([c.text for c in obs.contexts])

    def _score_claim(self, claim: Claim, obs: Observation) -> SignalResult:
        if not obs.contexts:
            return SignalResult.skipped(self.name, "no retrieved contexts")
        sentences, vectors = self._sentences.of([c.text for c in obs.contexts])
        return self._score_sentences(claim, obs, sentences, vectors)

    def _score_sentences(
        self, claim: Claim, obs: Observation, sentences: list[str], vectors: np.ndarray
    ) -> SignalResult:
        raise NotImplementedError(f"{type(self).__name__} must implement it")


class ClaimContextSupport(SentenceSignal):
    """The best-matching context sentence's cosine to the claim, on a ramp.

    `low`/`high` bound the ramp (0 at or below `low`, 1 at or above `high`); the
    best sentence is in `details["sentence"]`.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        low: float = 0.3,
        high: float = 0.8,
        splitter: Splitter | None = None,
        name: str = "claim_context_support",
    ) -> None:
        super().__init__(embedder, low=low, high=high, splitter=splitter, name=name)

    def _score_sentences(
        self, claim: Claim, obs: Observation, sentences: list[str], vectors: np.ndarray
    ) -> SignalResult:
        cosine, sentence = _best(self.embedder, claim.text, sentences, vectors)
        return SignalResult(
            name=self.name,
            confidence=ramp(cosine, self.low, self.high),
            raw=cosine,
            details={"sentence": sentence, "low": self.low, "high": self.high},
        )


class ClaimSampleAgreement(BaseClaimSignal):
    """How well the sampled answers say the claim: mean over samples of the best
    sentence's cosine (with an embedder) or word share (without one)."""

    cost = DeclaredCost(relative=0.4)

    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        splitter: Splitter | None = None,
        name: str = "claim_sample_agreement",
    ) -> None:
        self.embedder, self.name = embedder, name
        self.splitter = splitter or SentenceSplitter()

    def _score_claim(self, claim: Claim, obs: Observation) -> SignalResult:
        if not obs.samples:
            return SignalResult.skipped(self.name, "the observation has no samples")
        scores = [self._agreement(claim.text, s.text) for s in obs.samples]
        value = min(1.0, max(0.0, float(np.mean(scores))))
        return SignalResult(
            name=self.name, confidence=value, raw=value, details={"per_sample": scores}
        )

    def _agreement(self, claim: str, sample: str) -> float:
        if self.embedder is None:
            return _lexical_share(claim, sample)
        sentences = [sample[s:e] for s, e in self.splitter.spans(sample)] or [""]
        vectors = np.asarray(self.embedder.embed_documents(sentences))
        return max(0.0, _best(self.embedder, claim, sentences, vectors)[0])


def forced_prompt(obs: Observation, claim: Claim, with_context: bool) -> str:
    """The prompt a claim is teacher-forced after: contexts (or none), the
    question, and the answer up to the claim."""
    head = ""
    if with_context and obs.contexts:
        head = "Context:\n" + "\n\n".join(c.text for c in obs.contexts) + "\n\n"
    before = obs.answer[: claim.start]
    return f"{head}Question: {obs.question}\nAnswer: {before}"


def _mean_logprob(scorer: ContinuationScorer, prompt: str, claim: str) -> float:
    tokens = scorer.score_continuation(
        ScoringRequest(prompt=prompt, continuation=claim)
    )
    if not tokens:
        raise ValueError("the scorer returned no tokens for the claim")
    return float(np.mean([t.logprob for t in tokens]))


class ClaimForcedLikelihood(BaseClaimSignal):
    """The model's geometric-mean token probability of the claim, given the
    context, the question and the answer before it (teacher-forced)."""

    cost = DeclaredCost(llm_calls=1)

    def __init__(
        self, scorer: ContinuationScorer, name: str = "claim_forced_likelihood"
    ) -> None:
        self.scorer, self.name = scorer, name

    def _score_claim(self, claim: Claim, obs: Observation) -> SignalResult:
        if not obs.contexts:
            return SignalResult.skipped(self.name, "no retrieved contexts")
        prompt = forced_prompt(obs, claim, with_context=True)
        mean = _mean_logprob(self.scorer, prompt, claim.text)
        result = SignalResult(name=self.name, confidence=math.exp(mean), raw=mean)
        return with_calls(result, 1, 0)


def _sigmoid(z: float) -> float:
    # Stable both ways: exp of a large positive number would overflow.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    return math.exp(z) / (1.0 + math.exp(z))


class ClaimContextLift(BaseClaimSignal):
    """How much likelier the context makes the claim: the mean token logprob with
    the context minus without it, through a logistic `sigmoid(scale * lift)`."""

    cost = DeclaredCost(llm_calls=2)

    def __init__(
        self,
        scorer: ContinuationScorer,
        *,
        scale: float = 2.0,
        name: str = "claim_context_lift",
    ) -> None:
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.scorer, self.scale, self.name = scorer, scale, name

    def _score_claim(self, claim: Claim, obs: Observation) -> SignalResult:
        if not obs.contexts:
            return SignalResult.skipped(self.name, "no retrieved contexts")
        with_ctx = _mean_logprob(
            self.scorer, forced_prompt(obs, claim, True), claim.text
        )
        without = _mean_logprob(
            self.scorer, forced_prompt(obs, claim, False), claim.text
        )
        lift = with_ctx - without
        result = SignalResult(
            name=self.name,
            confidence=_sigmoid(self.scale * lift),
            raw=lift,
            details={"with_context": with_ctx, "without_context": without},
        )
        return with_calls(result, 2, 0)


__all__ = [
    "ClaimContextLift",
    "ClaimContextSupport",
    "ClaimForcedLikelihood",
    "ClaimLexicalSupport",
    "ClaimSampleAgreement",
    "ClaimTokenConfidence",
    "forced_prompt",
]
