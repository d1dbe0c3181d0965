"""LLM adapters both ways: any LlamaIndex LLM as confguard's `Generator`, and a
confguard `Generator` (e.g. the local Gemma) as a LlamaIndex LLM that emits logprobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from confguard.exceptions import GenerationError
from confguard.llm.base import Completion, Generator
from confguard.logprobs import normalize
from confguard.observation import TokenLogprob
from llama_index.core.base.llms.types import (
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    LogProb,
)
from llama_index.core.llms import LLM, CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import Field

_SETTINGS = ("temperature", "max_tokens", "stop", "seed", "top_logprobs")


class GeneratorLLM(CustomLLM):
    """A LlamaIndex LLM over a confguard Generator; every response carries logprobs.

    Settings are defaults that a call's keyword arguments override (`temperature`,
    `max_tokens`, `stop`, `seed`, `top_logprobs`); other keywords are ignored, as
    LlamaIndex LLMs do.

    Example:
        >>> from confguard.llm.local import default_generator
        >>> llm = GeneratorLLM(default_generator(), stop=["\\n"], max_tokens=24)
        >>> llm.complete("Question: 2+2?\\nAnswer:").logprobs[0][0].token
    """

    generator: Any = Field(exclude=True)
    """The confguard Generator that produces the text."""
    max_tokens: int = Field(default=64, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
    top_logprobs: int = Field(default=5, ge=1)
    context_window: int = Field(default=2048, ge=1)

    def __init__(self, generator: Generator, **kwargs: Any) -> None:
        if not isinstance(generator, Generator):
            raise TypeError(
                f"{type(generator).__name__} is not a confguard Generator "
                "(it needs name, generate() and agenerate())"
            )
        kwargs.setdefault("context_window", int(getattr(generator, "n_ctx", 2048)))
        super().__init__(generator=generator, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex shows for this LLM."""
        return "ConfguardGeneratorLLM"

    @property
    def metadata(self) -> LLMMetadata:
        """A completion model with the generator's name and context window."""
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_tokens,
            is_chat_model=False,
            model_name=str(self.generator.name),
        )

    @llm_completion_callback()
    def complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Generate one completion with logprobs."""
        [completion] = self.generator.generate(
            self._prompt(prompt, formatted), **self._settings(kwargs)
        )
        return to_response(completion)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Async twin of `complete` (the generator's own agenerate)."""
        [completion] = await self.generator.agenerate(
            self._prompt(prompt, formatted), **self._settings(kwargs)
        )
        return to_response(completion)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        """One chunk holding the whole completion (the generator does not stream)."""
        [completion] = self.generator.generate(
            self._prompt(prompt, formatted), **self._settings(kwargs)
        )
        response = to_response(completion)

        def chunks() -> CompletionResponseGen:
            yield response.model_copy(update={"delta": response.text})

        return chunks()

    def _prompt(self, prompt: str, formatted: bool) -> str:
        wrap = self.completion_to_prompt
        return prompt if formatted or wrap is None else str(wrap(prompt))

    def _settings(self, overrides: dict[str, Any]) -> dict[str, Any]:
        settings = {name: getattr(self, name) for name in _SETTINGS}
        settings.update({k: v for k, v in overrides.items() if k in _SETTINGS})
        settings["stop"] = list(settings["stop"] or ())
        return settings


def to_response(completion: Completion) -> CompletionResponse:
    """A confguard Completion as a LlamaIndex CompletionResponse with logprobs."""
    logprobs = None
    if completion.logprobs is not None:
        logprobs = [_position(t) for t in completion.logprobs]
    return CompletionResponse(text=completion.text, logprobs=logprobs)


def _position(token: TokenLogprob) -> list[LogProb]:
    # LlamaIndex keeps no separate chosen token: list it first, then the others.
    chosen = LogProb(
        token=token.token, logprob=token.logprob, bytes=_bytes(token.token)
    )
    others = [
        LogProb(token=t.token, logprob=t.logprob, bytes=_bytes(t.token))
        for t in token.top_logprobs
        if t.token != token.token
    ]
    return [chosen, *others]


def _bytes(token: str) -> list[int]:
    return list(token.encode("utf-8"))


class LlamaIndexGenerator:
    """Any LlamaIndex LLM as confguard's Generator (for judges, sampling, SCR, …).

    LlamaIndex LLMs take their settings at construction; per-call settings are
    forwarded as keyword arguments only with `forward_settings=True` (OpenAI-style
    LLMs accept them; then `logprobs=True` is sent too). `stop` is always applied
    to the returned text. Logprobs are read from the response when it has them.

    Example:
        >>> llm = OpenAI(model="gpt-4o-mini")
        >>> gen = LlamaIndexGenerator(llm, forward_settings=True)
        >>> [c] = gen.generate("Question: 2+2?\\nAnswer:", stop=["\\n"])
    """

    def __init__(
        self,
        llm: LLM,
        *,
        name: str | None = None,
        forward_settings: bool = False,
        **llm_kwargs: Any,
    ) -> None:
        self.llm = llm
        self.name = name or llm.metadata.model_name
        self.forward_settings = forward_settings
        self.llm_kwargs = llm_kwargs

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
        """`n` completions, one LLM call each."""
        kwargs = self._kwargs(temperature, max_tokens, stop, seed, top_logprobs)
        return tuple(
            to_completion(self._call(self.llm.complete, prompt, kwargs), stop)
            for _ in range(n)
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
        """Async twin of `generate` (the `n` calls run concurrently)."""
        kwargs = self._kwargs(temperature, max_tokens, stop, seed, top_logprobs)
        responses = await asyncio.gather(
            *(self._acall(prompt, kwargs) for _ in range(n))
        )
        return tuple(to_completion(r, stop) for r in responses)

    def _kwargs(
        self,
        temperature: float,
        max_tokens: int,
        stop: Sequence[str],
        seed: int | None,
        top_logprobs: int,
    ) -> dict[str, Any]:
        if not self.forward_settings:
            return dict(self.llm_kwargs)
        forwarded: dict[str, Any] = {
            "temperature": temperature,
            "max_tokens": max_tokens,
            "logprobs": True,
            "top_logprobs": top_logprobs,
        }
        if stop:
            forwarded["stop"] = list(stop)
        if seed is not None:
            forwarded["seed"] = seed
        return {**forwarded, **self.llm_kwargs}

    def _call(self, method: Any, prompt: str, kwargs: dict[str, Any]) -> Any:
        try:
            return method(prompt, **kwargs)
        except Exception as exc:
            raise self._failed(exc) from exc

    async def _acall(self, prompt: str, kwargs: dict[str, Any]) -> Any:
        try:
            return await self.llm.acomplete(prompt, **kwargs)
        except Exception as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: Exception) -> GenerationError:
        return GenerationError(
            f"LlamaIndex LLM {self.name!r} failed: {type(exc).__name__}: {exc}"
        )


def to_completion(response: CompletionResponse, stop: Sequence[str] = ()) -> Completion:
    """A LlamaIndex CompletionResponse as a Completion, cut at the first stop."""
    text = response.text or ""
    logprobs = normalize(response.logprobs) if response.logprobs else None
    cut = _stop_at(text, stop)
    if cut is not None:
        text = text[:cut]
        logprobs = None if logprobs is None else _tokens_within(logprobs, cut)
    return Completion(
        text=text,
        logprobs=logprobs,
        completion_tokens=len(logprobs) if logprobs else 0,
    )


def _stop_at(text: str, stop: Sequence[str]) -> int | None:
    found = [text.find(s) for s in stop if s and s in text]
    return min(found) if found else None


def _tokens_within(
    tokens: tuple[TokenLogprob, ...], length: int
) -> tuple[TokenLogprob, ...]:
    """The leading tokens whose text ends at or before `length` characters."""
    kept, used = [], 0
    for token in tokens:
        used += len(token.token)
        if used > length:
            break
        kept.append(token)
    return tuple(kept)


__all__ = [
    "GeneratorLLM",
    "LlamaIndexGenerator",
    "to_completion",
    "to_response",
]
