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
    >>> verdict_of(engine.query("Who won Super Bowl 50?")).action
"""

from confguard.observation import Issue, NodeScore
from confguard.results import AttemptSummary, SignalSummary, Verdict

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
    node_score,
)
from llama_index.postprocessor.confguard.observability import ConfguardVerdictEvent
from llama_index.postprocessor.confguard.pipeline import IssueCode, QueryEnginePipeline
from llama_index.postprocessor.confguard.postprocessor import ConfidentNodePostprocessor
from llama_index.postprocessor.confguard.signals import NodeAgreement, NodeCredibility
from llama_index.postprocessor.confguard.verdict import (
    VERDICT_KEY,
    get_verdict,
    verdict_of,
)

__all__ = [
    "METADATA_KEY",
    "VERDICT_KEY",
    "AttemptSummary",
    "Capture",
    "ConfguardEmbedding",
    "ConfguardVerdictEvent",
    "ConfidentNodePostprocessor",
    "CredibilityCheck",
    "DroppedNode",
    "FunctionCredibility",
    "GeneratorLLM",
    "GuardedQueryEngine",
    "Issue",
    "IssueCode",
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
    "get_verdict",
    "node_score",
    "verdict_of",
]
