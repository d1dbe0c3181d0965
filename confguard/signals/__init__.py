"""Signals: small strategy objects turning an Observation into a SignalResult.

Example:
    >>> from confguard.signals import AverageLogprob
    >>> from confguard.testing import make_observation
    >>> AverageLogprob().score(make_observation(probs=[0.5, 0.5])).confidence
    0.5
"""

from confguard.signals.agreement import MultiEmbeddingAgreement
from confguard.signals.base import (
    BaseSignal,
    DeclaredCost,
    FunctionSignal,
    Signal,
    as_signal,
    ascore,
)
from confguard.signals.consistency import (
    Deg,
    Ecc,
    EigV,
    GeneratorSampler,
    NumSet,
    PerplexityConsistency,
    SelfConsistency,
    with_samples,
)
from confguard.signals.elicitation import ElicitedConfidence
from confguard.signals.faithfulness import (
    RCR,
    HigherConfidenceWins,
    Plausibility,
    SCRExplicit,
    SCRImplicit,
    SituatedFaithfulness,
    SituatedVerdict,
    TrustThreshold,
)
from confguard.signals.judge import Judge, RatingScale
from confguard.signals.pairwise import PairwiseJudge
from confguard.signals.retrieval import AnswerSupport, RetrievalSupport
from confguard.signals.token import (
    AverageLogprob,
    DistributionalPerplexity,
    Gini,
    MinTokenProbability,
    SelfCertainty,
    TokenEntropy,
    TokenSignal,
    token_metric,
    token_signals,
)
from confguard.signals.verbal import (
    HedgeLexicon,
    HedgingSignal,
    StatedConfidence,
    VerbalizedConfidence,
)

__all__ = [
    "RCR",
    "AnswerSupport",
    "AverageLogprob",
    "BaseSignal",
    "DeclaredCost",
    "Deg",
    "DistributionalPerplexity",
    "Ecc",
    "EigV",
    "ElicitedConfidence",
    "FunctionSignal",
    "GeneratorSampler",
    "Gini",
    "HedgeLexicon",
    "HedgingSignal",
    "HigherConfidenceWins",
    "Judge",
    "MinTokenProbability",
    "MultiEmbeddingAgreement",
    "NumSet",
    "PairwiseJudge",
    "PerplexityConsistency",
    "Plausibility",
    "RatingScale",
    "RetrievalSupport",
    "SCRExplicit",
    "SCRImplicit",
    "SelfCertainty",
    "SelfConsistency",
    "Signal",
    "SituatedFaithfulness",
    "SituatedVerdict",
    "StatedConfidence",
    "TokenEntropy",
    "TokenSignal",
    "TrustThreshold",
    "VerbalizedConfidence",
    "as_signal",
    "ascore",
    "token_metric",
    "token_signals",
    "with_samples",
]
