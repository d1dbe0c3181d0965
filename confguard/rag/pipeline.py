"""A retrieve-then-generate pipeline over one index: the demo's default RAG."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from confguard.llm.base import Completion, Generator
from confguard.observation import Observation
from confguard.rag.index import EmbeddingIndex, Hit
from confguard.results import Attempt


class Shot(BaseModel):
    """A worked example for a few-shot completion prompt."""

    model_config = ConfigDict(frozen=True)

    context: str
    question: str
    answer: str


# Base models answer best after worked examples (MEASURED.md: 2-shot beat an instruction
# prompt on accuracy and on almost every confidence metric). Written for confguard, not
# taken from any evaluation set.
DEFAULT_SHOTS: tuple[Shot, ...] = (
    Shot(
        context=(
            "The Eiffel Tower was built for the 1889 World's Fair in Paris and was "
            "designed by the engineering firm of Gustave Eiffel."
        ),
        question="For which event was the Eiffel Tower built?",
        answer="the 1889 World's Fair",
    ),
    Shot(
        context=(
            "Mount Kilimanjaro, a dormant volcano in Tanzania, rises 5,895 metres "
            "above sea level and is the highest mountain in Africa."
        ),
        question="How high is Mount Kilimanjaro?",
        answer="5,895 metres",
    ),
)


def completion_prompt(
    question: str, contexts: Sequence[str], shots: Sequence[Shot] = DEFAULT_SHOTS
) -> str:
    """A few-shot Context / Question / Answer prompt; the answer ends at a newline."""
    blocks = [
        f"Context: {s.context}\nQuestion: {s.question}\nAnswer: {s.answer}\n"
        for s in shots
    ]
    joined = " ".join(c.strip() for c in contexts)
    blocks.append(f"Context: {joined}\nQuestion: {question.strip()}\nAnswer:")
    return "\n".join(blocks)


class RAGPipeline:
    """Retrieve top-k passages with one index, answer with one generator.

    A retry strategy's params reach it as data: `top_k` and `temperature` override
    the defaults for that attempt.

    Example:
        >>> rag = RAGPipeline(default_generator(), index)
        >>> obs = rag("Who won Super Bowl 50?")
    """

    def __init__(
        self,
        generator: Generator,
        index: EmbeddingIndex,
        *,
        top_k: int = 1,
        max_tokens: int = 24,
        shots: Sequence[Shot] = DEFAULT_SHOTS,
    ) -> None:
        self.generator = generator
        self.index = index
        self.top_k = top_k
        self.max_tokens = max_tokens
        self.shots = tuple(shots)

    def __call__(self, question: str, attempt: Attempt | None = None) -> Observation:
        params = _params(attempt)
        hits = self.index.search(question, k=int(params.get("top_k", self.top_k)))
        prompt = completion_prompt(question, [h.passage.text for h in hits], self.shots)
        [completion] = self.generator.generate(
            prompt,
            temperature=float(params.get("temperature", 0.0)),
            max_tokens=self.max_tokens,
            stop=["\n"],
        )
        return _observation(question, hits, completion, attempt)

    async def acall(self, question: str, attempt: Attempt | None = None) -> Observation:
        """Async twin of calling the pipeline (runs in a worker thread)."""
        return await asyncio.to_thread(self, question, attempt)


def _params(attempt: Attempt | None) -> dict[str, Any]:
    if attempt is None or attempt.strategy is None:
        return {}
    return dict(attempt.strategy.params)


def _observation(
    question: str, hits: list[Hit], completion: Completion, attempt: Attempt | None
) -> Observation:
    return Observation(
        question=question,
        answer=completion.text.strip(),
        contexts=tuple(h.to_context() for h in hits),
        logprobs=completion.logprobs,
        metadata={
            "attempt": attempt.number if attempt else 1,
            "finish_reason": completion.finish_reason,
        },
    )
