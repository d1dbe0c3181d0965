"""The small Generator protocol confguard calls, and the embedded local generator.

Example:
    >>> from confguard.llm import default_generator
    >>> [c] = default_generator().generate("Question: 2+2?\\nAnswer:", stop=["\\n"])
"""

from confguard.llm.base import Completion, ContinuationScorer, Generator
from confguard.llm.local import (
    LocalGenerator,
    cache_dir,
    default_generator,
    gemma_gguf_path,
)

__all__ = [
    "Completion",
    "ContinuationScorer",
    "Generator",
    "LocalGenerator",
    "cache_dir",
    "default_generator",
    "gemma_gguf_path",
]
