"""confguard: confidence-gating middleware for LLM applications.

Example:
    >>> from confguard import FunctionSignal, Guard, Observation, Policy
    >>> guard = Guard([FunctionSignal(lambda obs: 0.9, name="fixed")], Policy())
    >>> guard.check(Observation(question="2+2?", answer="4")).decision.action
    'accept'
"""

from confguard.exceptions import (
    ConfguardError,
    ConfigurationError,
    EscalationError,
    LowConfidenceError,
    ObservationError,
    PolicyError,
    UnknownComponentError,
)
from confguard.guard import AsyncGuard, Guard
from confguard.observation import Context, Observation, Sample, TokenLogprob
from confguard.policy import Policy, decide
from confguard.results import (
    Abstain,
    Accept,
    Annotate,
    Assessment,
    Attempt,
    AttemptRecord,
    Decision,
    Escalate,
    GuardResult,
    Retry,
    RetryStrategy,
    SignalResult,
    SignalStatus,
)
from confguard.routes import (
    CallableRoute,
    EscalationRequest,
    PipelineRoute,
    ReviewQueueRoute,
    WebhookRoute,
)
from confguard.scoring import mean, minimum, weighted
from confguard.signals.base import FunctionSignal

__version__ = "0.1.0"

__all__ = [
    "Abstain",
    "Accept",
    "Annotate",
    "Assessment",
    "AsyncGuard",
    "Attempt",
    "AttemptRecord",
    "CallableRoute",
    "ConfguardError",
    "ConfigurationError",
    "Context",
    "Decision",
    "Escalate",
    "EscalationError",
    "EscalationRequest",
    "FunctionSignal",
    "Guard",
    "GuardResult",
    "LowConfidenceError",
    "Observation",
    "ObservationError",
    "PipelineRoute",
    "Policy",
    "PolicyError",
    "Retry",
    "RetryStrategy",
    "ReviewQueueRoute",
    "Sample",
    "SignalResult",
    "SignalStatus",
    "TokenLogprob",
    "UnknownComponentError",
    "WebhookRoute",
    "decide",
    "mean",
    "minimum",
    "weighted",
]
