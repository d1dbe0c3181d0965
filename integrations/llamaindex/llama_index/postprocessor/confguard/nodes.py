"""LlamaIndex nodes as confguard sees them: text, contexts and confguard's node scores.

The postprocessor writes one `confguard.observation.NodeScore` per node into
``node.metadata["confguard"]`` (its JSON dump, as node metadata must be) and keeps
that key out of the LLM prompt and the embedding text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from confguard.observation import Context, NodeScore
from llama_index.core.schema import MetadataMode, NodeWithScore
from pydantic import BaseModel, ConfigDict, ValidationError

METADATA_KEY = "confguard"
"""The node-metadata key under which confguard's scores are stored."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def node_score(node: NodeWithScore) -> NodeScore | None:
    """The score stored on a node, or None if the postprocessor did not see it.

    Example:
        >>> node_score(nodes[0]).found_by
        ('minilm', 'e5')
    """
    raw = node.node.metadata.get(METADATA_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        return NodeScore.model_validate(raw)
    except ValidationError:
        return None  # a foreign "confguard" key is not ours to interpret


class DroppedNode(_Frozen):
    """A node the postprocessor removed, and why."""

    node_id: str
    reason: str


class NodeReport(_Frozen):
    """One postprocessing call: what was kept, what was dropped and why."""

    query: str
    kept: tuple[str, ...] = ()
    dropped: tuple[DroppedNode, ...] = ()
    without_text: tuple[str, ...] = ()
    note: str | None = None
    """Set when the result is empty or holds nodes kept below a threshold."""

    @property
    def empty(self) -> bool:
        """True when no node was returned."""
        return not self.kept


def node_text(node: NodeWithScore) -> str:
    """The node's own text, without metadata (empty for nodes that carry none)."""
    try:
        return str(node.node.get_content(metadata_mode=MetadataMode.NONE))
    except (AttributeError, NotImplementedError, ValueError):
        return ""  # e.g. an image node: nothing confguard can read


def has_text(node: NodeWithScore) -> bool:
    """True when the node carries non-blank text."""
    return bool(node_text(node).strip())


def with_node_score(node: NodeWithScore, score: NodeScore) -> NodeWithScore:
    """A copy of the node carrying `score` (the docstore's node is never mutated)."""
    inner = node.node
    stored = score.model_copy(update={"node_id": inner.node_id})
    updates: dict[str, Any] = {
        "metadata": {**inner.metadata, METADATA_KEY: stored.model_dump(mode="json")},
        "excluded_llm_metadata_keys": _with_key(inner.excluded_llm_metadata_keys),
        "excluded_embed_metadata_keys": _with_key(inner.excluded_embed_metadata_keys),
    }
    return NodeWithScore(node=inner.model_copy(update=updates), score=node.score)


def _with_key(keys: Sequence[str]) -> list[str]:
    return [*keys, METADATA_KEY] if METADATA_KEY not in keys else list(keys)


def to_context(node: NodeWithScore) -> Context | None:
    """The node as an Observation context (None for a node without text)."""
    text = node_text(node)
    if not text.strip():
        return None
    score = node.score
    finite = score is not None and math.isfinite(score)
    found = node_score(node)
    return Context(
        text=text,
        source=node.node.node_id,
        score=float(score) if finite and score is not None else None,
        retriever=",".join(found.found_by) if found and found.found_by else None,
    )


def scored_nodes(nodes: Iterable[NodeWithScore]) -> tuple[NodeScore, ...]:
    """The confguard scores of the nodes that carry one, in node order."""
    return tuple(s for s in map(node_score, nodes) if s is not None)


__all__ = [
    "METADATA_KEY",
    "DroppedNode",
    "NodeReport",
    "has_text",
    "node_score",
    "node_text",
    "scored_nodes",
    "to_context",
    "with_node_score",
]
