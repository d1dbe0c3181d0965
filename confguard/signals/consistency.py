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
extra call), else from a ``Sampler`` (one call for K completions). `with_samples`
draws them once for several signals.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from confguard.llm.base import Completion, GenerationRequest, Generator
from confguard.observation import Observation, Sample
from confguard.prompts import completion_prompt
from confguard.results import SignalResult
from confguard.signals._plans import generate
from confguard.signals.base import (
    BaseSignal,
    DeclaredCost,
    Plan,
    arun_plan,
    run_plan,
)
from confguard.similarity import (
    ECC_EIGENVALUE_THRESHOLD,
    Matrix,
    Similarity,
    degree,
    eccentricity,
    eigenvalue_uncertainty,
    semantic_sets,
)

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
    """Draws K extra answers for an observation's question, as a plan."""

    k: int

    @property
    def generator(self) -> Generator:
        """The model the plan's requests go to."""
        ...

    def plan(self, obs: Observation) -> Plan[tuple[Sample, ...]]:
        """K answers to `obs.question`."""
        ...


def rag_prompt(obs: Observation) -> str:
    """The 2-shot Context / Question / Answer prompt the local RAG answers with."""
    return completion_prompt(obs.question, [c.text for c in obs.contexts])


_MEMO_SIZE = 64
"""Seeded draws a sampler keeps, newest last (a few answers in flight at once)."""


class GeneratorSampler:
    """K temperature samples from a generator in one call, each with its logprobs.

    Example:
        >>> sampler = GeneratorSampler(default_generator(), k=5, temperature=0.7)
        >>> [s.text for s in with_samples(obs, sampler).samples]
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
        self._lock = threading.Lock()
        self._drawn: dict[str, tuple[Sample, ...]] = {}
        self.prompt, self.max_tokens, self.stop, self.seed = (
            prompt,
            max_tokens,
            stop,
            seed,
        )

    def _request(self, obs: Observation) -> GenerationRequest:
        """The one sampling call: K completions at the sampler's temperature."""
        return GenerationRequest(
            prompt=self.prompt(obs),
            n=self.k,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            stop=tuple(self.stop),
            seed=self.seed,
        )

    def plan(self, obs: Observation) -> Plan[tuple[Sample, ...]]:
        """Draw K samples (with a seed, the same request's draws are reused)."""
        request = self._request(obs)
        key = request.model_dump_json() if self.seed is not None else None
        with self._lock:
            known = self._drawn.get(key) if key is not None else None
        if known is not None:
            return known
        drawn = _samples((yield from generate(request)))
        if key is not None:
            self._remember(key, drawn)
        return drawn

    def _remember(self, key: str, drawn: tuple[Sample, ...]) -> None:
        # Seeded draws are reproducible, so the signals of one answer can share
        # them: one sampling call, however many consistency signals read it.
        with self._lock:
            self._drawn[key] = drawn
            while len(self._drawn) > _MEMO_SIZE:
                self._drawn.pop(next(iter(self._drawn)))


def _samples(completions: Sequence[Completion]) -> tuple[Sample, ...]:
    return tuple(
        Sample(text=c.text.strip(), logprobs=c.logprobs or ()) for c in completions
    )


def with_samples(obs: Observation, sampler: Sampler) -> Observation:
    """The observation with K freshly drawn samples, so several signals share them.

    Example:
        >>> obs = with_samples(obs, GeneratorSampler(default_generator(), k=5))
    """
    drawn, _ = run_plan(sampler.plan(obs), sampler.generator)
    return obs.model_copy(update={"samples": obs.samples + drawn})


async def awith_samples(obs: Observation, sampler: Sampler) -> Observation:
    """Async twin of `with_samples`."""
    drawn, _ = await arun_plan(sampler.plan(obs), sampler.generator)
    return obs.model_copy(update={"samples": obs.samples + drawn})


# --- the signals -----------------------------------------------------------------


def default_similarity() -> Similarity:
    """Cosine similarity of the embedded MiniLM model (loaded on first use)."""
    from confguard.embeddings import get_embedder
    from confguard.similarity import EmbeddingSimilarity

    return EmbeddingSimilarity(get_embedder("minilm"))


class _Measured(NamedTuple):
    """What one consistency measure reads from W (the shell adds the shared details)."""

    confidence: float
    raw: float
    details: dict[str, Any]


class _Consistency(BaseSignal):
    """Shared shell: gather samples, build W, check it, hand it to `_measure`."""

    needs_logprobs = False

    def __init__(
        self,
        similarity: Similarity | None = None,
        sampler: Sampler | None = None,
        name: str | None = None,
        *,
        draw: bool = False,
    ) -> None:
        if draw and sampler is None:
            raise ValueError("draw=True needs a sampler to draw the samples with")
        self._similarity = similarity
        self.sampler = sampler
        # Samples already in the observation are used as they are, unless `draw`:
        # Confident RAG's are the other embedders' answers, not temperature draws.
        self.draw = draw
        self.generator = _one_model(sampler, similarity)
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

    def _plan(self, obs: Observation) -> Plan[SignalResult]:
        drawn: tuple[Sample, ...] = ()
        if self.sampler is not None and (self.draw or not obs.samples):
            drawn = yield from self.sampler.plan(obs)
        if self.draw:
            obs = obs.model_copy(update={"samples": ()})
        problem = self._problem(obs, drawn)
        if problem is not None:
            return problem
        texts = [obs.answer, *(s.text for s in _usable(obs, drawn))]
        w = yield from self.similarity.plan(texts, obs.question)
        return self._finish(obs, drawn, texts, w)

    def _calls_model(self) -> bool:
        # Without a model, ascore runs the whole signal (embedding, numpy) in a thread.
        return self.generator is not None

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
        measured = self._measure(obs, _usable(obs, drawn), w)
        return SignalResult(
            name=self.name,
            confidence=measured.confidence,
            raw=measured.raw,
            details={
                **measured.details,
                "k": len(obs.samples or drawn),
                "empty_samples": len(obs.samples or drawn) - len(_usable(obs, drawn)),
                "similarity": self.similarity.name,
            },
        )

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> _Measured:
        raise NotImplementedError


def _one_model(
    sampler: Sampler | None, similarity: Similarity | None
) -> Generator | None:
    """The one model a consistency signal's plan calls (sampler's or similarity's)."""
    models = [m.generator for m in (sampler, similarity) if m is not None]
    found = [m for m in models if m is not None]
    if len(found) == 2 and found[0] is not found[1]:
        raise ValueError(
            "the sampler and the similarity must share one generator "
            "(a signal's plan calls one model)"
        )
    return found[0] if found else None


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
    ) -> _Measured:
        labels = semantic_sets(w, self.similarity.threshold)
        count = len(set(labels))
        confidence = _spread_confidence(count, len(w))
        return _Measured(confidence, float(count), {"sets": labels})


class Deg(_Consistency):
    """Degree: the answer's mean similarity to all answers, C = D_00 / m.

    Example:
        >>> Deg(JaccardSimilarity()).score(obs).confidence
    """

    name = "deg"

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> _Measured:
        uncertainty, confidences = degree(w)
        confidence = min(1.0, max(0.0, float(confidences[0])))
        return _Measured(confidence, uncertainty, {"uncertainty": uncertainty})


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
        *,
        draw: bool = False,
    ) -> None:
        super().__init__(similarity, sampler, name, draw=draw)
        self.eigenvalue_threshold = eigenvalue_threshold

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> _Measured:
        uncertainty, distances = eccentricity(w, self.eigenvalue_threshold)
        distance = float(distances[0])
        details = {"uncertainty": uncertainty, "distance": distance}
        return _Measured(min(1.0, max(0.0, 1.0 - distance)), uncertainty, details)


class EigV(_Consistency):
    """Sum of eigenvalues of the graph Laplacian: a soft count of meanings.

    Example:
        >>> EigV(JaccardSimilarity()).score(obs).raw
    """

    name = "eigv"

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> _Measured:
        uncertainty = eigenvalue_uncertainty(w)
        confidence = _spread_confidence(uncertainty, len(w))
        return _Measured(confidence, uncertainty, {"uncertainty": uncertainty})


class SelfConsistency(_Consistency):
    """The share of samples that mean the same as the answer (majority vote evidence).

    Example:
        >>> SelfConsistency(JaccardSimilarity()).score(obs).confidence
    """

    name = "self_consistency"

    def _measure(
        self, obs: Observation, samples: tuple[Sample, ...], w: Matrix
    ) -> _Measured:
        labels = semantic_sets(w, self.similarity.threshold)
        votes = labels[1:]
        agree = sum(label == labels[0] for label in votes) / len(votes)
        majority = max(votes.count(label) for label in set(votes)) / len(votes)
        details = {"majority_share": majority, "answer_is_majority": agree >= majority}
        return _Measured(agree, agree, details)


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
    ) -> _Measured:
        labels = semantic_sets(w, self.similarity.threshold)
        paths = _distinct_paths(obs, samples)
        agreeing = [lp for node, lp in paths.items() if labels[node] == labels[0]]
        total = _logsumexp(list(paths.values()))
        mass = math.exp(_logsumexp(agreeing)) if agreeing else 0.0
        details = {
            "share_of_sampled_mass": mass / math.exp(total) if paths else 0.0,
            "distinct_paths": len(paths),
        }
        return _Measured(min(1.0, mass), mass, details)


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
