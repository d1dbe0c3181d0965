"""langchain-confguard: confidence-gate LangChain Runnables, chat models and agents.

Example:
    >>> from confguard import Guard, Policy
    >>> from confguard.signals import AverageLogprob
    >>> from langchain_confguard import GuardedRunnable, verdict_of
    >>> guard = Guard([AverageLogprob()], Policy())
    >>> guarded = GuardedRunnable(bound=chain, guard=guard)
    >>> verdict_of(guarded.invoke({"question": "Who won Super Bowl 50?"})).action
    'accept'

The agent middleware (`ConfidenceGateMiddleware`, `HumanEscalationMiddleware`,
`HumanReviewRoute`) needs the ``agents`` extra and is imported on first use.
A streaming client reads through `gated_stream` / `agated_stream` to see the gated
answer only. Every guarded run carries its verdict in its run metadata and a
``confguard:<action>`` tag; a `VerdictCallback` collects it for any output type
(see `langchain_confguard.observability`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from confguard.llm.base import GenerationRequest
from confguard.results import AttemptSummary, SignalSummary, Verdict
from langchain_confguard.callbacks import (
    AsyncConfidenceCallbackHandler,
    ConfidenceCallbackHandler,
    build_observation,
)
from langchain_confguard.chat_model import GeneratorChatModel
from langchain_confguard.generator import (
    ChatModelGenerator,
    openai_kwargs,
    stop_only,
)
from langchain_confguard.logprobs import message_logprobs, openai_logprobs
from langchain_confguard.observability import (
    ACTION_KEY,
    CONFIDENCE_KEY,
    FEEDBACK_KEY,
    REQUEST_ID_KEY,
    VERDICT_EVENT,
    FeedbackClient,
    RunVerdict,
    VerdictCallback,
    verdict_tag,
)
from langchain_confguard.rag import (
    ConfguardRetriever,
    ConfidentAnswer,
    ConfidentRAGRunnable,
)
from langchain_confguard.runnable import ATTEMPT_TAG, GuardedRunnable, attempt_of
from langchain_confguard.streaming import agated_stream, gated_stream, is_attempt
from langchain_confguard.text import answer_text, question_text
from langchain_confguard.verdict import METADATA_KEY, get_verdict, verdict_of

if TYPE_CHECKING:
    from langchain_confguard.agents import (
        AnswerReview,
        ConfidenceGateMiddleware,
        HumanEscalationMiddleware,
        HumanReviewRoute,
    )

_AGENTS = (
    "AnswerReview",
    "ConfidenceGateMiddleware",
    "HumanEscalationMiddleware",
    "HumanReviewRoute",
)


def __getattr__(name: str) -> Any:
    # The middleware imports `langchain` (the `agents` extra): load it on demand.
    if name in _AGENTS:
        from langchain_confguard import agents

        return getattr(agents, name)
    raise AttributeError(f"module 'langchain_confguard' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "ACTION_KEY",
    "ATTEMPT_TAG",
    "CONFIDENCE_KEY",
    "FEEDBACK_KEY",
    "METADATA_KEY",
    "REQUEST_ID_KEY",
    "VERDICT_EVENT",
    "AnswerReview",
    "AsyncConfidenceCallbackHandler",
    "AttemptSummary",
    "ChatModelGenerator",
    "ConfguardRetriever",
    "ConfidenceCallbackHandler",
    "ConfidenceGateMiddleware",
    "ConfidentAnswer",
    "ConfidentRAGRunnable",
    "FeedbackClient",
    "GenerationRequest",
    "GeneratorChatModel",
    "GuardedRunnable",
    "HumanEscalationMiddleware",
    "HumanReviewRoute",
    "RunVerdict",
    "SignalSummary",
    "Verdict",
    "VerdictCallback",
    "agated_stream",
    "answer_text",
    "attempt_of",
    "build_observation",
    "gated_stream",
    "get_verdict",
    "is_attempt",
    "message_logprobs",
    "openai_kwargs",
    "openai_logprobs",
    "question_text",
    "stop_only",
    "verdict_of",
    "verdict_tag",
]
