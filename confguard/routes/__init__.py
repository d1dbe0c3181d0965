"""Where a guarded request goes next: the user's pipeline, retries, escalation routes.

`Pipeline` is what the guard runs for each attempt; `Retries` and `RetryRule` turn
``retries=`` into a tenacity controller; the routes take escalated cases.

Example:
    >>> from confguard.routes import ReviewQueueRoute, WebhookRoute
    >>> routes = {"review": ReviewQueueRoute(store), "oncall": WebhookRoute(url)}
"""

from confguard.routes.base import BaseRoute, EscalationRequest, Route, RouteOutcome
from confguard.routes.builtin import CallableRoute, PipelineRoute, ReviewQueueRoute
from confguard.routes.delivery import DeliveryReport, DeliveryWorker
from confguard.routes.pipeline import Pipeline
from confguard.routes.retrying import Retries, RetryRule
from confguard.routes.webhook import WebhookRoute

__all__ = [
    "BaseRoute",
    "CallableRoute",
    "DeliveryReport",
    "DeliveryWorker",
    "EscalationRequest",
    "Pipeline",
    "PipelineRoute",
    "Retries",
    "RetryRule",
    "ReviewQueueRoute",
    "Route",
    "RouteOutcome",
    "WebhookRoute",
]
