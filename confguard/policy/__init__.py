"""The policy: thresholds and actions, the pure `decide()`, and the cost-aware cascade.

Escalation routes, retries and the pipeline protocol live in `confguard.routes`.
"""

from confguard.policy.cascade import Cascade
from confguard.policy.decide import decide
from confguard.policy.model import (
    AbstainPolicy,
    AnnotatePolicy,
    EscalatePolicy,
    Policy,
    RetryPolicy,
    Thresholds,
)

__all__ = [
    "AbstainPolicy",
    "AnnotatePolicy",
    "Cascade",
    "EscalatePolicy",
    "Policy",
    "RetryPolicy",
    "Thresholds",
    "decide",
]
