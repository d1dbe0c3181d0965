"""LLM adapters both ways: any LlamaIndex LLM as confguard's `Generator`, and a
confguard `Generator` (e.g. the local Gemma) as a LlamaIndex LLM that emits logprobs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from confguard.exceptions import GenerationError
from confguard.llm.base import (
    BaseGenerator,
    Completion,
    GenerationRequest,
    Generator,
    openai_kwargs,
)
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

_SETTINGS = ("temperature", "top_p", "max_tokens", "stop", "seed", "top_logprobs")


class GeneratorLLM(CustomLLM):
    """A LlamaIndex LLM over a confguard Generator; every response carries logprobs.

    Settings are defaults that a call's keyword arguments override (`temperature`,
    `top_p`, `max_tokens`, `stop`, `seed`, `top_logprobs`; `logprobs=False` asks
    for none); other keywords are ignored, as LlamaIndex LLMs do.

    Example:
        >>> from confguard.llm.local import default_generator
        >>> llm = GeneratorLLM(default_generator(), stop=["\\n"], max_tokens=24)
        >>> llm.complete("Question: 2+2?\\nAnswer:").logprobs[0][0].token
    """

    generator: Any = Field(exclude=True)
    """The confguard Generator that produces the text."""
    max_tokens: int = Field(default=64, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
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
        [completion] = self.generator.generate(self.request(prompt, formatted, kwargs))
        return to_response(completion)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Async twin of `complete` (the generator's own agenerate)."""
        request = self.request(prompt, formatted, kwargs)
        [completion] = await self.generator.agenerate(request)
        return to_response(completion)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        """One chunk holding the whole completion (the generator does not stream)."""
        [completion] = self.generator.generate(self.request(prompt, formatted, kwargs))
        response = to_response(completion)

        def chunks() -> CompletionResponseGen:
            yield response.model_copy(update={"delta": response.text})

        return chunks()

    def request(
        self, prompt: str, formatted: bool, overrides: dict[str, Any]
    ) -> GenerationRequest:
        """The GenerationRequest of one call: the fields, then the call's overrides."""
        wrap = self.completion_to_prompt
        text = prompt if formatted or wrap is None else str(wrap(prompt))
        settings = {
            name: overrides.get(name, getattr(self, name)) for name in _SETTINGS
        }
        return GenerationRequest(
            prompt=text,
            temperature=settings["temperature"],
            top_p=settings["top_p"],
            max_tokens=settings["max_tokens"],
            stop=tuple(settings["stop"] or ()),
            seed=settings["seed"],
            top_k=settings["top_logprobs"],
            logprobs=overrides.get("logprobs") is not False,
        )


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


class LlamaIndexGenerator(BaseGenerator):
    """Any LlamaIndex LLM as confguard's Generator (for judges, sampling, SCR, …).

    LlamaIndex LLMs take their settings at construction; a request's settings are
    forwarded as OpenAI-style keyword arguments only with `forward_settings=True`
    (OpenAI-style LLMs accept them). The text is always cut at the request's stop
    strings. Logprobs are read from the response when it has them.

    Example:
        >>> llm = OpenAI(model="gpt-4o-mini")
        >>> gen = LlamaIndexGenerator(llm, forward_settings=True)
        >>> [c] = gen.generate(GenerationRequest(prompt="2+2?", stop=("\\n",)))
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

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """`request.n` completions, one LLM call each."""
        kwargs = self._kwargs(request)
        try:
            done = [
                self.llm.complete(request.prompt, **kwargs) for _ in range(request.n)
            ]
        except Exception as exc:
            raise self._failed(exc) from exc
        return tuple(to_completion(r).cut_at(request.stop) for r in done)

    async def agenerate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """Async twin of `generate` (the `n` calls run concurrently)."""
        kwargs = self._kwargs(request)
        calls = (self.llm.acomplete(request.prompt, **kwargs) for _ in range(request.n))
        try:
            done = await asyncio.gather(*calls)
        except Exception as exc:
            raise self._failed(exc) from exc
        return tuple(to_completion(r).cut_at(request.stop) for r in done)

    def _kwargs(self, request: GenerationRequest) -> dict[str, Any]:
        forwarded = openai_kwargs(request) if self.forward_settings else {}
        return {**forwarded, **self.llm_kwargs}

    def _failed(self, exc: Exception) -> GenerationError:
        return GenerationError(
            f"LlamaIndex LLM {self.name!r} failed: {type(exc).__name__}: {exc}"
        )


def to_completion(response: CompletionResponse) -> Completion:
    """A LlamaIndex CompletionResponse as a Completion (cut it with `cut_at`)."""
    logprobs = normalize(response.logprobs) if response.logprobs else None
    return Completion(
        text=response.text or "",
        logprobs=logprobs,
        completion_tokens=len(logprobs) if logprobs else 0,
    )


__all__ = [
    "GeneratorLLM",
    "LlamaIndexGenerator",
    "to_completion",
    "to_response",
]
