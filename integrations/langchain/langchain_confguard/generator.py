"""Any LangChain chat model as confguard's `Generator` (for judges, SCR, sampling).

Each `GenerationRequest` reaches the model as invoke kwargs, built by a small
strategy: `openai_kwargs` (the default: ``temperature``, ``max_tokens``, ``top_p``,
``stop``, ``seed``, ``logprobs=True``, ``top_logprobs``), understood by
OpenAI-compatible chat models and by `GeneratorChatModel`; `stop_only` for models
that reject unknown kwargs (configure them on the model instead, e.g.
``ChatOpenAI(logprobs=True)``). Logprobs are read from the reply in every shape
`message_logprobs` knows; a model that exposes none yields completions with
``logprobs=None``. Replies are cut at the first stop string in case the model
ignored it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig

from confguard.exceptions import GenerationError, LogprobFormatError
from confguard.llm.base import (
    BaseGenerator,
    Completion,
    GenerationRequest,
    openai_kwargs,
)
from langchain_confguard.logprobs import message_logprobs

KwargsFor = Callable[[GenerationRequest], dict[str, Any]]


def stop_only(request: GenerationRequest) -> dict[str, Any]:
    """Only the stop strings: sampling is configured on the model itself.

    Example:
        >>> stop_only(GenerationRequest(prompt="Q", stop=("\\n",), temperature=1.0))
        {'stop': ['\\n']}
    """
    return {"stop": list(request.stop)} if request.stop else {}


def _prompt_messages(prompt: str) -> list[BaseMessage]:
    return [HumanMessage(content=prompt)]


class ChatModelGenerator(BaseGenerator):
    """Wraps a LangChain chat model (or any messages -> AIMessage Runnable).

    Example:
        >>> judge = ChatModelGenerator(ChatOpenAI(model="gpt-4o-mini"))
        >>> [c] = judge.generate(GenerationRequest(prompt="Is Paris in France?"))
        >>> c.text, c.logprobs[0].top_logprobs[:2]
    """

    def __init__(
        self,
        model: Runnable[Any, Any],
        *,
        name: str | None = None,
        kwargs_for: KwargsFor = openai_kwargs,
        messages_for: Callable[[str], list[BaseMessage]] = _prompt_messages,
        config: RunnableConfig | None = None,
        context: contextvars.Context | None = None,
    ) -> None:
        self.model = model
        self.name = name or model.get_name()
        self.kwargs_for = kwargs_for
        self.messages_for = messages_for
        self.config = config
        """Passed to every call: callbacks, tags (nests the calls in a trace)."""
        self.context = context
        """Sync calls run in a copy of it, so worker threads keep the caller's
        tracing context (LangChain keeps tracers in context variables)."""

    def with_config(self, config: RunnableConfig | None) -> ChatModelGenerator:
        """The same generator, its calls run under `config` and the current context.

        Example:
            >>> generator.with_config(child_config).generate(request)
        """
        return ChatModelGenerator(
            self.model,
            name=self.name,
            kwargs_for=self.kwargs_for,
            messages_for=self.messages_for,
            config=config,
            context=contextvars.copy_context(),
        )

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """`request.n` completions (one model call each, seeds kept distinct).

        Example:
            >>> request = GenerationRequest(prompt="Question: 2+2?\\nAnswer:")
            >>> [c] = generator.generate(request.with_(stop=("\\n",)))
        """
        return tuple(self._one(request, i) for i in range(request.n))

    async def agenerate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """Async twin of `generate` (the `n` calls run concurrently).

        Example:
            >>> [c] = await generator.agenerate(GenerationRequest(prompt="2+2?"))
        """
        calls = (self._aone(request, i) for i in range(request.n))
        return tuple(await asyncio.gather(*calls))

    def _one(self, request: GenerationRequest, i: int) -> Completion:
        messages, kwargs = self._call(request, i)
        invoke = self.model.invoke
        try:
            if self.context is None:
                reply = invoke(messages, self.config, **kwargs)
            else:
                reply = self.context.copy().run(invoke, messages, self.config, **kwargs)
        except Exception as exc:
            raise self._failed(exc) from exc
        return self._completion(reply, request)

    async def _aone(self, request: GenerationRequest, i: int) -> Completion:
        messages, kwargs = self._call(request, i)
        try:
            reply = await self.model.ainvoke(messages, self.config, **kwargs)
        except Exception as exc:
            raise self._failed(exc) from exc
        return self._completion(reply, request)

    def _call(
        self, request: GenerationRequest, i: int
    ) -> tuple[list[BaseMessage], dict[str, Any]]:
        # Distinct seeds keep n samples independent yet reproducible.
        seeded = (
            request if request.seed is None else request.with_(seed=request.seed + i)
        )
        return self.messages_for(request.prompt), self.kwargs_for(seeded)

    def _failed(self, exc: Exception) -> GenerationError:
        return GenerationError(
            f"chat model {self.name!r} failed: {type(exc).__name__}: {exc}"
        )

    def _completion(self, reply: Any, request: GenerationRequest) -> Completion:
        if not isinstance(reply, BaseMessage):
            raise GenerationError(
                f"chat model {self.name!r} returned {type(reply).__name__}, "
                "expected a message"
            )
        try:
            logprobs = message_logprobs(reply)
        except LogprobFormatError as exc:
            raise GenerationError(f"chat model {self.name!r}: {exc}") from exc
        completion = Completion(
            text=reply.text,
            logprobs=logprobs,
            finish_reason=_finish_reason(reply),
            prompt_tokens=_usage(reply, "input_tokens"),
            completion_tokens=_usage(reply, "output_tokens"),
        )
        return completion.cut_at(request.stop)


def _finish_reason(reply: BaseMessage) -> Literal["stop", "length"]:
    metadata = reply.response_metadata
    reason = metadata.get("finish_reason") or metadata.get("stop_reason")
    return "length" if reason in ("length", "max_tokens", "MAX_TOKENS") else "stop"


def _usage(reply: BaseMessage, key: str) -> int:
    usage = reply.usage_metadata if isinstance(reply, AIMessage) else None
    value = usage.get(key, 0) if usage else 0
    return value if isinstance(value, int) else 0


__all__ = ["ChatModelGenerator", "KwargsFor", "openai_kwargs", "stop_only"]
