"""The small Generator protocol confguard calls, and the embedded local generator.

Example:
    >>> from confguard.llm import default_generator
    >>> request = GenerationRequest(prompt="Question: 2+2?\\nAnswer:", stop=("\\n",))
    >>> [c] = default_generator().generate(request)
"""

from confguard.llm.base import (
    BaseContinuationScorer,
    BaseGenerator,
    Completion,
    ContinuationScorer,
    GenerationRequest,
    Generator,
    ModelRequest,
    ScoringRequest,
)
from confguard.llm.local import (
    LocalGenerator,
    default_generator,
    gemma_gguf_path,
)
from confguard.paths import cache_dir

__all__ = [
    "BaseContinuationScorer",
    "BaseGenerator",
    "Completion",
    "ContinuationScorer",
    "GenerationRequest",
    "Generator",
    "LocalGenerator",
    "ModelRequest",
    "ScoringRequest",
    "cache_dir",
    "default_generator",
    "gemma_gguf_path",
]
