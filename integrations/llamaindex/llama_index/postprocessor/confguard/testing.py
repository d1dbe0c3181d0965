"""Fakes for tests: a MockLLM that, unlike LlamaIndex's, emits logprobs."""

from __future__ import annotations

from typing import Any

from confguard.testing import FakeGenerator
from confguard.testing.generators import LogprobSpec, Responses

from llama_index.postprocessor.confguard.llm import GeneratorLLM


class LogprobMockLLM(GeneratorLLM):
    """A scripted LlamaIndex LLM whose responses carry logprobs (or none).

    `responses` are used in order (the last repeats) or computed from the prompt;
    `logprobs` is one value for every token, a per-position list, or None for a
    model without logprobs. The FakeGenerator underneath records every prompt.

    Example:
        >>> llm = LogprobMockLLM(["Denver Broncos"], logprobs=-0.05)
        >>> llm.complete("Who won?").logprobs[0][0].logprob
        -0.05
        >>> llm.generator.calls[0].prompt
        'Who won?'
    """

    def __init__(
        self,
        responses: Responses = ("",),
        *,
        logprobs: LogprobSpec = -0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(FakeGenerator(responses, logprobs=logprobs), **kwargs)

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex shows for this LLM."""
        return "ConfguardLogprobMockLLM"

    @property
    def prompts(self) -> list[str]:
        """Every prompt the LLM was given, in order."""
        return [call.prompt for call in self.generator.calls]


__all__ = ["LogprobMockLLM"]
