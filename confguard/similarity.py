"""How alike two answers are: embedding cosine, Jaccard overlap, or an LLM's yes/no.

Each strategy turns texts into a symmetric matrix W with values in [0, 1] and ones on
the diagonal, the input of the consistency measures (Lin et al., 2024). Texts that
normalise to the same string are compared once and count as identical, so duplicate
samples cost no model call. A pair an LLM could not judge is NaN in the matrix: the
signals that read it report `failed` instead of guessing.

A strategy's `plan(texts, question)` is a plan in the sense of
`confguard.signals.base`: it yields the model requests it needs (none for the
embedding and Jaccard similarities) and returns W, so the consistency signals run it
inside their own plan, sync or async, with one driver.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Generator as PlanGenerator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from confguard.llm.base import Completion, GenerationRequest, Generator, ModelRequest
from confguard.text import answer_tokens, normalize_answer

if TYPE_CHECKING:
    from confguard.embeddings.base import Embedder

Matrix = npt.NDArray[np.float64]
SimilarityPlan = PlanGenerator[ModelRequest, Any, Matrix]
"""Yields the model requests a similarity needs, receives the replies, returns W."""

__all__ = [
    "ECC_EIGENVALUE_THRESHOLD",
    "EmbeddingSimilarity",
    "EntailmentSimilarity",
    "JaccardSimilarity",
    "Matrix",
    "Similarity",
    "SimilarityPlan",
    "computed",
    "degree",
    "eccentricity",
    "eigenvalue_uncertainty",
    "jaccard",
    "laplacian",
    "semantic_sets",
    "yes_probability",
]


@runtime_checkable
class Similarity(Protocol):
    """Texts in, a symmetric [0, 1] similarity matrix out (NaN where unknown)."""

    name: str
    threshold: float
    """Similarity at or above which two texts count as the same meaning."""
    llm_calls_per_pair: int

    @property
    def generator(self) -> Generator | None:
        """The model the plan's requests go to (None when it calls none)."""
        ...

    def plan(self, texts: Sequence[str], question: str = "") -> SimilarityPlan:
        """The m x m similarity matrix of `texts` (answers to `question`), as a plan."""
        ...


def computed(w: Matrix) -> SimilarityPlan:
    """The plan of a similarity that needs no model: it returns `w` at once."""
    return w
    yield  # pragma: no cover - makes this a generator


def _unique(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """The distinct normalised texts (first spelling kept) and each text's slot."""
    keys: dict[str, int] = {}
    firsts: list[str] = []
    slots = []
    for text in texts:
        key = normalize_answer(text)
        if key not in keys:
            keys[key] = len(firsts)
            firsts.append(text)
        slots.append(keys[key])
    return firsts, slots


def _expand(unique: Matrix, slots: list[int]) -> Matrix:
    """The full matrix from the matrix over distinct texts."""
    index = np.asarray(slots, dtype=np.intp)
    return np.asarray(unique[np.ix_(index, index)], dtype=np.float64)


def jaccard(a: str, b: str) -> float:
    """Jaccard overlap of the two texts' normalised token sets (1 when both are empty).

    Example:
        >>> jaccard("the Eiffel Tower", "Eiffel tower in Paris")
        0.5
    """
    left, right = set(answer_tokens(a)), set(answer_tokens(b))
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


class JaccardSimilarity:
    """Token-set overlap: free, deterministic, blind to paraphrase.

    Example:
        >>> JaccardSimilarity().matrix(["Paris", "paris", "Lyon"])[0].tolist()
        [1.0, 1.0, 0.0]
    """

    name = "jaccard"
    llm_calls_per_pair = 0
    generator = None

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def matrix(self, texts: Sequence[str], question: str = "") -> Matrix:
        """Pairwise Jaccard overlaps."""
        firsts, slots = _unique(texts)
        values = [[jaccard(a, b) for b in firsts] for a in firsts]
        return _expand(
            np.asarray(values, dtype=np.float64).reshape(len(firsts), -1), slots
        )

    def plan(self, texts: Sequence[str], question: str = "") -> SimilarityPlan:
        """`matrix`, as a plan without model calls."""
        return computed(self.matrix(texts, question))


_RECENT = 16
"""Similarity matrices an EmbeddingSimilarity keeps (a few answers in flight)."""


class EmbeddingSimilarity:
    """Cosine similarity of sentence embeddings, negatives clipped to 0.

    Example:
        >>> sim = EmbeddingSimilarity(local_embedders(["minilm"])[0])
        >>> sim.matrix(["Paris", "the city of Paris", "Lyon"]).round(2)
    """

    llm_calls_per_pair = 0
    generator = None

    def __init__(self, embedder: Embedder, threshold: float = 0.8) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.name = f"embedding:{embedder.name}"
        self._lock = threading.Lock()
        self._recent: dict[tuple[str, ...], Matrix] = {}

    def matrix(self, texts: Sequence[str], question: str = "") -> Matrix:
        """Pairwise cosine similarities, clipped to [0, 1].

        The consistency signals of one answer all ask for the same texts: the
        last few matrices are kept, so the texts are embedded once.
        """
        key = tuple(texts)
        with self._lock:
            known = self._recent.get(key)
        if known is not None:
            return np.array(known, copy=True)
        made = self._computed(texts)
        with self._lock:
            self._recent[key] = made
            while len(self._recent) > _RECENT:
                self._recent.pop(next(iter(self._recent)))
        return np.array(made, copy=True)

    def _computed(self, texts: Sequence[str]) -> Matrix:
        firsts, slots = _unique(texts)
        vectors = np.asarray(self.embedder.embed_documents(firsts), dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # A text without words embeds to zero: similar to nothing but itself.
        unit = vectors / np.where(norms > 0, norms, 1.0)
        cosine = np.clip(unit @ unit.T, 0.0, 1.0)
        np.fill_diagonal(cosine, 1.0)
        return _expand(cosine, slots)

    def plan(self, texts: Sequence[str], question: str = "") -> SimilarityPlan:
        """`matrix`, as a plan without model calls."""
        return computed(self.matrix(texts, question))


# Completion-style few-shot: a base model's next token is "yes" or "no".
ENTAILMENT_PROMPT = """\
Decide whether two answers to the same question say the same thing.

Question: Who wrote Hamlet?
Answer 1: Shakespeare
Answer 2: William Shakespeare
Same meaning: yes

Question: When did the war end?
Answer 1: 1945
Answer 2: in 1918
Same meaning: no

Question: {question}
Answer 1: {first}
Answer 2: {second}
Same meaning:"""


def yes_probability(completion: Completion) -> float | None:
    """P(yes) renormalised over {yes, no} at the first non-blank token, else None.

    Without logprobs the reply's first word decides (1.0 or 0.0).

    Example:
        >>> yes_probability(Completion(text=" yes"))
        1.0
    """
    for step in completion.logprobs or ():
        if not step.token.strip():
            continue
        mass = {"yes": 0.0, "no": 0.0}
        for alt in step.top_logprobs:
            key = alt.token.strip().lower()
            if key in mass:
                mass[key] += math.exp(alt.logprob)
        total = mass["yes"] + mass["no"]
        return mass["yes"] / total if total > 0 else None
    words = completion.text.strip().lower().split()
    first = words[0].strip(".,!") if words else ""
    return {"yes": 1.0, "no": 0.0}.get(first)


class EntailmentSimilarity:
    """An LLM asked "same meaning?" in both orders; W_ij = mean of the two P(yes).

    Costs two generations of one token per distinct pair.

    Example:
        >>> sim = EntailmentSimilarity(default_generator())
        >>> w, cost = run_plan(sim.plan(["Paris", "the French capital"]), sim.generator)
    """

    name = "entailment"
    llm_calls_per_pair = 2

    def __init__(
        self,
        generator: Generator,
        threshold: float = 0.5,
        prompt: str = ENTAILMENT_PROMPT,
        top_logprobs: int = 10,
    ) -> None:
        self.generator = generator
        self.threshold = threshold
        self.prompt = prompt
        self.top_logprobs = top_logprobs

    def _request(self, question: str, first: str, second: str) -> GenerationRequest:
        prompt = self.prompt.format(
            question=" ".join(question.split()),
            first=" ".join(first.split()),
            second=" ".join(second.split()),
        )
        return GenerationRequest(prompt=prompt, max_tokens=2, top_k=self.top_logprobs)

    def plan(self, texts: Sequence[str], question: str = "") -> SimilarityPlan:
        """Pairwise bidirectional entailment probabilities (NaN where unreadable)."""
        firsts, slots = _unique(texts)
        pairs = _ordered_pairs(len(firsts))
        values = []
        for i, j in pairs:
            replies = yield self._request(question, firsts[i], firsts[j])
            value = yes_probability(replies[0])
            values.append(math.nan if value is None else value)
        return _expand(_symmetric(len(firsts), pairs, values), slots)


def _ordered_pairs(size: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(size) for j in range(size) if i != j]


def _symmetric(size: int, pairs: list[tuple[int, int]], values: list[float]) -> Matrix:
    """W_ij = (a_ij + a_ji) / 2 with ones on the diagonal (NaN stays NaN)."""
    directed = np.eye(size, dtype=np.float64)
    for (i, j), value in zip(pairs, values, strict=True):
        directed[i, j] = value
    return (directed + directed.T) / 2.0


# --- measures over a similarity graph (Lin et al., 2024) ----------------------


ECC_EIGENVALUE_THRESHOLD = 0.9
"""Eigenvectors with eigenvalues below this enter Ecc (Lin et al.'s code uses 0.9)."""


def laplacian(w: Matrix) -> Matrix:
    """The symmetric normalised Laplacian D^-1/2 (D - W) D^-1/2.

    Example:
        >>> laplacian(np.ones((2, 2))).tolist()
        [[0.5, -0.5], [-0.5, 0.5]]
    """
    inv_sqrt = 1.0 / np.sqrt(w.sum(axis=1))
    return np.asarray(
        np.eye(len(w)) - inv_sqrt[:, None] * w * inv_sqrt[None, :], dtype=np.float64
    )


def degree(w: Matrix) -> tuple[float, Matrix]:
    """Deg: U = trace(mI - D) / m^2 and each answer's confidence D_jj / m.

    Example:
        >>> degree(np.eye(2))[0]
        0.5
    """
    m = len(w)
    degrees = w.sum(axis=1)
    return float((m - degrees).sum() / m**2), np.asarray(degrees / m)


def eccentricity(
    w: Matrix, threshold: float = ECC_EIGENVALUE_THRESHOLD
) -> tuple[float, Matrix]:
    """Ecc: U = Frobenius norm of the centred spectral embedding, and each row's norm.

    Example:
        >>> round(eccentricity(np.ones((3, 3)))[0], 6)
        0.0
    """
    values, vectors = np.linalg.eigh(laplacian(w))
    kept = vectors[:, values < threshold]
    centred = kept - kept.mean(axis=0, keepdims=True)
    distances = np.linalg.norm(centred, axis=1)
    return float(np.linalg.norm(distances)), np.asarray(distances)


def eigenvalue_uncertainty(w: Matrix) -> float:
    """EigV: sum over Laplacian eigenvalues of max(0, 1 - lambda).

    Example:
        >>> round(eigenvalue_uncertainty(np.eye(3)), 6)
        3.0
    """
    values = np.linalg.eigvalsh(laplacian(w))
    return float(np.clip(1.0 - values, 0.0, None).sum())


def semantic_sets(w: Matrix, threshold: float) -> list[int]:
    """Greedy clustering: each answer joins the first set whose founder it matches.

    Example:
        >>> semantic_sets(np.array([[1, 0.9, 0], [0.9, 1, 0], [0, 0, 1]]), 0.5)
        [0, 0, 1]
    """
    founders: list[int] = []
    labels = []
    for j in range(len(w)):
        match = next((k for k, f in enumerate(founders) if w[j, f] >= threshold), None)
        if match is None:
            founders.append(j)
            match = len(founders) - 1
        labels.append(match)
    return labels
