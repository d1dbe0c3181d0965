"""The pure part of node scoring: per-embedder similarities in, NodeScores out.

Each embedder ranks the candidate nodes by cosine similarity; a node is "found" by
an embedder that ranks it in its top_k, and its confidence is the share of
embedders that found it. Similarities are standardised per embedder and pooled
(best z-score) with confguard's Mixture-Embedding functions (`confguard.rag.mixture`,
Chen, Zhao & Chen 2025). A postprocessor sees only the candidates, so each
embedder's mean and spread are those of its similarities to the candidates, not to
the whole corpus as in `MixtureRAGPipeline`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from confguard.observation import NodeScore
from confguard.rag.corpus import Passage
from confguard.rag.index import Hit, SimilarityStats
from confguard.rag.mixture import mix
from confguard.rag.multi import Retrieval
from llama_index.core.schema import NodeWithScore

from llama_index.postprocessor.confguard.nodes import node_text

Similarities = npt.NDArray[np.float64]


def ranked_retrieval(
    name: str, nodes: Sequence[NodeWithScore], similarities: Similarities
) -> Retrieval:
    """One embedder's ranking of every candidate, with its similarity statistics."""
    if len(similarities) != len(nodes):
        raise ValueError(
            f"embedder {name!r} gave {len(similarities)} similarities "
            f"for {len(nodes)} nodes"
        )
    order = np.argsort(-similarities, kind="stable")
    hits = tuple(
        Hit(
            passage=Passage(id=nodes[i].node.node_id, text=node_text(nodes[i])),
            score=float(similarities[i]),
            rank=rank,
            retriever=name,
        )
        for rank, i in enumerate(order)
    )
    stats = SimilarityStats(
        mean=float(similarities.mean()), std=float(similarities.std())
    )
    return Retrieval(retriever=name, hits=hits, stats=stats)


def score_candidates(
    nodes: Sequence[NodeWithScore],
    similarities: Mapping[str, Similarities],
    top_k: int,
) -> list[NodeScore]:
    """A NodeScore per candidate node, in the order the nodes came in.

    Example:
        >>> sims = {"minilm": np.array([0.9, 0.2]), "e5": np.array([0.8, 0.85])}
        >>> [s.confidence for s in score_candidates(nodes, sims, top_k=1)]
        [0.5, 0.5]
    """
    if not nodes:
        return []
    retrievals = [ranked_retrieval(n, nodes, s) for n, s in similarities.items()]
    best_z = {p.hit.passage.id: p.z for p in mix(retrievals, k=len(nodes))}
    return [_node_score(node.node.node_id, retrievals, best_z, top_k) for node in nodes]


def _node_score(
    node_id: str,
    retrievals: Sequence[Retrieval],
    best_z: Mapping[str, float],
    top_k: int,
) -> NodeScore:
    found_by = tuple(r.retriever for r in retrievals if _rank(r, node_id) < top_k)
    return NodeScore(
        node_id=node_id,
        confidence=len(found_by) / len(retrievals),
        z=best_z[node_id],
        found_by=found_by,
        similarities={r.retriever: _similarity(r, node_id) for r in retrievals},
    )


def _hit(retrieval: Retrieval, node_id: str) -> Hit:
    return next(h for h in retrieval.hits if h.passage.id == node_id)


def _rank(retrieval: Retrieval, node_id: str) -> int:
    return int(_hit(retrieval, node_id).rank)


def _similarity(retrieval: Retrieval, node_id: str) -> float:
    return float(_hit(retrieval, node_id).score)


def ranking_key(score: NodeScore) -> tuple[float, float]:
    """Sort key: found by more embedders first, then by pooled z-score."""
    return (-(score.confidence or 0.0), -(score.z or 0.0))


__all__ = ["Similarities", "ranked_retrieval", "ranking_key", "score_candidates"]
