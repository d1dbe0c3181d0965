"""Embedding models: the `Embedder` protocol and the embedded local models.

Example:
    >>> from confguard.embeddings import local_embedders
    >>> [e.name for e in local_embedders()]
    ['minilm', 'mpnet', 'e5', 'wordllama']
"""

from confguard.embeddings.base import (
    BaseEmbedder,
    Embedder,
    ProgressCallback,
    Vectors,
    normalise,
)
from confguard.embeddings.local import (
    E5Embedder,
    MiniLMEmbedder,
    MpnetEmbedder,
    WordLlamaEmbedder,
    get_embedder,
    local_embedders,
    mpnet_model_dir,
)

__all__ = [
    "BaseEmbedder",
    "E5Embedder",
    "Embedder",
    "MiniLMEmbedder",
    "MpnetEmbedder",
    "ProgressCallback",
    "Vectors",
    "WordLlamaEmbedder",
    "get_embedder",
    "local_embedders",
    "mpnet_model_dir",
    "normalise",
]
