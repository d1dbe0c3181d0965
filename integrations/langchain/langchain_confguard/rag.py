"""Confident RAG in LCEL: one answer per retriever, keep the most confident.

`ConfidentRAGRunnable` runs confguard's Confident RAG (`confguard.rag.confident`:
Chen, Zhao & Chen 2025, arXiv 2507.17442) over LangChain retrievers, one per
embedding model: every retriever's documents get their own answer from the same
LLM, a token metric (self-certainty by default) scores each answer, and the most
confident one is returned with its confidence. `ConfguardRetriever` exposes a
confguard `EmbeddingIndex` as a LangChain retriever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableParallel,
    RunnableSerializable,
)
from langchain_core.runnables.config import patch_config
from pydantic import BaseModel, ConfigDict, Field

from confguard.exceptions import UnknownComponentError
from confguard.llm.base import Completion, GenerationRequest, Generator
from confguard.observation import Context, Observation
from confguard.prompts import DEFAULT_SHOTS, Shot, completion_prompt
from confguard.rag.confident import (
    ConfidentRAGResult,
    RetrievedAnswer,
    ascore_candidates,
    confident_result,
    score_candidates,
)
from confguard.rag.index import EmbeddingIndex
from confguard.rag.multi import ANSWER_REQUEST, agenerate_each, generate_each
from confguard.results import Attempt, Verdict
from confguard.signals.base import Signal
from langchain_confguard.generator import ChatModelGenerator
from langchain_confguard.runnable import attempt_of
from langchain_confguard.text import QuestionFrom, document_context, question_text

Found = Mapping[str, Sequence[Document]]
ChainRun = CallbackManagerForChainRun
AsyncChainRun = AsyncCallbackManagerForChainRun


class ConfguardRetriever(BaseRetriever):
    """A confguard `EmbeddingIndex` as a LangChain retriever (scores in metadata).

    Example:
        >>> retriever = ConfguardRetriever(index=EmbeddingIndex.build(...), k=3)
        >>> retriever.invoke("Who won Super Bowl 50?")[0].metadata["score"]
    """

    index: EmbeddingIndex
    k: int = 3

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [
            Document(
                page_content=hit.passage.text,
                id=hit.passage.id,
                metadata={
                    "source": hit.passage.id,
                    "title": hit.passage.title,
                    "score": hit.score,
                    "rank": hit.rank,
                    "retriever": hit.retriever,
                },
            )
            for hit in self.index.search(query, k=self.k)
        ]


class ConfidentAnswer(BaseModel):
    """The selected answer, its confidence, and everything behind the choice.

    ``observation`` is the Observation a guard scores (GuardedRunnable uses it).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    answer: str
    confidence: float | None
    """The selection metric's confidence in the selected answer."""
    retriever: str
    candidates: tuple[RetrievedAnswer, ...]
    observation: Observation
    verdict: Verdict | None = None
    """Set when a GuardedRunnable wrapped the Confident RAG runnable."""

    @classmethod
    def of(cls, result: ConfidentRAGResult) -> ConfidentAnswer:
        """The answer of a Confident RAG result."""
        winner = result.candidates[result.selected]
        metric = winner.result
        return cls(
            answer=winner.answer,
            confidence=None if metric is None else metric.confidence,
            retriever=winner.retriever,
            candidates=result.candidates,
            observation=result.observation,
        )


def _default_metric() -> Signal:
    from confguard.signals.token import SelfCertainty

    return SelfCertainty()


@dataclass(frozen=True)
class _Attempt:
    """One attempt of Confident RAG: its question, retrievers, depth and request."""

    question: str
    attempt: Attempt | None
    config: RunnableConfig
    retrievers: dict[str, Runnable[str, list[Document]]]
    top_k: int | None
    request: GenerationRequest
    shots: Sequence[Shot]

    def contexts(self, found: Found) -> dict[str, tuple[Context, ...]]:
        """Each retriever's first `top_k` documents, as contexts."""
        return {
            name: tuple(document_context(d, name) for d in found[name])[: self.top_k]
            for name in self.retrievers
        }

    def requests(self, found: Found) -> list[GenerationRequest]:
        """One request per retriever, prompting with its contexts."""
        return [
            self.request.with_(
                prompt=completion_prompt(self.question, texts, self.shots)
            )
            for texts in ([c.text for c in cs] for cs in self.contexts(found).values())
        ]

    def candidates(
        self, found: Found, done: Sequence[Completion]
    ) -> list[RetrievedAnswer]:
        """Each retriever's answer, before the metric scored it."""
        return [
            RetrievedAnswer(
                retriever=name,
                answer=completion.text.strip(),
                logprobs=completion.logprobs,
                contexts=contexts,
                finish_reason=completion.finish_reason,
            )
            for (name, contexts), completion in zip(
                self.contexts(found).items(), done, strict=True
            )
        ]

    def answer(self, scored: Sequence[RetrievedAnswer]) -> ConfidentAnswer:
        """The most confident answer."""
        return ConfidentAnswer.of(confident_result(self.question, scored, self.attempt))


class ConfidentRAGRunnable(RunnableSerializable[Any, ConfidentAnswer]):
    """Multi-embedding Confident RAG over LangChain retrievers, as a Runnable.

    Under a GuardedRunnable a retry strategy applies as everywhere: its ``top_k``
    trims each retriever's documents, its ``embedder`` keeps only that retriever,
    its generation settings change the request.

    Example:
        >>> rag = ConfidentRAGRunnable(
        ...     retrievers={"minilm": minilm_retriever, "e5": e5_retriever},
        ...     llm=GeneratorChatModel(generator=default_generator()))
        >>> answer = rag.invoke("Who won Super Bowl 50?")
        >>> answer.answer, answer.confidence, answer.retriever
    """

    retrievers: Mapping[str, Runnable[str, list[Document]]]
    """One retriever per embedding model, by name."""
    llm: BaseChatModel | Generator
    metric: Signal = Field(default_factory=_default_metric)
    top_k: int | None = None
    """Keep each retriever's first k documents (None: all it returned)."""
    request: GenerationRequest = ANSWER_REQUEST
    """How each answer is generated (the prompt is filled in per retriever)."""
    shots: Sequence[Shot] = DEFAULT_SHOTS
    question_from: QuestionFrom | None = None

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> ConfidentAnswer:
        """Retrieve with each retriever, answer each, return the most confident.

        Example:
            >>> rag.invoke({"question": "Who won Super Bowl 50?"}).answer
        """
        return self._call_with_config(self._run, input, config, **kwargs)

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> ConfidentAnswer:
        """Async twin of `invoke`.

        Example:
            >>> (await rag.ainvoke("Who won Super Bowl 50?")).answer
        """
        return await self._acall_with_config(self._arun, input, config, **kwargs)

    def _run(
        self, input: Any, run_manager: ChainRun, config: RunnableConfig
    ) -> ConfidentAnswer:
        step = self._attempt(input, run_manager, config)
        retrieve = RunnableParallel(step.retrievers)
        found = retrieve.invoke(step.question, step.config)
        requests = step.requests(found)
        done = generate_each(self._generator(step), requests, len(requests))
        raw = step.candidates(found, done)
        return step.answer(score_candidates(step.question, raw, self.metric))

    async def _arun(
        self, input: Any, run_manager: AsyncChainRun, config: RunnableConfig
    ) -> ConfidentAnswer:
        step = self._attempt(input, run_manager, config)
        retrieve = RunnableParallel(step.retrievers)
        found = await retrieve.ainvoke(step.question, step.config)
        done = await agenerate_each(self._generator(step), step.requests(found))
        raw = step.candidates(found, done)
        return step.answer(await ascore_candidates(step.question, raw, self.metric))

    def _attempt(
        self, input: Any, manager: ChainRun | AsyncChainRun, config: RunnableConfig
    ) -> _Attempt:
        attempt = attempt_of(config)
        strategy = attempt.strategy if attempt else None
        top_k = strategy.top_k if strategy and strategy.top_k else self.top_k
        return _Attempt(
            question=(self.question_from or question_text)(input),
            attempt=attempt,
            config=patch_config(config, callbacks=manager.get_child()),
            retrievers=self._retrievers(strategy.embedder if strategy else None),
            top_k=top_k,
            request=self.request.for_attempt(attempt),
            shots=self.shots,
        )

    def _retrievers(self, name: str | None) -> dict[str, Runnable[str, list[Document]]]:
        if name is None:
            return dict(self.retrievers)
        if name not in self.retrievers:
            raise UnknownComponentError("retriever", name, list(self.retrievers))
        return {name: self.retrievers[name]}

    def _generator(self, step: _Attempt) -> Generator:
        if isinstance(self.llm, BaseChatModel):  # nests its calls in this run
            return ChatModelGenerator(self.llm).with_config(step.config)
        return self.llm


__all__ = ["ConfguardRetriever", "ConfidentAnswer", "ConfidentRAGRunnable"]
