"""A retrieve-then-generate pipeline over one index: the demo's default RAG.

The prompt is `confguard.prompts.completion_prompt` (2-shot Context / Question /
Answer); the answer is the first line the model writes after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from confguard.llm.base import GenerationRequest, Generator
from confguard.observation import Context, Observation
from confguard.prompts import DEFAULT_SHOTS, Shot, completion_prompt
from confguard.rag.index import EmbeddingIndex
from confguard.rag.multi import (
    ANSWER_REQUEST,
    AttemptPlan,
    answer_observation,
    check_request,
)
from confguard.results import Attempt


class RAGPipeline:
    """Retrieve top-k passages with one index, answer with one generator.

    A retry strategy reaches it as data: `more_context(k)` retrieves k passages,
    `temperature(t)` decodes at t, and `other_embedder(name)` is refused unless
    `name` is this index's embedder (there is no other to switch to).

    Example:
        >>> rag = RAGPipeline(default_generator(), index)
        >>> obs = rag("Who won Super Bowl 50?")
        >>> rag("Who won Super Bowl 50?", Attempt(number=2, strategy=more_context(3)))
    """

    def __init__(
        self,
        generator: Generator,
        index: EmbeddingIndex,
        *,
        top_k: int = 1,
        request: GenerationRequest = ANSWER_REQUEST,
        shots: Sequence[Shot] = DEFAULT_SHOTS,
    ) -> None:
        self.generator = generator
        self.index = index
        self.top_k = top_k
        self.request = check_request(request)
        self.shots = tuple(shots)

    def __call__(self, question: str, attempt: Attempt | None = None) -> Observation:
        contexts, request = self._prepare(question, attempt)
        [completion] = self.generator.generate(request)
        return answer_observation(question, contexts, completion, attempt, "rag")

    async def acall(self, question: str, attempt: Attempt | None = None) -> Observation:
        """Async twin of calling the pipeline (retrieval in a worker thread)."""
        contexts, request = await asyncio.to_thread(self._prepare, question, attempt)
        [completion] = await self.generator.agenerate(request)
        return answer_observation(question, contexts, completion, attempt, "rag")

    def _prepare(
        self, question: str, attempt: Attempt | None
    ) -> tuple[list[Context], GenerationRequest]:
        plan = AttemptPlan.of(attempt, [self.index], self.top_k, self.request)
        hits = self.index.search(question, k=plan.top_k)
        prompt = completion_prompt(question, [h.passage.text for h in hits], self.shots)
        return [h.to_context() for h in hits], plan.request_for(prompt)
