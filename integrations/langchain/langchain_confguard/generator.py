"""Any LangChain chat model as confguard's `Generator` (for judges, SCR, sampling).

Sampling settings reach the model as invoke kwargs, built by a small strategy:
`openai_kwargs` (the default: ``temperature``, ``max_tokens``, ``seed``,
``logprobs=True``, ``top_logprobs``), understood by OpenAI-compatible chat models
and by `GeneratorChatModel`; `stop_only` for models that reject unknown kwargs
(configure them on the model instead, e.g. ``ChatOpenAI(logprobs=True)``).
Logprobs are read from the reply in every shape `message_logprobs` knows; a model
that exposes none yields completions with ``logprobs=None``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, ConfigDict

from confguard.exceptions import GenerationError, LogprobFormatError
from confguard.llm.base import Completion
from langchain_confguard.logprobs import message_logprobs


class GenerationRequest(BaseModel):
    """The sampling settings of one generate() call, as data."""

    model_config = ConfigDict(frozen=True)

    temperature: float = 0.0
    max_tokens: int = 64
    seed: int | None = None
    top_logprobs: int = 5


KwargsFor = Callable[[GenerationRequest], dict[str, Any]]


def openai_kwargs(request: GenerationRequest) -> dict[str, Any]:
    """OpenAI-style invoke kwargs for the request.

    Example:
        >>> openai_kwargs(GenerationRequest(top_logprobs=2))["top_logprobs"]
        2
    """
    kwargs: dict[str, Any] = {
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "logprobs": True,
    }
    if request.top_logprobs > 0:
        kwargs["top_logprobs"] = request.top_logprobs
    if request.seed is not None:
        kwargs["seed"] = request.seed
    return kwargs


def stop_only(request: GenerationRequest) -> dict[str, Any]:
    """No extra kwargs: sampling is configured on the model itself."""
    return {}


def _prompt_messages(prompt: str) -> list[BaseMessage]:
    return [HumanMessage(content=prompt)]


class ChatModelGenerator:
    """Wraps a LangChain chat model (or any messages -> AIMessage Runnable).

    Example:
        >>> judge = ChatModelGenerator(ChatOpenAI(model="gpt-4o-mini"))
        >>> [c] = judge.generate("Is Paris in France? Answer yes or no:")
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
            >>> generator.with_config(child_config).generate(prompt)
        """
        return ChatModelGenerator(
            self.model,
            name=self.name,
            kwargs_for=self.kwargs_for,
            messages_for=self.messages_for,
            config=config,
            context=contextvars.copy_context(),
        )

    def generate(
        self,
        prompt: str,
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 64,
        stop: Sequence[str] = (),
        seed: int | None = None,
        top_logprobs: int = 5,
    ) -> tuple[Completion, ...]:
        """`n` completions of `prompt` (one model call each).

        Example:
            >>> [c] = generator.generate("Question: 2+2?\\nAnswer:", stop=["\\n"])
        """
        request = GenerationRequest(
            temperature=temperature, max_tokens=max_tokens, top_logprobs=top_logprobs
        )
        return tuple(
            self._one(prompt, _seeded(request, seed, i), stop) for i in range(n)
        )

    async def agenerate(
        self,
        prompt: str,
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 64,
        stop: Sequence[str] = (),
        seed: int | None = None,
        top_logprobs: int = 5,
    ) -> tuple[Completion, ...]:
        """Async twin of `generate` (the `n` calls run concurrently).

        Example:
            >>> [c] = await generator.agenerate("Question: 2+2?\\nAnswer:")
        """
        request = GenerationRequest(
            temperature=temperature, max_tokens=max_tokens, top_logprobs=top_logprobs
        )
        done = await asyncio.gather(
            *(self._aone(prompt, _seeded(request, seed, i), stop) for i in range(n))
        )
        return tuple(done)

    def _one(
        self, prompt: str, request: GenerationRequest, stop: Sequence[str]
    ) -> Completion:
        kwargs = self._kwargs(request, stop)
        messages = self.messages_for(prompt)
        invoke = self.model.invoke
        try:
            if self.context is None:
                reply = invoke(messages, self.config, **kwargs)
            else:
                reply = self.context.copy().run(invoke, messages, self.config, **kwargs)
        except Exception as exc:
            raise self._failed(exc) from exc
        return self._completion(reply)

    async def _aone(
        self, prompt: str, request: GenerationRequest, stop: Sequence[str]
    ) -> Completion:
        kwargs = self._kwargs(request, stop)
        messages = self.messages_for(prompt)
        try:
            reply = await self.model.ainvoke(messages, self.config, **kwargs)
        except Exception as exc:
            raise self._failed(exc) from exc
        return self._completion(reply)

    def _kwargs(
        self, request: GenerationRequest, stop: Sequence[str]
    ) -> dict[str, Any]:
        kwargs = self.kwargs_for(request)
        if stop:
            kwargs["stop"] = list(stop)
        return kwargs

    def _failed(self, exc: Exception) -> GenerationError:
        return GenerationError(
            f"chat model {self.name!r} failed: {type(exc).__name__}: {exc}"
        )

    def _completion(self, reply: Any) -> Completion:
        if not isinstance(reply, BaseMessage):
            raise GenerationError(
                f"chat model {self.name!r} returned {type(reply).__name__}, "
                "expected a message"
            )
        try:
            logprobs = message_logprobs(reply)
        except LogprobFormatError as exc:
            raise GenerationError(f"chat model {self.name!r}: {exc}") from exc
        return Completion(
            text=reply.text,
            logprobs=logprobs,
            finish_reason=_finish_reason(reply),
            prompt_tokens=_usage(reply, "input_tokens"),
            completion_tokens=_usage(reply, "output_tokens"),
        )


def _seeded(request: GenerationRequest, seed: int | None, i: int) -> GenerationRequest:
    # Distinct seeds keep n samples independent yet reproducible.
    return request if seed is None else request.model_copy(update={"seed": seed + i})


def _finish_reason(reply: BaseMessage) -> Literal["stop", "length"]:
    metadata = reply.response_metadata
    reason = metadata.get("finish_reason") or metadata.get("stop_reason")
    return "length" if reason in ("length", "max_tokens", "MAX_TOKENS") else "stop"


def _usage(reply: BaseMessage, key: str) -> int:
    usage = reply.usage_metadata if isinstance(reply, AIMessage) else None
    value = usage.get(key, 0) if usage else 0
    return value if isinstance(value, int) else 0


__all__ = [
    "ChatModelGenerator",
    "GenerationRequest",
    "KwargsFor",
    "openai_kwargs",
    "stop_only",
]
