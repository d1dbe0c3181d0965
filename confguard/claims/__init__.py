"""Claim-level confidence: split long answers into claims, score each claim.

The flow: `ClaimScorer` splits `obs.answer` (sentences by default, see
`confguard.claims.split`), aligns each claim with the tokens that produced it,
and runs the claim signals (`confguard.claims.signals`); the policy's `claims:`
section (`confguard.policy.claims.ClaimPolicy`) combines each claim's evidence
and keeps, flags, redacts or gates; `Guard(..., claims=ClaimScorer(...))` does
both on every attempt, and `Guard.stream` sentence by sentence.
"""

from confguard.claims.align import token_offsets, token_span
from confguard.claims.base import BaseClaimSignal, ClaimSignal
from confguard.claims.relevance import (
    GENERIC_QUESTION,
    ClaimQuestionLift,
    ClaimQuestionRelevance,
    question_part,
)
from confguard.claims.scorer import ClaimScorer, ScoredClaim
from confguard.claims.signals import (
    ClaimContextLift,
    ClaimContextSupport,
    ClaimForcedLikelihood,
    ClaimLexicalSupport,
    ClaimSampleAgreement,
    ClaimTokenConfidence,
    forced_prompt,
)
from confguard.claims.split import (
    Essential,
    RegexSentenceSplitter,
    SentenceSplitter,
    Splitter,
    split_claims,
)

__all__ = [
    "GENERIC_QUESTION",
    "BaseClaimSignal",
    "ClaimContextLift",
    "ClaimContextSupport",
    "ClaimForcedLikelihood",
    "ClaimLexicalSupport",
    "ClaimQuestionLift",
    "ClaimQuestionRelevance",
    "ClaimSampleAgreement",
    "ClaimScorer",
    "ClaimSignal",
    "ClaimTokenConfidence",
    "Essential",
    "RegexSentenceSplitter",
    "ScoredClaim",
    "SentenceSplitter",
    "Splitter",
    "forced_prompt",
    "question_part",
    "split_claims",
    "token_offsets",
    "token_span",
]
