"""The policy: thresholds, rules and actions, the pure `decide()`, and the cascade.

Escalation routes, retries and the pipeline protocol live in `confguard.routes`.
"""

from confguard.policy.cascade import Cascade
from confguard.policy.claims import ClaimPolicy
from confguard.policy.conditions import Condition, signal
from confguard.policy.decide import decide
from confguard.policy.model import (
    AbstainPolicy,
    AnnotatePolicy,
    EscalatePolicy,
    Policy,
    RetryPolicy,
    Thresholds,
)
from confguard.policy.rules import Rule
from confguard.policy.strata import Stratum

__all__ = [
    "AbstainPolicy",
    "AnnotatePolicy",
    "Cascade",
    "ClaimPolicy",
    "Condition",
    "EscalatePolicy",
    "Policy",
    "RetryPolicy",
    "Rule",
    "Stratum",
    "Thresholds",
    "decide",
    "signal",
]
