"""Agreement between embedding models as evidence that an answer is right.

When different embedders retrieve the same passage and their answers agree, the
answer is much more often right (SQuAD-Shifts: three embedders agreeing on the top
passage were right 90% of the time, against 27% when they disagreed). Three
components, each in [0, 1]:

- ``text``: mean SQuAD token F1 between the answer and each other embedder's answer
  (normalised text: case, punctuation and articles ignored);
- ``embedding``: mean cosine (clipped at 0) between the answer's embedding and each
  other answer's (only with an ``embedder``);
- ``retrieval``: mean Jaccard overlap between the passages the answer's embedder
  retrieved and those each other embedder retrieved.

Inputs come from the Observation's typed evidence: other answers from
``candidates`` (every one but ``selected``, the answer itself) or else from
``samples``; passages per embedder from each candidate's ``contexts`` or else from
``contexts`` grouped by ``retriever``. A passage is named by its ``source``, or by its
text when it has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from confguard.observation import Context, Observation
from confguard.results import SignalResult
from confguard.signals.base import BaseSignal, DeclaredCost
from confguard.text import normalize_answer, token_f1

if TYPE_CHECKING:
    from confguard.embeddings.base import Embedder

COMPONENTS = ("text", "embedding", "retrieval")


def text_agreement(answer: str, others: Sequence[str]) -> float:
    """Mean token F1 of `answer` against each other answer (0 for an empty answer).

    Example:
        >>> text_agreement("The Broncos", ["broncos", "Panthers"])
        0.5
    """
    if not others:
        raise ValueError("text agreement needs at least one other answer")
    if not normalize_answer(answer):
        return 0.0  # two empty answers agreeing is no evidence
    return sum(token_f1(answer, [other]) for other in others) / len(others)


def embedding_agreement(answer: np.ndarray, others: np.ndarray) -> float:
    """Mean cosine (clipped at 0) between one answer vector and each row of `others`.

    Example:
        >>> embedding_agreement(np.array([1.0, 0.0]), np.array([[1, 0], [0, 1]]))
        0.5
    """
    a = np.asarray(answer, dtype=np.float64)
    b = np.atleast_2d(np.asarray(others, dtype=np.float64))
    norms = np.linalg.norm(b, axis=1) * np.linalg.norm(a)
    cosines = np.divide(b @ a, norms, out=np.zeros(len(b)), where=norms > 0)
    return float(np.clip(cosines, 0.0, 1.0).mean())


def retrieval_agreement(
    selected: Sequence[str], others: Sequence[Sequence[str]]
) -> float:
    """Mean Jaccard overlap of the selected embedder's passages with each other's.

    Example:
        >>> retrieval_agreement(["p1"], [["p1"], ["p2"], ["p1"]])
        0.6666666666666666
    """
    if not others:
        raise ValueError("retrieval agreement needs at least one other retriever")
    mine = set(selected)
    return sum(_jaccard(mine, set(o)) for o in others) / len(others)


def _jaccard(a: set[str], b: set[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def other_answers(obs: Observation) -> list[str]:
    """The other embedders' answers: every candidate but the selected one.

    Without candidates, every sample is another answer.
    """
    if obs.candidates:
        return [c.answer for i, c in enumerate(obs.candidates) if i != obs.selected]
    return [s.text for s in obs.samples]


def sources_by_retriever(obs: Observation) -> dict[str, list[str]]:
    """Which passages each embedder retrieved (sources, else texts)."""
    if obs.candidates:
        return {c.retriever: _passages(c.contexts) for c in obs.candidates}
    grouped: dict[str, list[Context]] = {}
    for ctx in obs.contexts:
        if ctx.retriever is not None:
            grouped.setdefault(ctx.retriever, []).append(ctx)
    return {name: _passages(contexts) for name, contexts in grouped.items()}


def _passages(contexts: Sequence[Context]) -> list[str]:
    return [ctx.source or ctx.text for ctx in contexts]


def selected_retriever(obs: Observation) -> str | None:
    """The embedder whose retrieval produced the answer."""
    if obs.selected_candidate is not None:
        return obs.selected_candidate.retriever
    return next((c.retriever for c in obs.contexts if c.retriever), None)


class MultiEmbeddingAgreement(BaseSignal):
    """How far several embedders agree on the passages and on the answer.

    The confidence is the weighted mean of the components that could be computed
    (see the module docstring); `details` lists each one. Skipped when the
    observation carries fewer than two embedders' answers or retrievals.

    Example:
        >>> obs = ConfidentRAGPipeline(generator, indices)("Who won Super Bowl 50?")
        >>> MultiEmbeddingAgreement().score(obs).details["components"]
        {'text': 1.0, 'retrieval': 0.667}
    """

    name = "multi_embedding_agreement"
    cost = DeclaredCost(llm_calls=0, relative=0.05)

    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        weights: Mapping[str, float] | None = None,
        name: str | None = None,
    ) -> None:
        self.embedder = embedder
        self.weights = _check_weights(weights or dict.fromkeys(COMPONENTS, 1.0))
        if name is not None:
            self.name = name

    def _score(self, obs: Observation) -> SignalResult:
        components = self.components(obs)
        usable = {k: v for k, v in components.items() if self.weights.get(k, 0.0) > 0}
        if not usable:
            return SignalResult.skipped(
                self.name,
                "needs answers or retrievals from at least two embedders",
                n_samples=len(obs.samples),
            )
        total = sum(self.weights[k] for k in usable)
        value = sum(self.weights[k] * v for k, v in usable.items()) / total
        return SignalResult(
            name=self.name,
            confidence=min(1.0, max(0.0, value)),
            raw=value,
            details={"components": components, "weights": dict(self.weights)},
        )

    def components(self, obs: Observation) -> dict[str, float]:
        """Every component that the observation has the inputs for."""
        out: dict[str, float] = {}
        others = other_answers(obs)
        if others:
            out["text"] = text_agreement(obs.answer, others)
            if self.embedder is not None:
                out["embedding"] = self._embedding(obs.answer, others)
        retrieval = self._retrieval(obs)
        if retrieval is not None:
            out["retrieval"] = retrieval
        return out

    def _embedding(self, answer: str, others: Sequence[str]) -> float:
        if not normalize_answer(answer):
            return 0.0
        assert self.embedder is not None
        vectors = self.embedder.embed_documents([answer, *others])
        return embedding_agreement(vectors[0], vectors[1:])

    def _retrieval(self, obs: Observation) -> float | None:
        by_retriever = sources_by_retriever(obs)
        mine = selected_retriever(obs)
        if mine not in by_retriever or len(by_retriever) < 2:
            return None
        rest = [s for name, s in by_retriever.items() if name != mine]
        return retrieval_agreement(by_retriever[mine], rest)


def _check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(weights) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown agreement components {unknown}; known: {COMPONENTS}")
    if any(w < 0 for w in weights.values()) or not any(weights.values()):
        raise ValueError(f"weights must be >= 0 with one positive, got {weights}")
    return dict(weights)
