"""langchain-confguard: confidence-gate LangChain Runnables, chat models and agents.

Example:
    >>> from confguard import Guard, Policy
    >>> from confguard.signals import AverageLogprob
    >>> from langchain_confguard import GuardedRunnable, Verdict
    >>> guard = Guard([AverageLogprob()], Policy())
    >>> guarded = GuardedRunnable(bound=chain, guard=guard)
    >>> Verdict.of(guarded.invoke({"question": "Who won Super Bowl 50?"})).action
    'accept'

The agent middleware (`ConfidenceGateMiddleware`, `HumanEscalationMiddleware`,
`HumanReviewRoute`) needs the ``agents`` extra and is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_confguard.callbacks import (
    AsyncConfidenceCallbackHandler,
    ConfidenceCallbackHandler,
    build_observation,
)
from langchain_confguard.chat_model import GeneratorChatModel
from langchain_confguard.generator import (
    ChatModelGenerator,
    GenerationRequest,
    openai_kwargs,
    stop_only,
)
from langchain_confguard.logprobs import message_logprobs, openai_logprobs
from langchain_confguard.rag import (
    ConfguardRetriever,
    ConfidentAnswer,
    ConfidentRAGRunnable,
)
from langchain_confguard.runnable import ATTEMPT_TAG, GuardedRunnable
from langchain_confguard.text import answer_text, question_text
from langchain_confguard.verdict import METADATA_KEY, SignalSummary, Verdict

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
    "ATTEMPT_TAG",
    "METADATA_KEY",
    "AnswerReview",
    "AsyncConfidenceCallbackHandler",
    "ChatModelGenerator",
    "ConfguardRetriever",
    "ConfidenceCallbackHandler",
    "ConfidenceGateMiddleware",
    "ConfidentAnswer",
    "ConfidentRAGRunnable",
    "GenerationRequest",
    "GeneratorChatModel",
    "GuardedRunnable",
    "HumanEscalationMiddleware",
    "HumanReviewRoute",
    "SignalSummary",
    "Verdict",
    "answer_text",
    "build_observation",
    "message_logprobs",
    "openai_kwargs",
    "openai_logprobs",
    "question_text",
    "stop_only",
]
