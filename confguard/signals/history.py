"""History-based correctness: how often answers to similar past questions were right.

Generalized correctness models (arXiv 2509.24988) find that a model's own past
correctness on similar questions predicts whether its next answer is right, often
better than the model's self-report: questions near ones it got wrong tend to be
wrong again. `HistoryCorrectness` reads that from a `History`, the labelled past
cases (from an eval run or from the reviewers' verdicts) indexed by question
embedding in faiss.

The confidence is the posterior mean of a Beta prior centred on the history's base
rate, updated with the k nearest cases weighted by their cosine similarity::

    p0         = (correct cases + 1) / (cases + 2)        Laplace-smoothed base rate
    w_i        = similarity of neighbour i, if >= min_similarity, else 0
    confidence = (m * p0 + sum_i w_i * y_i) / (m + sum_i w_i)

with y_i = 1 for a right answer and m = `prior_strength` (pseudo-cases). A
neighbourhood of a few, or only vaguely similar, cases holds little weight and
stays near the base rate; many close neighbours decide on their own. With no
neighbour of positive weight there is no evidence about this question, and the
signal is skipped rather than report the base rate as if it knew.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from confguard.embeddings.base import Vectors, normalise
from confguard.exceptions import (
    ConfigurationError,
    DatasetError,
    InputError,
    ModelNotAvailableError,
)
from confguard.observation import Observation
from confguard.results import SignalResult
from confguard.signals.base import BaseSignal, DeclaredCost

if TYPE_CHECKING:
    from confguard.embeddings.base import Embedder

FORMAT_VERSION = 1
"""Bump when the files of a saved history change meaning."""
PROBE = "Which past questions resemble this one?"
"""Embedded at save and at load: two models that share a name differ here."""
PROBE_MIN_COSINE = 0.99
"""How close the probe's two embeddings must be to count as the same model."""
_FILES = ("index.faiss", "cases.jsonl")


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ModelNotAvailableError("faiss", "faiss-cpu", str(exc)) from exc
    return faiss


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LabelledCase(_Frozen):
    """One past question and whether the answer given to it was right."""

    question: str
    correct: bool
    source: str | None = None
    """Where the label came from, e.g. ``"eval"`` or ``"review:rejected"``."""
    id: str | None = None
    """The eval item's or the request's id, when known."""


class Neighbour(_Frozen):
    """A past case near the question, with its cosine similarity and position."""

    case: LabelledCase
    similarity: float
    position: int

    @property
    def label(self) -> str:
        """The case's id, or its position in the history when it has none."""
        return self.case.id if self.case.id is not None else f"#{self.position}"


class HistoryManifest(_Frozen):
    """What a saved history was built with; `History.load` checks every field."""

    embedder: str
    dim: int = Field(ge=1)
    count: int = Field(ge=0)
    correct: int = Field(ge=0)
    digest: str
    """sha256 of the index and cases files, in that order."""
    probe: tuple[float, ...]
    """The embedder's vector for `PROBE`."""
    version: int = FORMAT_VERSION


class _Reviewed(Protocol):
    @property
    def request_id(self) -> str: ...
    @property
    def question(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def label(self) -> bool | None: ...


class ReviewSource(Protocol):
    """What `History.from_store` reads: any `confguard.store.AuditStore`."""

    def reviews(self) -> Sequence[_Reviewed]:
        """Every review queue entry."""
        ...


class _EvalLine(BaseModel):
    """The fields of a samples.jsonl line that a history needs (the rest ignored)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    question: str
    correct: bool


def _same(question: str) -> str:
    """A question's key for "the same question": case and spacing ignored."""
    return " ".join(question.casefold().split())


def _embed(embedder: Embedder, texts: Sequence[str]) -> Vectors:
    # Questions are compared with questions, so both sides go through the same
    # call (documents: batched); normalised again so inner product is cosine.
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return normalise(embedder.embed_documents(list(texts)))


class History:
    """Labelled past cases, searchable by question similarity (faiss inner product).

    Example:
        >>> history = History.build(embedder, [LabelledCase(question="2+2?",
        ...     correct=True)])
        >>> history.nearest("What is 2+2?", k=1)[0].case.correct
        True
    """

    def __init__(
        self, embedder: Embedder, cases: Sequence[LabelledCase], index: Any
    ) -> None:
        if index.d != embedder.dim or index.ntotal != len(cases):
            raise InputError(
                f"history index holds {index.ntotal} vectors of dimension {index.d}; "
                f"expected {len(cases)} of dimension {embedder.dim}"
            )
        self.embedder = embedder
        self.cases = tuple(cases)
        self._index = index
        self._counts = Counter(_same(c.question) for c in self.cases)
        self._correct = sum(c.correct for c in self.cases)  # read on every score

    @classmethod
    def build(cls, embedder: Embedder, cases: Iterable[LabelledCase]) -> History:
        """Embed every case's question and index it."""
        listed = list(cases)
        index = _faiss().IndexFlatIP(embedder.dim)
        vectors = _embed(embedder, [c.question for c in listed])
        if len(listed):
            index.add(vectors)
        return cls(embedder, listed, index)

    @classmethod
    def from_eval_samples(cls, path: Path | str, embedder: Embedder) -> History:
        """A history from `confguard eval`'s samples.jsonl (or its folder)."""
        return cls.build(embedder, eval_cases(Path(path)))

    @classmethod
    def from_store(cls, store: ReviewSource, embedder: Embedder) -> History:
        """A history from reviewers' verdicts: approved = right, else wrong."""
        return cls.build(embedder, review_cases(store))

    def __len__(self) -> int:
        return len(self.cases)

    @property
    def correct(self) -> int:
        """How many cases were answered right."""
        return self._correct

    @property
    def base_rate(self) -> float:
        """The Laplace-smoothed share of right answers, (correct + 1) / (n + 2)."""
        return (self.correct + 1) / (len(self) + 2)

    def nearest(
        self, question: str, k: int, *, exclude_same: bool = False
    ) -> list[Neighbour]:
        """The up to `k` cases whose questions are most similar, closest first.

        `exclude_same` leaves out cases whose question is this one (case and
        spacing ignored): scoring a history's own questions, they would find
        their own labels.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        same = _same(question)
        extra = self._counts.get(same, 0) if exclude_same else 0
        take = min(k + extra, len(self))
        if take == 0:
            return []
        scores, positions = self._index.search(_embed(self.embedder, [question]), take)
        found = [
            Neighbour(case=self.cases[p], similarity=min(float(s), 1.0), position=p)
            for s, p in zip(scores[0], positions[0].tolist(), strict=True)
            if p >= 0
        ]
        if exclude_same:
            found = [n for n in found if _same(n.case.question) != same]
        return found[:k]

    def save(self, folder: Path | str) -> Path:
        """Write index.faiss, cases.jsonl and, last, manifest.json into `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        manifest_path = folder / "manifest.json"
        # Manifest last: a crash mid-write leaves no manifest, so nothing loads.
        manifest_path.unlink(missing_ok=True)
        _faiss().write_index(self._index, str(folder / "index.faiss"))
        lines = "".join(c.model_dump_json() + "\n" for c in self.cases)
        (folder / "cases.jsonl").write_text(lines, encoding="utf-8")
        tmp = folder / "manifest.json.tmp"
        tmp.write_text(self._manifest(folder).model_dump_json(indent=2), "utf-8")
        tmp.replace(manifest_path)
        return folder

    def _manifest(self, folder: Path) -> HistoryManifest:
        probe = _embed(self.embedder, [PROBE])[0]
        return HistoryManifest(
            embedder=self.embedder.name,
            dim=self.embedder.dim,
            count=len(self),
            correct=self.correct,
            digest=_digest(folder),
            probe=tuple(round(float(v), 6) for v in probe),
        )

    @classmethod
    def load(cls, folder: Path | str, embedder: Embedder) -> History:
        """A saved history, refused unless `embedder` is the one it was built with."""
        folder = Path(folder)
        manifest = read_manifest(folder)
        _check_embedder(folder, manifest, embedder)
        if _digest(folder) != manifest.digest:
            raise InputError(f"history {folder}: files do not match their manifest")
        index = _faiss().read_index(str(folder / "index.faiss"))
        cases = _read_cases(folder / "cases.jsonl")
        if len(cases) != manifest.count:
            raise InputError(f"history {folder}: manifest and cases disagree")
        return cls(embedder, cases, index)


def read_manifest(folder: Path) -> HistoryManifest:
    """The manifest of a saved history, or an InputError saying what is wrong."""
    path = folder / "manifest.json"
    if not path.is_file():
        raise InputError(f"no saved history at {folder} (no manifest.json)")
    try:
        manifest = HistoryManifest.model_validate_json(path.read_text("utf-8"))
    except (OSError, ValidationError) as exc:
        raise InputError(f"history {folder}: unreadable manifest ({exc})") from exc
    if manifest.version != FORMAT_VERSION:
        raise InputError(
            f"history {folder} has format {manifest.version}, this confguard reads "
            f"{FORMAT_VERSION}: rebuild it"
        )
    return manifest


def _check_embedder(
    folder: Path, manifest: HistoryManifest, embedder: Embedder
) -> None:
    """Refuse an embedder other than the history's: its similarities mean nothing."""
    if (embedder.name, embedder.dim) != (manifest.embedder, manifest.dim):
        raise ConfigurationError(
            f"history {folder} was built with embedder {manifest.embedder!r} "
            f"({manifest.dim} dims); it cannot be queried with {embedder.name!r} "
            f"({embedder.dim} dims): load it with {manifest.embedder!r} or rebuild it"
        )
    probe = _embed(embedder, [PROBE])[0]
    cosine = float(probe @ np.asarray(manifest.probe, dtype=np.float32))
    if cosine < PROBE_MIN_COSINE:
        raise ConfigurationError(
            f"history {folder} was built with a different model that is also named "
            f"{manifest.embedder!r} (probe cosine {cosine:.3f} < {PROBE_MIN_COSINE}): "
            "rebuild the history with this one"
        )


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in _FILES:
        try:
            digest.update((folder / name).read_bytes())
        except OSError as exc:
            raise InputError(f"history {folder}: cannot read {name} ({exc})") from exc
    return digest.hexdigest()


def _read_cases(path: Path) -> list[LabelledCase]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [LabelledCase.model_validate_json(line) for line in lines if line.strip()]


def eval_cases(path: Path) -> list[LabelledCase]:
    """Cases from samples.jsonl (or the eval folder holding it); errors name lines."""
    path = path / "samples.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise InputError(f"no samples file at {path}")
    with path.open(encoding="utf-8") as lines:
        return [
            _eval_case(path, n, line) for n, line in enumerate(lines, 1) if line.strip()
        ]


def _eval_case(path: Path, number: int, line: str) -> LabelledCase:
    try:
        data = _EvalLine.model_validate_json(line)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise DatasetError(str(path), first["msg"], line=number, field=field) from None
    return LabelledCase(
        question=data.question, correct=data.correct, source="eval", id=data.id
    )


def review_cases(store: ReviewSource) -> list[LabelledCase]:
    """Resolved reviews as cases: approved = right, edited/rejected = wrong.

    The mapping is `labelled_from_store`'s; pending reviews have no label yet.
    """
    return [
        LabelledCase(
            question=item.question,
            correct=item.label,
            source=f"review:{item.status}",
            id=item.request_id,
        )
        for item in store.reviews()
        if item.label is not None
    ]


class HistoryCorrectness(BaseSignal):
    """The similarity-weighted, prior-smoothed rate of right answers to similar cases.

    No LLM call: one embedding of the question and an exact faiss search. See the
    module docstring for the formula. Skipped when the history is empty or no case
    resembles the question.

    Example:
        >>> signal = HistoryCorrectness(History.load("history", embedder), k=10)
        >>> signal.score(obs).details["nearest"]
        ['q17', 'q3', ...]
    """

    cost = DeclaredCost(llm_calls=0, relative=0.05)

    def __init__(
        self,
        history: History,
        k: int = 10,
        *,
        prior_strength: float = 2.0,
        min_similarity: float = 0.0,
        exclude_same: bool = False,
        name: str = "history",
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if prior_strength < 0:
            raise ValueError(f"prior_strength must be >= 0, got {prior_strength}")
        self.history, self.k, self.name = history, k, name
        self.prior_strength = prior_strength
        self.min_similarity = min_similarity
        self.exclude_same = exclude_same

    def _score(self, obs: Observation) -> SignalResult:
        if not len(self.history):
            return SignalResult.skipped(self.name, "the history has no labelled cases")
        found = self.history.nearest(
            obs.question, self.k, exclude_same=self.exclude_same
        )
        weights = [self._weight(n.similarity) for n in found]
        total = sum(weights)
        if total <= 0:
            return SignalResult.skipped(
                self.name, "no past case resembles the question", k=len(found)
            )
        right = sum(w for w, n in zip(weights, found, strict=True) if n.case.correct)
        base = self.history.base_rate
        value = (self.prior_strength * base + right) / (self.prior_strength + total)
        return SignalResult(
            name=self.name,
            confidence=min(1.0, max(0.0, value)),
            raw=value,
            details=self._details(found, total, base),
        )

    def _weight(self, similarity: float) -> float:
        return max(similarity, 0.0) if similarity >= self.min_similarity else 0.0

    def _details(
        self, found: Sequence[Neighbour], weight: float, base: float
    ) -> dict[str, Any]:
        similarities = [n.similarity for n in found]
        return {
            "k": len(found),
            "mean_similarity": float(np.mean(similarities)),
            "nearest": [n.label for n in found],
            "neighbours_correct": sum(n.case.correct for n in found),
            "weight": weight,
            "base_rate": base,
            "prior_strength": self.prior_strength,
        }


def history_signal(
    path: str,
    embedder: str | Embedder | None = None,
    k: int = 10,
    prior_strength: float = 2.0,
    min_similarity: float = 0.0,
    exclude_same: bool = False,
    name: str = "history",
) -> HistoryCorrectness:
    """The registry's ``history`` signal: a saved history loaded from `path`.

    `embedder` is a registered embedder's name, an embedder object, or None for the
    one the history's manifest names; any other model is refused.

    Example:
        >>> history_signal("history", embedder="minilm", k=10).name
        'history'
    """
    folder = Path(path)
    if embedder is None or isinstance(embedder, str):
        from confguard.embeddings.local import get_embedder

        chosen = embedder or read_manifest(folder).embedder
        embedder = get_embedder(chosen)
    history = History.load(folder, embedder)
    return HistoryCorrectness(
        history,
        k,
        prior_strength=prior_strength,
        min_similarity=min_similarity,
        exclude_same=exclude_same,
        name=name,
    )


def saved_history(folder: Path | str) -> bool:
    """Whether `folder` holds a saved history (a preset adds the signal if so)."""
    return (Path(folder) / "manifest.json").is_file()


__all__ = [
    "History",
    "HistoryCorrectness",
    "HistoryManifest",
    "LabelledCase",
    "Neighbour",
    "ReviewSource",
    "eval_cases",
    "history_signal",
    "read_manifest",
    "review_cases",
    "saved_history",
]
