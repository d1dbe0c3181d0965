"""Middleware for LangChain v1 agents (``create_agent``); needs the ``agents`` extra.

`ConfidenceGateMiddleware` gates the model's final answers in ``wrap_model_call``:
tool-call turns pass through untouched; a final answer is scored (its logprobs,
the tool results of this turn as contexts) and accepted, retried (the model is
called again), escalated through the guard's routes or refused.
`HumanEscalationMiddleware` does the same, but an escalated answer is held for a
person: ``after_model`` raises ``interrupt()`` and the run resumes with
``Command(resume={"type": "approve" | "edit" | "reject", ...})``. Interrupting in
``after_model`` (not in ``wrap_model_call``, which would call the model again on
resume) needs a checkpointer.

Every model call the gate makes runs tagged ``confguard:attempt`` and ``nostream``
(LangGraph's ``messages`` stream skips its tokens; `gated_stream` drops its
events) and the gated answer is a new message with its own id, so a streaming
client sees the gated answer only (see `langchain_confguard.streaming`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from langchain.agents.middleware import (
    AgentMiddleware,
    AgentState,
    ModelRequest,
    ModelResponse,
    hook_config,
)
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    RemoveMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, var_child_runnable_config
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from confguard.exceptions import LogprobFormatError
from confguard.guard import AsyncGuard, Guard
from confguard.observation import Context, Issue, Observation
from confguard.results import Attempt, GuardResult, Verdict
from confguard.routes import EscalationRequest, RouteOutcome
from langchain_confguard._guards import arun_guarded, checked_guard, run_guarded
from langchain_confguard._shaping import with_verdict
from langchain_confguard.logprobs import message_logprobs
from langchain_confguard.observability import (
    FeedbackClient,
    RunVerdict,
    areport_verdict,
    guarded_run_id,
    report_verdict,
    run_verdict,
)
from langchain_confguard.streaming import ATTEMPT_TAGS
from langchain_confguard.verdict import get_verdict

Handler = Callable[[ModelRequest[Any]], ModelResponse[Any]]
AsyncHandler = Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]


def final_message(response: ModelResponse[Any]) -> AIMessage | None:
    """The response's answer, or None when it calls tools (or has no AIMessage)."""
    for message in reversed(response.result):
        if isinstance(message, AIMessage):
            return None if message.tool_calls else message
    return None


def turn_question(messages: Sequence[AnyMessage]) -> str:
    """The text of the last human message."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    return ""


def turn_contexts(messages: Sequence[AnyMessage]) -> tuple[Context, ...]:
    """The tool results since the last human message, as contexts."""
    found: list[Context] = []
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, ToolMessage):
            name = message.name or "tool"
            found.append(Context(text=message.text, source=name, retriever=name))
    return tuple(reversed(found))


def agent_observation(
    question: str, message: AIMessage, contexts: tuple[Context, ...], attempt: Attempt
) -> Observation:
    """The Observation of one final answer; unreadable logprobs count as none."""
    issues: list[Issue] = []
    try:
        logprobs = message_logprobs(message)
    except LogprobFormatError as exc:
        logprobs = None
        issues.append(_issue("unreadable_logprobs", attempt, str(exc)))
    if not message.text:
        issues.append(
            _issue("empty_response", attempt, "the final message has no text")
        )
    return Observation(
        question=question,
        answer=message.text,
        contexts=contexts,
        logprobs=logprobs,
        issues=tuple(issues),
        pipeline="langchain_agent",
        attempt=attempt.number,
    )


@contextmanager
def attempt_calls(number: int) -> Iterator[None]:
    """Model calls made inside the block run as attempt `number` (tagged).

    The agent calls its model with no config of its own, so it inherits the
    current one: tagging that tags the call (and its tokens) as an attempt.
    """
    config = ensure_config()
    config["tags"] = [*config.get("tags", []), *ATTEMPT_TAGS]
    config["metadata"] = {**config.get("metadata", {}), "confguard_attempt": number}
    token = var_child_runnable_config.set(config)
    try:
        yield
    finally:
        var_child_runnable_config.reset(token)


def _issue(code: str, attempt: Attempt, detail: str) -> Issue:
    return Issue(code=code, attempt=attempt.number, detail=detail)


class _ToolTurn(Exception):
    """A retry came back with tool calls: the agent loop takes over again."""

    def __init__(self, response: ModelResponse[Any]) -> None:
        super().__init__("the retry called tools")
        self.response = response


@dataclass
class _Turn:
    """One gated model turn: its first response and its responses per attempt."""

    request: ModelRequest[Any]
    first: ModelResponse[Any]
    question: str
    contexts: tuple[Context, ...]
    responses: dict[int, ModelResponse[Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, request: ModelRequest[Any], first: ModelResponse[Any]) -> _Turn | None:
        """The turn to gate, or None when the model called tools."""
        if final_message(first) is None:
            return None
        messages = request.messages
        return cls(request, first, turn_question(messages), turn_contexts(messages))

    def retry_request(self, attempt: Attempt) -> ModelRequest[Any]:
        """The request of a retry: the strategy's generation settings applied."""
        changes = attempt.strategy.generation if attempt.strategy else {}
        if not changes:
            return self.request
        settings = {**self.request.model_settings, **changes}
        return self.request.override(model_settings=settings)

    def run(self, attempt: Attempt, handler: Handler) -> Observation:
        """One attempt: the first response, or the model called again."""
        if attempt.number == 1:
            return self.observe(self.first, attempt)
        with attempt_calls(attempt.number):
            response = handler(self.retry_request(attempt))
        return self.observe(response, attempt)

    async def arun(self, attempt: Attempt, handler: AsyncHandler) -> Observation:
        """Async twin of `run`."""
        if attempt.number == 1:
            return self.observe(self.first, attempt)
        with attempt_calls(attempt.number):
            response = await handler(self.retry_request(attempt))
        return self.observe(response, attempt)

    def observe(self, response: ModelResponse[Any], attempt: Attempt) -> Observation:
        """The Observation of a final answer (a tool-call turn escapes the guard)."""
        message = final_message(response)
        if message is None:
            raise _ToolTurn(response)
        self.responses[attempt.number] = response
        return agent_observation(self.question, message, self.contexts, attempt)


class ConfidenceGateMiddleware(AgentMiddleware[AgentState[Any], Any]):
    """Gate a ``create_agent`` agent's final answers: retry or refuse when unsure.

    The verdict is in the final message's ``response_metadata["confguard"]``; the
    model node's run carries it in its metadata and ``confguard:<action>`` tag and
    dispatches the ``confguard_verdict`` event (see `VerdictCallback`).

    Example:
        >>> agent = create_agent(model, tools, middleware=[
        ...     ConfidenceGateMiddleware(Guard([AverageLogprob()], policy))])
        >>> reply = agent.invoke({"messages": [("user", "Capital of France?")]})
        >>> verdict_of(reply["messages"][-1]).action
        'accept'
    """

    def __init__(
        self,
        guard: Guard | AsyncGuard,
        *,
        append_caveat: bool = True,
        feedback: FeedbackClient | None = None,
    ) -> None:
        super().__init__()
        self.guard = checked_guard(guard)
        self.append_caveat = append_caveat
        self.feedback = feedback
        """Posts each gated answer's confidence as feedback on its model run."""

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Handler
    ) -> ModelResponse[Any]:
        """Call the model; gate (and retry) a final answer, pass tool calls through."""
        with attempt_calls(1):
            first = handler(request)
        turn = _Turn.of(request, first)
        if turn is None:
            return first
        try:
            step = functools.partial(turn.run, handler=handler)
            result = run_guarded(self.guard, turn.question, step)
        except _ToolTurn as back:
            return back.response
        config, found = self._run_verdict(result)
        if found is not None:
            report_verdict(config, found, self.feedback)
        return self.gated(result, turn)

    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: AsyncHandler
    ) -> ModelResponse[Any]:
        """Async twin of `wrap_model_call`."""
        with attempt_calls(1):
            first = await handler(request)
        turn = _Turn.of(request, first)
        if turn is None:
            return first
        try:
            step = functools.partial(turn.arun, handler=handler)
            result = await arun_guarded(self.guard, turn.question, step)
        except _ToolTurn as back:
            return back.response
        config, found = self._run_verdict(result)
        if found is not None:
            await areport_verdict(config, found, self.feedback)
        return self.gated(result, turn)

    def _run_verdict(
        self, result: GuardResult
    ) -> tuple[RunnableConfig, RunVerdict | None]:
        # The model node's run: the run the middleware's code runs under.
        config = ensure_config()
        run_id = guarded_run_id(config)
        if run_id is None:
            return config, None
        return config, run_verdict(run_id, result, self.verdict(result))

    def gated(self, result: GuardResult, turn: _Turn) -> ModelResponse[Any]:
        """The response to hand the agent: the attempt's own, or a refusal.

        Either way a new message with its own id: the attempt's was never shown.
        """
        responses = turn.responses
        last = result.attempts[-1].attempt
        own = responses.get(last.number) if last.route is None else None
        template = own or responses[max(responses)]
        verdict = self.verdict(result)
        message = final_message(template) or AIMessage(content="")
        keep = bool(result.accepted and own)
        return ModelResponse(
            result=[with_verdict(message, verdict.answer or "", verdict, keep=keep)],
            structured_response=template.structured_response if own else None,
        )

    def verdict(self, result: GuardResult) -> Verdict:
        """The verdict of this result; its `answer` is the text the user is given."""
        return Verdict.from_result(result, append_caveat=self.append_caveat)


class AnswerReview(BaseModel):
    """What a person is asked to review (the ``interrupt()`` value, as JSON)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["confguard_review"] = "confguard_review"
    question: str
    answer: str
    confidence: float | None
    action: str
    reason: str
    allowed_decisions: tuple[str, ...] = ("approve", "edit", "reject")


class ApproveAnswer(BaseModel):
    """Resume value: keep the answer as it is."""

    type: Literal["approve"] = "approve"


class EditAnswer(BaseModel):
    """Resume value: replace the answer with the reviewer's text."""

    type: Literal["edit"] = "edit"
    answer: str = Field(min_length=1)


class RejectAnswer(BaseModel):
    """Resume value: refuse; the user gets `message` or the policy's abstain text."""

    type: Literal["reject"] = "reject"
    message: str | None = None


ReviewDecision = Annotated[
    ApproveAnswer | EditAnswer | RejectAnswer, Field(discriminator="type")
]
_DECISION: TypeAdapter[ApproveAnswer | EditAnswer | RejectAnswer] = TypeAdapter(
    ReviewDecision
)


def ask_reviewer(review: AnswerReview) -> ApproveAnswer | EditAnswer | RejectAnswer:
    """Interrupt the graph with `review`; the resume value, validated."""
    payload = review.model_dump(mode="json")
    if "response_schema" in inspect.signature(interrupt).parameters:
        # LangGraph validates it and lets a wrong answer be given again.
        reply = interrupt(payload, response_schema=ReviewDecision)  # type: ignore[call-overload]
    else:
        reply = interrupt(payload)
    return _DECISION.validate_python(reply)


class HumanEscalationMiddleware(ConfidenceGateMiddleware):
    """Gate final answers and hold escalated ones for a person (needs a checkpointer).

    The guard's policy escalates to a route (a `HumanReviewRoute` records nothing
    more); the agent then stops at ``interrupt()`` with an `AnswerReview` and
    resumes with ``{"type": "approve"}``, ``{"type": "edit", "answer": "..."}``
    or ``{"type": "reject", "message": "..."}``. While it waits, the state holds
    the policy's pending message (the held answer is only in the interrupt and the
    verdict's ``judged_answer``), so no stream shows the unreviewed answer; route
    the interrupt to the reviewer, not to the user.

    Example:
        >>> guard = Guard(signals, policy, routes={"human": HumanReviewRoute()})
        >>> agent = create_agent(model, tools, checkpointer=InMemorySaver(),
        ...                      middleware=[HumanEscalationMiddleware(guard)])
        >>> agent.invoke(Command(resume={"type": "approve"}), config)
    """

    @hook_config(can_jump_to=["end"])
    def after_model(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Interrupt for an escalated final answer; apply the reviewer's decision."""
        found = _awaiting_review(state)
        if found is None:
            return None
        message, verdict = found
        decision = ask_reviewer(_review(state, message, verdict))
        # A new message in place of the held one: a same-id replacement is
        # never shown by LangGraph's ``messages`` stream (it has seen the id).
        reviewed = self._reviewed(message, verdict, decision)
        return {
            "messages": [RemoveMessage(id=message.id or ""), reviewed],
            "jump_to": "end",
        }

    @hook_config(can_jump_to=["end"])
    async def aafter_model(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async twin of `after_model`."""
        return self.after_model(state, runtime)

    def _reviewed(
        self,
        message: AIMessage,
        verdict: Verdict,
        decision: ApproveAnswer | EditAnswer | RejectAnswer,
    ) -> AIMessage:
        text: str
        if isinstance(decision, ApproveAnswer):
            text = verdict.judged_answer or ""
        elif isinstance(decision, EditAnswer):
            text = decision.answer
        else:
            text = decision.message or self.guard.policy.abstain.message
        reviewed = verdict.model_copy(update={"review": decision.type, "answer": text})
        keep = isinstance(decision, ApproveAnswer)
        return with_verdict(message, text, reviewed, keep=keep)


def _awaiting_review(state: AgentState[Any]) -> tuple[AIMessage, Verdict] | None:
    messages = state["messages"]
    last = messages[-1] if messages else None
    if not isinstance(last, AIMessage) or last.tool_calls:
        return None
    verdict = get_verdict(last)
    if verdict is None or verdict.action != "escalate" or verdict.review is not None:
        return None
    return last, verdict


def _review(
    state: AgentState[Any], message: AIMessage, verdict: Verdict
) -> AnswerReview:
    return AnswerReview(
        question=turn_question(state["messages"]),
        answer=verdict.judged_answer or "",
        confidence=verdict.confidence,
        action=verdict.action,
        reason=verdict.reason,
    )


class HumanReviewRoute:
    """An escalation route that leaves the case to HumanEscalationMiddleware.

    Example:
        >>> Guard(signals, policy, routes={"human": HumanReviewRoute()})
    """

    def escalate(self, request: EscalationRequest) -> RouteOutcome:
        """Nothing to do: the middleware interrupts the agent for a person."""
        return RouteOutcome()

    async def aescalate(self, request: EscalationRequest) -> RouteOutcome:
        """Async twin of `escalate`."""
        return self.escalate(request)


__all__ = [
    "AnswerReview",
    "ApproveAnswer",
    "ConfidenceGateMiddleware",
    "EditAnswer",
    "HumanEscalationMiddleware",
    "HumanReviewRoute",
    "RejectAnswer",
    "ReviewDecision",
    "agent_observation",
    "ask_reviewer",
    "attempt_calls",
    "final_message",
    "turn_contexts",
    "turn_question",
]
