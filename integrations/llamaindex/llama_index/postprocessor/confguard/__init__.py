"""confguard for LlamaIndex: confident node ranking and confidence-gated query engines.

Example:
    >>> from llama_index.postprocessor.confguard import (
    ...     ConfidentNodePostprocessor, GuardedQueryEngine, NodeAgreement,
    ... )
    >>> post = ConfidentNodePostprocessor(embedders=[minilm, e5], min_confidence=0.5)
    >>> engine = GuardedQueryEngine.from_signals(
    ...     index.as_query_engine(node_postprocessors=[post]),
    ...     [AverageLogprob(), NodeAgreement()],
    ...     Policy(),
    ... )
    >>> engine.query("Who won Super Bowl 50?").metadata["confguard"]["action"]
"""

from llama_index.postprocessor.confguard.credibility import (
    CredibilityCheck,
    FunctionCredibility,
    SituatedCredibility,
)
from llama_index.postprocessor.confguard.embeddings import (
    ConfguardEmbedding,
    LlamaIndexEmbedder,
)
from llama_index.postprocessor.confguard.engine import GuardedQueryEngine
from llama_index.postprocessor.confguard.events import (
    Capture,
    LLMCall,
    LogprobEventHandler,
    capture_logprobs,
)
from llama_index.postprocessor.confguard.llm import GeneratorLLM, LlamaIndexGenerator
from llama_index.postprocessor.confguard.nodes import (
    METADATA_KEY,
    DroppedNode,
    NodeReport,
    NodeScore,
)
from llama_index.postprocessor.confguard.pipeline import QueryEnginePipeline
from llama_index.postprocessor.confguard.postprocessor import ConfidentNodePostprocessor
from llama_index.postprocessor.confguard.signals import NodeAgreement, NodeCredibility
from llama_index.postprocessor.confguard.verdict import (
    VERDICT_KEY,
    AttemptSummary,
    Issue,
    SignalSummary,
    Verdict,
)

__all__ = [
    "METADATA_KEY",
    "VERDICT_KEY",
    "AttemptSummary",
    "Capture",
    "ConfguardEmbedding",
    "ConfidentNodePostprocessor",
    "CredibilityCheck",
    "DroppedNode",
    "FunctionCredibility",
    "GeneratorLLM",
    "GuardedQueryEngine",
    "Issue",
    "LLMCall",
    "LlamaIndexEmbedder",
    "LlamaIndexGenerator",
    "LogprobEventHandler",
    "NodeAgreement",
    "NodeCredibility",
    "NodeReport",
    "NodeScore",
    "QueryEnginePipeline",
    "SignalSummary",
    "SituatedCredibility",
    "Verdict",
    "capture_logprobs",
]
