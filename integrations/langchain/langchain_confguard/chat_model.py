"""GeneratorChatModel: a LangChain chat model over any confguard `Generator`.

With confguard's embedded local model (Gemma 3 270M base on llama.cpp) it makes
a small offline chat model whose replies carry OpenAI-shaped logprobs in
``response_metadata["logprobs"]``, so every LangChain tool (and confguard's
callback handler) reads them like a hosted model's. A base model has no chat
template: the messages' texts are joined with blank lines into one prompt, so
give it a completion prompt (e.g. `confguard.rag.completion_prompt`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, field_validator

from confguard.llm.base import Completion, GenerationRequest
from confguard.observation import TokenLogprob
from langchain_confguard.logprobs import openai_logprobs

_SETTINGS = ("temperature", "top_p", "max_tokens", "top_logprobs", "seed")
Messages = list[BaseMessage]
Stop = list[str] | None
Run = CallbackManagerForLLMRun | None
ARun = AsyncCallbackManagerForLLMRun | None


def prompt_text(messages: Sequence[BaseMessage]) -> str:
    """The messages' texts joined by blank lines (a base model has no template)."""
    return "\n\n".join(m.text for m in messages)


class GeneratorChatModel(BaseChatModel):
    """A chat model answering with a confguard Generator, logprobs in metadata.

    Call kwargs ``temperature``, ``top_p``, ``max_tokens``, ``top_logprobs``,
    ``seed`` and ``logprobs=False`` override the fields for one call.

    Example:
        >>> from confguard.llm import default_generator
        >>> llm = GeneratorChatModel(generator=default_generator(), stop=["\\n"])
        >>> llm.invoke(prompt).response_metadata["logprobs"]["content"][0]["token"]
    """

    generator: Any
    """A `confguard.llm.Generator` (generate / agenerate)."""
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 64
    top_logprobs: int = 5
    seed: int | None = None
    stop: list[str] | None = None
    strip: bool = True
    """Strip the whitespace a completion starts with (" Paris" after "Answer:")."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @field_validator("generator")
    @classmethod
    def _is_generator(cls, value: Any) -> Any:
        if not all(
            callable(getattr(value, m, None)) for m in ("generate", "agenerate")
        ):
            raise ValueError(
                f"generator must be a confguard Generator (generate/agenerate), "
                f"got {type(value).__name__}"
            )
        return value

    @property
    def _llm_type(self) -> str:
        return "confguard-generator"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        name = getattr(self.generator, "name", type(self.generator).__name__)
        return {"generator": name, **{k: getattr(self, k) for k in _SETTINGS}}

    def request(
        self, messages: Sequence[BaseMessage], stop: Stop, kwargs: dict[str, Any]
    ) -> GenerationRequest:
        """The GenerationRequest of one call: fields, then the call's overrides."""
        settings = {k: kwargs.get(k, getattr(self, k)) for k in _SETTINGS}
        return GenerationRequest(
            prompt=prompt_text(messages),
            temperature=settings["temperature"],
            top_p=settings["top_p"],
            max_tokens=settings["max_tokens"],
            top_k=settings["top_logprobs"],
            seed=settings["seed"],
            stop=tuple(stop if stop is not None else self.stop or ()),
            logprobs=kwargs.get("logprobs") is not False,
        )

    def _generate(
        self, messages: Messages, stop: Stop = None, run_manager: Run = None, **kw: Any
    ) -> ChatResult:
        [done] = self.generator.generate(self.request(messages, stop, kw))
        return ChatResult(generations=[ChatGeneration(message=self._message(done))])

    async def _agenerate(
        self, messages: Messages, stop: Stop = None, run_manager: ARun = None, **kw: Any
    ) -> ChatResult:
        [done] = await self.generator.agenerate(self.request(messages, stop, kw))
        return ChatResult(generations=[ChatGeneration(message=self._message(done))])

    def _stream(
        self, messages: Messages, stop: Stop = None, run_manager: Run = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        # The Generator protocol has no streaming: generate, then replay per token.
        [done] = self.generator.generate(self.request(messages, stop, kw))
        yield from self._chunks(done)

    async def _astream(
        self, messages: Messages, stop: Stop = None, run_manager: ARun = None, **kw: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        [done] = await self.generator.agenerate(self.request(messages, stop, kw))
        for chunk in self._chunks(done):
            yield chunk

    def _metadata(self, done: Completion) -> dict[str, Any]:
        name = self._identifying_params["generator"]
        return {"finish_reason": done.finish_reason, "model_name": name}

    def _text(self, done: Completion) -> str:
        return done.text.strip() if self.strip else done.text

    def _message(self, done: Completion) -> AIMessage:
        metadata = self._metadata(done)
        if done.logprobs is not None:
            metadata["logprobs"] = openai_logprobs(done.logprobs)
        return AIMessage(
            content=self._text(done),
            response_metadata=metadata,
            usage_metadata=_usage(done),
        )

    def _chunks(self, done: Completion) -> Iterator[ChatGenerationChunk]:
        tokens = done.logprobs or ()
        pieces = _pieces(tokens, self.strip)
        if tokens and "".join(pieces) == self._text(done):
            for token, piece in zip(tokens, pieces, strict=True):
                info = {"logprobs": openai_logprobs([token])}
                yield ChatGenerationChunk(
                    message=AIMessageChunk(content=piece), generation_info=info
                )
            text, info = "", self._metadata(done)
        else:  # pieces that do not spell the text: one chunk keeps them together
            text, info = self._text(done), self._message(done).response_metadata
        last = AIMessageChunk(
            content=text, usage_metadata=_usage(done), chunk_position="last"
        )
        yield ChatGenerationChunk(message=last, generation_info=info)


def _pieces(tokens: Sequence[TokenLogprob], strip: bool) -> list[str]:
    """The streamed text of each token; leading whitespace dropped when stripping."""
    pieces = [t.token for t in tokens]
    if strip:
        for i, piece in enumerate(pieces):
            pieces[i] = piece.lstrip()
            if pieces[i]:
                break
    return pieces


def _usage(done: Completion) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=done.prompt_tokens,
        output_tokens=done.completion_tokens,
        total_tokens=done.prompt_tokens + done.completion_tokens,
    )


__all__ = ["GeneratorChatModel", "prompt_text"]
