"""ConfidentNodePostprocessor: rank retrieved nodes by multi-embedding agreement.

Several embedding models vote on the retrieved nodes; a node found by more of them
ranks higher (on SQuAD-Shifts, a passage that MiniLM, mpnet and E5 all ranked first
was right 90% of the time, against 27% when they disagreed). An optional
credibility check scores each passage too. Nodes can be dropped below thresholds,
but the postprocessor never silently returns nothing: every call leaves a
`NodeReport` (in the current `capture_logprobs()` block, which `GuardedQueryEngine`
turns into the verdict) and logs a warning when the result is empty.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from confguard.embeddings.base import Embedder
from confguard.observation import NodeScore
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from pydantic import Field, field_validator, model_validator

from llama_index.postprocessor.confguard.credibility import as_credibility
from llama_index.postprocessor.confguard.embeddings import (
    aembed_documents,
    aembed_query,
    as_embedder,
)
from llama_index.postprocessor.confguard.events import current_capture
from llama_index.postprocessor.confguard.nodes import (
    DroppedNode,
    NodeReport,
    has_text,
    node_text,
    with_node_score,
)
from llama_index.postprocessor.confguard.scoring import (
    Similarities,
    ranking_key,
    score_candidates,
)

logger = logging.getLogger(__name__)


class ConfidentNodePostprocessor(BaseNodePostprocessor):
    """Scores nodes by embedder agreement (and credibility); ranks, may drop.

    Each node gets a `NodeScore` in ``node.metadata["confguard"]``: `confidence` is
    the share of `embedders` that rank it in their `top_k` among the candidates.
    Nodes below `min_confidence` or `min_credibility` are dropped, except that the
    best `keep_at_least` are always kept (flagged in their note); at most `top_n`
    nodes are returned.

    Example:
        >>> from confguard.embeddings import E5Embedder, MiniLMEmbedder
        >>> post = ConfidentNodePostprocessor(
        ...     embedders=[MiniLMEmbedder(), E5Embedder()], top_k=2, min_confidence=0.5
        ... )
        >>> engine = index.as_query_engine(
        ...     similarity_top_k=5, node_postprocessors=[post]
        ... )
    """

    embedders: list[Any] = Field(min_length=1, exclude=True)
    """confguard Embedders or LlamaIndex BaseEmbedding models (adapted)."""
    top_k: int = Field(default=3, ge=1)
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    credibility: Any = Field(default=None, exclude=True)
    """A CredibilityCheck or a function `(query, text) -> float in [0, 1]`."""
    min_credibility: float | None = Field(default=None, ge=0.0, le=1.0)
    keep_at_least: int = Field(default=1, ge=0)
    top_n: int | None = Field(default=None, ge=1)
    """Return at most this many nodes (the best ranked), like a reranker's top_n."""

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex shows for this postprocessor."""
        return "ConfidentNodePostprocessor"

    @field_validator("embedders", mode="after")
    @classmethod
    def _adapt_embedders(cls, value: list[Any]) -> list[Any]:
        try:
            embedders = [as_embedder(e) for e in value]
        except TypeError as exc:  # pydantic reports ValueErrors, not TypeErrors
            raise ValueError(str(exc)) from exc
        names = [e.name for e in embedders]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"every embedder needs its own name; repeated: {repeated}")
        return embedders

    @field_validator("credibility", mode="after")
    @classmethod
    def _adapt_credibility(cls, value: Any) -> Any:
        try:
            return None if value is None else as_credibility(value)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="after")
    def _threshold_needs_check(self) -> ConfidentNodePostprocessor:
        if self.min_credibility is not None and self.credibility is None:
            raise ValueError("min_credibility is set but no credibility check is")
        return self

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, candidates, texts = _candidates(nodes, query_bundle)
        sims = {e.name: _cosines(e, query, texts) for e in self.embedders}
        pairs = self._scored(candidates, sims)
        scores = [self._credible(query, n, s) for n, s in pairs]
        return self._select(query, nodes, candidates, scores)

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, candidates, texts = _candidates(nodes, query_bundle)
        found = await asyncio.gather(
            *(_acosines(e, query, texts) for e in self.embedders)
        )
        sims = {e.name: s for e, s in zip(self.embedders, found, strict=True)}
        pairs = self._scored(candidates, sims)
        credible = (self._acredible(query, n, s) for n, s in pairs)
        return self._select(query, nodes, candidates, await asyncio.gather(*credible))

    def _scored(
        self, candidates: list[NodeWithScore], sims: dict[str, Similarities]
    ) -> list[tuple[NodeWithScore, NodeScore]]:
        scores = score_candidates(candidates, sims, self.top_k)
        return list(zip(candidates, scores, strict=True))

    def _wants_credibility(self, score: NodeScore) -> bool:
        # Cheap evidence first: no credibility call for a node already dropped.
        below = self.min_confidence is not None and (
            (score.confidence or 0.0) < self.min_confidence
        )
        return self.credibility is not None and not below

    def _credible(self, query: str, node: NodeWithScore, score: NodeScore) -> NodeScore:
        if not self._wants_credibility(score):
            return score
        try:
            value = self.credibility.credibility(query, node_text(node))
        except Exception as exc:  # a failing check is recorded, never fatal
            return _credibility_failed(score, exc)
        return _with_credibility(score, value)

    async def _acredible(
        self, query: str, node: NodeWithScore, score: NodeScore
    ) -> NodeScore:
        if not self._wants_credibility(score):
            return score
        check = self.credibility
        try:
            if hasattr(check, "acredibility"):
                value = await check.acredibility(query, node_text(node))
            else:
                value = await asyncio.to_thread(
                    check.credibility, query, node_text(node)
                )
        except Exception as exc:
            return _credibility_failed(score, exc)
        return _with_credibility(score, value)

    def _select(
        self,
        query: str,
        nodes: Sequence[NodeWithScore],
        candidates: Sequence[NodeWithScore],
        scores: Sequence[NodeScore],
    ) -> list[NodeWithScore]:
        order = sorted(range(len(candidates)), key=lambda i: ranking_key(scores[i]))
        decided = [(candidates[i], self._judge(scores[i])) for i in order]
        textless = [n for n in nodes if not has_text(n)]
        decided += [(n, self._textless()) for n in textless]
        decided = _limit(_rescue(decided, self.keep_at_least), self.top_n)
        _publish(_report(query, decided, len(nodes)))
        return [with_node_score(n, s) for n, s in decided if s.kept]

    def _judge(self, score: NodeScore) -> NodeScore:
        reasons = [
            r for r in (self._low_agreement(score), self._low_credit(score)) if r
        ]
        if not reasons:
            return score
        return score.model_copy(update={"kept": False, "note": "; ".join(reasons)})

    def _low_agreement(self, score: NodeScore) -> str | None:
        bound, value = self.min_confidence, score.confidence
        if bound is None or value is None or value >= bound:
            return None
        return (
            f"confidence {value:.2f} < min_confidence {bound:g} (found by "
            f"{len(score.found_by)} of {len(self.embedders)} embedders)"
        )

    def _low_credit(self, score: NodeScore) -> str | None:
        bound, value = self.min_credibility, score.credibility
        if bound is None or value is None or value >= bound:
            return None
        return f"credibility {value:.2f} < min_credibility {bound:g}"

    def _textless(self) -> NodeScore:
        filtering = self.min_confidence is not None or self.min_credibility is not None
        note = "node has no text to score" + (" (dropped)" if filtering else "")
        return NodeScore(status="no_text", kept=not filtering, note=note)


def _candidates(
    nodes: list[NodeWithScore], query_bundle: QueryBundle | None
) -> tuple[str, list[NodeWithScore], list[str]]:
    """The query, the nodes that carry text, and their texts."""
    if query_bundle is None:
        raise ValueError(
            "ConfidentNodePostprocessor needs the query: pass query_str= or "
            "query_bundle= to postprocess_nodes"
        )
    candidates = [n for n in nodes if has_text(n)]
    return query_bundle.query_str, candidates, [node_text(n) for n in candidates]


def _cosines(embedder: Embedder, query: str, texts: list[str]) -> Similarities:
    if not texts:
        return np.zeros(0)
    return _dot(embedder.embed_documents(texts), embedder.embed_query(query))


async def _acosines(embedder: Embedder, query: str, texts: list[str]) -> Similarities:
    if not texts:
        return np.zeros(0)
    documents = await aembed_documents(embedder, texts)
    return _dot(documents, await aembed_query(embedder, query))


def _dot(documents: Any, query: Any) -> Similarities:
    # Embedders return unit-length rows, so the dot product is the cosine.
    docs = np.asarray(documents, dtype=np.float64)
    return np.asarray(docs @ np.asarray(query, dtype=np.float64).reshape(-1))


def _with_credibility(score: NodeScore, value: object) -> NodeScore:
    number = float(value) if isinstance(value, int | float) else math.nan
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        problem = f"the credibility check returned {value!r}, not a number in [0, 1]"
        return score.model_copy(update={"credibility_problem": problem})
    return score.model_copy(update={"credibility": number})


def _credibility_failed(score: NodeScore, exc: Exception) -> NodeScore:
    problem = f"the credibility check raised {type(exc).__name__}: {exc}"
    return score.model_copy(update={"credibility_problem": problem})


Decided = list[tuple[NodeWithScore, NodeScore]]


def _rescue(decided: Decided, keep_at_least: int) -> Decided:
    """Keep the best dropped scored nodes until `keep_at_least` nodes are kept."""
    missing = keep_at_least - sum(s.kept for _, s in decided)
    rescued: Decided = []
    for node, score in decided:
        if missing > 0 and not score.kept and score.status == "scored":
            note = f"kept although {score.note} (keep_at_least={keep_at_least})"
            score = score.model_copy(update={"kept": True, "note": note})
            missing -= 1
        rescued.append((node, score))
    return rescued


def _limit(decided: Decided, top_n: int | None) -> Decided:
    """Drop the kept nodes ranked below `top_n`."""
    if top_n is None:
        return decided
    limited: Decided = []
    for node, score in decided:
        if score.kept and sum(s.kept for _, s in limited) >= top_n:
            score = score.model_copy(
                update={"kept": False, "note": f"ranked below top_n={top_n}"}
            )
        limited.append((node, score))
    return limited


def _report(query: str, decided: Decided, received: int) -> NodeReport:
    kept = tuple(n.node.node_id for n, s in decided if s.kept)
    dropped = tuple(
        DroppedNode(node_id=n.node.node_id, reason=s.note or "dropped")
        for n, s in decided
        if not s.kept
    )
    textless = tuple(n.node.node_id for n, s in decided if s.status == "no_text")
    return NodeReport(
        query=query,
        kept=kept,
        dropped=dropped,
        without_text=textless,
        note=_note(decided, kept, dropped, received),
    )


def _note(
    decided: Decided,
    kept: tuple[str, ...],
    dropped: tuple[DroppedNode, ...],
    received: int,
) -> str | None:
    if received == 0:
        return "no node returned: the retriever returned no nodes"
    if not kept:
        return f"no node returned: all {received} were dropped ({dropped[0].reason})"
    below = sum(1 for _, s in decided if s.kept and (s.note or "").startswith("kept"))
    if below:
        return f"{below} node(s) kept below threshold so the answer has context"
    return None


def _publish(report: NodeReport) -> None:
    capture = current_capture()
    if capture is not None:
        capture.add_report(report)
    if report.empty:
        logger.warning("ConfidentNodePostprocessor: %s", report.note)


__all__ = ["ConfidentNodePostprocessor"]
