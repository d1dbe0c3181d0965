"""The policy: thresholds and actions, the pure `decide()`, and escalation routes."""

from confguard.policy.decide import decide
from confguard.policy.model import (
    AbstainPolicy,
    AnnotatePolicy,
    EscalatePolicy,
    Policy,
    RetryPolicy,
    Thresholds,
)
from confguard.policy.pipeline import Pipeline
from confguard.policy.retrying import Retries
from confguard.policy.routes import (
    CallableRoute,
    EscalationRequest,
    PipelineRoute,
    ReviewQueueRoute,
    Route,
    RouteOutcome,
    WebhookRoute,
)

__all__ = [
    "AbstainPolicy",
    "AnnotatePolicy",
    "CallableRoute",
    "EscalatePolicy",
    "EscalationRequest",
    "Pipeline",
    "PipelineRoute",
    "Policy",
    "Retries",
    "RetryPolicy",
    "ReviewQueueRoute",
    "Route",
    "RouteOutcome",
    "Thresholds",
    "WebhookRoute",
    "decide",
]
