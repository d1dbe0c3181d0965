"""Signals: small strategy objects turning an Observation into a SignalResult.

Example:
    >>> from confguard.signals import AverageLogprob
    >>> from confguard.testing import make_observation
    >>> AverageLogprob().score(make_observation(probs=[0.5, 0.5])).confidence
    0.5
"""

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
from confguard.signals.judge import Judge, RatingScale
from confguard.signals.pairwise import PairwiseJudge
from confguard.signals.retrieval import AnswerSupport, RetrievalSupport
from confguard.signals.token import (
    TOKEN_SIGNALS,
    AverageLogprob,
    DistributionalPerplexity,
    Gini,
    MinTokenProbability,
    SelfCertainty,
    TokenEntropy,
    TokenSignal,
    token_metric,
)
from confguard.signals.verbal import (
    HedgeLexicon,
    HedgingSignal,
    StatedConfidence,
    VerbalizedConfidence,
)

__all__ = [
    "TOKEN_SIGNALS",
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
    "Judge",
    "MinTokenProbability",
    "NumSet",
    "PairwiseJudge",
    "PerplexityConsistency",
    "RatingScale",
    "RetrievalSupport",
    "SelfCertainty",
    "SelfConsistency",
    "Signal",
    "StatedConfidence",
    "TokenEntropy",
    "TokenSignal",
    "VerbalizedConfidence",
    "as_signal",
    "ascore",
    "token_metric",
    "with_samples",
]
