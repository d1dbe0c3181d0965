"""Sampling consistency: how much repeated answers to the same question agree.

Black-box measures from Lin, Trivedi & Sun (2024), "Generating with Confidence:
Uncertainty Quantification for Black-box Large Language Models" (TMLR), over a
similarity matrix W of m answers (the observed answer is node 0, the samples
follow), with degree matrix D and normalised Laplacian L = D^-1/2 (D - W) D^-1/2:

- ``NumSet``: the number of semantic sets k (greedy clustering at the similarity's
  threshold); confidence = (m - k) / (m - 1).
- ``Deg``: U = trace(mI - D) / m^2; the answer's confidence C = D_00 / m.
- ``Ecc``: rows v_j of L's eigenvectors with eigenvalue below 0.9, centred;
  U = ||[v'_1 .. v'_m]||_F; confidence = 1 - ||v'_0|| (each row norm is < 1).
- ``EigV``: U = sum_k max(0, 1 - lambda_k), a soft count of meanings in [1, m];
  confidence = (m - U) / (m - 1).

Plus self-consistency (Wang et al., 2023): the share of samples in the answer's
semantic set; and perplexity consistency (RPC; Zhou et al., 2025, "Bridging
Internal Probability and Self-Consistency"): the summed sequence probability of
the distinct sampled answers in the answer's set.

Samples come from ``Observation.samples`` when the pipeline collected them (no
extra call), else from a ``Sampler`` (K calls). `with_samples` draws them once
for several signals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from confguard.llm.base import Completion, Generator
from confguard.observation import Observation, Sample
from confguard.rag.pipeline import completion_prompt
from confguard.results import Cost, SignalResult
from confguard.signals.base import BaseSignal, DeclaredCost
from confguard.similarity import (
    ECC_EIGENVALUE_THRESHOLD,
    Matrix,
    Similarity,
    degree,
    eccentricity,
    eigenvalue_uncertainty,
    semantic_sets,
)
from confguard.text import normalize_answer

__all__ = [
    "Deg",
    "Ecc",
    "EigV",
    "GeneratorSampler",
    "NumSet",
    "PerplexityConsistency",
    "Sampler",
    "SelfConsistency",
    "awith_samples",
    "with_samples",
]


def _spread_confidence(count: float, m: int) -> float:
    """Map a count of meanings in [1, m] to a confidence in [0, 1]."""
    return min(1.0, max(0.0, (m - count) / (m - 1)))


# --- where the samples come from -----------------------------------------------


@runtime_checkable
class Sampler(Protocol):
    """Draws K extra answers for an observation's question."""

    k: int

    def draw(self, obs: Observation) -> tuple[Sample, ...]:
        """K answers to `obs.question`."""
        ...

    async def adraw(self, obs: Observation) -> tuple[Sample, ...]:
        """Async twin of `draw`."""
        ...


def rag_prompt(obs: Observation) -> str:
    """The 2-shot Context / Question / Answer prompt the local RAG answers with."""
    return completion_prompt(obs.question, [c.text for c in obs.contexts])


class GeneratorSampler:
    """K temperature samples from a generator, each with its token logprobs.

    Example:
        >>> sampler = GeneratorSampler(default_generator(), k=5, temperature=0.7)
        >>> [s.text for s in sampler.draw(obs)]
    """

    def __init__(
        self,
        generator: Generator,
        k: int = 5,
        *,
        temperature: float = 0.7,
        prompt: Callable[[Observation], str] = rag_prompt,
        max_tokens: int = 24,
        stop: Sequence[str] = ("\n",),
        seed: int | None = None,
    ) -> None:
        if k < 1:
            raise ValueError(f"a sampler needs k >= 1, got {k}")
        if temperature <= 0:
            raise ValueError(f"sampling needs temperature > 0, got {temperature}")
        self.generator, self.k, self.temperature = generator, k, temperature
        self.prompt, self.max_tokens, self.stop, self.seed = (
            prompt,
            max_tokens,
            stop,
            seed,
        )

    def _options(self) -> dict[str, Any]:
        return {
            "n": self.k,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": tuple(self.stop),
            "seed": self.seed,
        }

    def draw(self, obs: Observation) -> tuple[Sample, ...]:
        """Draw K samples."""
        return _samples(self.generator.generate(self.prompt(obs), **self._options()))

    async def adraw(self, obs: Observation) -> tuple[Sample, ...]:
        """Async twin of `draw`."""
        completions = await self.generator.agenerate(
            self.prompt(obs), **self._options()
        )
        return _samples(completions)


def _samples(completions: Sequence[Completion]) -> tuple[Sample, ...]:
    return tuple(
        Sample(text=c.text.strip(), logprobs=c.logprobs or ()) for c in completions
    )


def with_samples(obs: Observation, sampler: Sampler) -> Observation:
    """The observation with K freshly drawn samples, so several signals share them.

    Example:
        >>> obs = with_samples(obs, GeneratorSampler(default_generator(), k=5))
    """
    return obs.model_copy(update={"samples": obs.samples + sampler.draw(obs)})


async def awith_samples(obs: Observation, sampler: Sampler) -> Observation:
    """Async twin of `with_samples`."""
    drawn = await sampler.adraw(obs)
    return obs.model_copy(update={"samples": obs.samples + drawn})


# --- the signals -----------------------------------------------------------------


def default_similarity() -> Similarity:
    """Cosine similarity of the embedded MiniLM model (loaded on first use)."""
    from confguard.embeddings import get_embedder
    from confguard.similarity import EmbeddingSimilarity

    return EmbeddingSimilarity(get_embedder("minilm"))


class _Consistency(BaseSignal):
    """Shared shell: gather samples, build W, check it, hand it to `_measure`."""

    needs_logprobs = False

    def __init__(
        self,
        similarity: Similarity | None = None,
        sampler: Sampler | None = None,
        name: str | None = None,
    ) -> None:
        self._similarity = similarity
        self.sampler = sampler
        if name is not None:
            self.name = name
        calls = 0 if sampler is None else sampler.k
        pair_calls = 0 if similarity is None else similarity.llm_calls_per_pair
        pairs = calls * (calls + 1) // 2  # (answer + K samples) choose 2, at most
        self.cost = DeclaredCost(llm_calls=calls + pair_calls * pairs, relative=0.5)

    @property
    def similarity(self) -> Similarity:
        """The similarity strategy (the MiniLM default is built on first use)."""
        if self._similarity is None:
            self._similarity = default_similarity()
        return self._similarity

    def _score(self, obs: Observation) -> SignalResult:
        drawn = self._draw(obs)
        problem = self._problem(obs, drawn)
        if problem is not None:
            return problem
        texts = [obs.answer, *(s.text for s in _usable(obs, drawn))]
        return self._finish(
            obs, drawn, texts, self.similarity.matrix(texts, obs.question)
        )

    async def ascore(self, obs: Observation) -> SignalResult:
        """Async twin of `score`: samples and similarities are awaited."""
        start = time.perf_counter()
        try:
            result = await self._ascore(obs)
        except Exception as exc:  # a signal must never take the request down
            result = SignalResult.failed(self.name, exc)
        cost = result.cost.model_copy(update={"seconds": time.perf_counter() - start})
        return result.model_copy(update={"cost": cost})

    async def _ascore(self, obs: Observation) -> SignalResult:
        drawn = await self._adraw(obs)
        problem = self._problem(obs, drawn)
        if problem is not None:
            return problem
        texts = [obs.answer, *(s.text for s in _usable(obs, drawn))]
        w = await self.similarity.amatrix(texts, obs.question)
        return self._finish(obs, drawn, texts, w)

    def _draw(self, obs: Observation) -> tuple[Sample, ...]:
        if obs.samples or self.sampler is None:
            return ()
        return self.sampler.draw(obs)

    async def _adraw(self, obs: Observation) -> tuple[Sample, ...]:
        if obs.samples or self.sampler is None:
            return ()
        return await self.sampler.adraw(obs)

    def _problem(
        self, obs: Observation, drawn: tuple[Sample, ...]
    ) -> SignalResult | None:
        samples = obs.samples or drawn
        if not samples:
            return SignalResult.skipped(
                self.name, "no samples in the observation and no sampler to draw them"
            )
        if not _usable(obs, drawn):
            return SignalResult.skipped(
                self.name, f"all {len(samples)} samples are empty", k=len(samples)
            )
        if self.needs_logprobs and any(not s.logprobs for s in _usable(obs, drawn)):
            return SignalResult.skipped(self.name, "samples carry no token logprobs")
        return None

    def _finish(
        self, obs: Observation, drawn: tuple[Sample, ...], texts: list[str], w: Matrix
    ) -> SignalResult:
        bad = _matrix_problem(w, len(texts))
        if bad is not None:
            return SignalResult.failed(self.name, bad)
        w = np.clip(np.asarray(w, dtype=np.float64), 0.0, 1.0)
        result = self._measure(obs, _usable(obs, drawn), w)
        details = {
            **result.details,
            "k": len(obs.samples or drawn),
            "empty_samples": len(obs.samples or drawn) - len(_usable(obs, drawn)),
            "similarity": self.similarity.name,
        }
        cost = Cost(llm_calls=len(drawn) + self._pair_calls(texts))
        return result.model_copy(update={"details": details, "cost": cost})

    def _pair_calls(self, texts: list[str]) -> int:
        distinct = len({normalize_answer(t) for t in texts})
        return self.similarity.llm_calls_per_pair * distinct * (distinct - 1) // 2

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> SignalResult:
        raise NotImplementedError


def _usable(obs: Observation, drawn: tuple[Sample, ...]) -> tuple[Sample, ...]:
    return tuple(s for s in (obs.samples or drawn) if s.text.strip())


def _matrix_problem(w: Matrix, size: int) -> str | None:
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (size, size):
        return f"similarity matrix has shape {w.shape}, expected ({size}, {size})"
    bad = np.argwhere(~np.isfinite(w))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        return (
            f"similarity matrix has {len(bad)} non-finite value(s), first at ({i}, {j})"
        )
    return None


class NumSet(_Consistency):
    """The number of distinct meanings among the answer and its samples.

    Example:
        >>> NumSet(JaccardSimilarity()).score(make_observation(samples=["Paris"] * 5))
    """

    name = "numset"

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> SignalResult:
        labels = semantic_sets(w, self.similarity.threshold)
        count = len(set(labels))
        return SignalResult(
            name=self.name,
            confidence=_spread_confidence(count, len(w)),
            raw=float(count),
            details={"sets": labels},
        )


class Deg(_Consistency):
    """Degree: the answer's mean similarity to all answers, C = D_00 / m.

    Example:
        >>> Deg(JaccardSimilarity()).score(obs).confidence
    """

    name = "deg"

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> SignalResult:
        uncertainty, confidences = degree(w)
        return SignalResult(
            name=self.name,
            confidence=min(1.0, max(0.0, float(confidences[0]))),
            raw=uncertainty,
            details={"uncertainty": uncertainty},
        )


class Ecc(_Consistency):
    """Eccentricity: how far the answer sits from the centre of the spectral embedding.

    Example:
        >>> Ecc(JaccardSimilarity()).score(obs).confidence
    """

    name = "ecc"

    def __init__(
        self,
        similarity: Similarity | None = None,
        sampler: Sampler | None = None,
        name: str | None = None,
        eigenvalue_threshold: float = ECC_EIGENVALUE_THRESHOLD,
    ) -> None:
        super().__init__(similarity, sampler, name)
        self.eigenvalue_threshold = eigenvalue_threshold

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> SignalResult:
        uncertainty, distances = eccentricity(w, self.eigenvalue_threshold)
        return SignalResult(
            name=self.name,
            confidence=min(1.0, max(0.0, 1.0 - float(distances[0]))),
            raw=uncertainty,
            details={"uncertainty": uncertainty, "distance": float(distances[0])},
        )


class EigV(_Consistency):
    """Sum of eigenvalues of the graph Laplacian: a soft count of meanings.

    Example:
        >>> EigV(JaccardSimilarity()).score(obs).raw
    """

    name = "eigv"

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> SignalResult:
        uncertainty = eigenvalue_uncertainty(w)
        return SignalResult(
            name=self.name,
            confidence=_spread_confidence(uncertainty, len(w)),
            raw=uncertainty,
            details={"uncertainty": uncertainty},
        )


class SelfConsistency(_Consistency):
    """The share of samples that mean the same as the answer (majority vote evidence).

    Example:
        >>> SelfConsistency(JaccardSimilarity()).score(obs).confidence
    """

    name = "self_consistency"

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> SignalResult:
        labels = semantic_sets(w, self.similarity.threshold)
        votes = labels[1:]
        agree = sum(label == labels[0] for label in votes) / len(votes)
        majority = max(votes.count(label) for label in set(votes)) / len(votes)
        return SignalResult(
            name=self.name,
            confidence=agree,
            raw=agree,
            details={
                "majority_share": majority,
                "answer_is_majority": agree >= majority,
            },
        )


class PerplexityConsistency(_Consistency):
    """RPC's perplexity consistency: summed probability of distinct agreeing samples.

    Each distinct sample text counts once, with its sequence probability
    exp(sum of token logprobs); the answer's own path counts too when the
    observation has logprobs. Reasoning pruning is not applied.

    Example:
        >>> PerplexityConsistency(JaccardSimilarity()).score(obs).confidence
    """

    name = "perplexity_consistency"
    needs_logprobs = True

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> SignalResult:
        labels = semantic_sets(w, self.similarity.threshold)
        paths = _distinct_paths(obs, samples)
        agreeing = [lp for node, lp in paths.items() if labels[node] == labels[0]]
        total = _logsumexp(list(paths.values()))
        mass = math.exp(_logsumexp(agreeing)) if agreeing else 0.0
        return SignalResult(
            name=self.name,
            confidence=min(1.0, mass),
            raw=mass,
            details={
                "share_of_sampled_mass": mass / math.exp(total) if paths else 0.0,
                "distinct_paths": len(paths),
            },
        )


def _distinct_paths(obs: Observation, samples: tuple[Sample, ...]) -> dict[int, float]:
    """Node index -> sequence logprob, keeping the first node of each distinct text."""
    nodes: list[tuple[str, tuple[Any, ...] | None]] = [(obs.answer, obs.logprobs)]
    nodes += [(s.text, s.logprobs) for s in samples]
    seen: set[str] = set()
    paths: dict[int, float] = {}
    for index, (text, logprobs) in enumerate(nodes):
        key = text.strip()
        if not logprobs or key in seen:
            continue
        seen.add(key)
        paths[index] = sum(t.logprob for t in logprobs)
    return paths


def _logsumexp(values: list[float]) -> float:
    if not values:
        return -math.inf
    peak = max(values)
    return peak + math.log(sum(math.exp(v - peak) for v in values))
