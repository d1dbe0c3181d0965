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

from confguard.llm.base import Generator
from confguard.observation import Context, Observation
from confguard.rag.confident import (
    Candidate,
    ConfidentRAGResult,
    ascore_candidates,
    confident_result,
    score_candidates,
)
from confguard.rag.index import EmbeddingIndex
from confguard.rag.multi import GenerationSettings, agenerate_each, generate_each
from confguard.rag.pipeline import DEFAULT_SHOTS, Shot, completion_prompt
from confguard.results import Attempt, RetryStrategy
from confguard.signals.base import Signal
from langchain_confguard.generator import ChatModelGenerator
from langchain_confguard.text import QuestionFrom, document_context, question_text
from langchain_confguard.verdict import Verdict


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
    candidates: tuple[Candidate, ...]
    observation: Observation
    verdict: Verdict | None = None
    """Set when a GuardedRunnable wrapped the Confident RAG runnable."""

    @classmethod
    def of(cls, result: ConfidentRAGResult) -> ConfidentAnswer:
        """The answer of a Confident RAG result."""
        winner = result.candidates[result.selected]
        metric = winner.confidence
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


def attempt_of(config: RunnableConfig) -> Attempt | None:
    """The guard attempt GuardedRunnable put in ``configurable``, if any."""
    configurable = config.get("configurable") or {}
    number = configurable.get("confguard_attempt")
    if not isinstance(number, int):
        return None
    name = configurable.get("confguard_strategy")
    if not isinstance(name, str):
        return Attempt(number=number)
    params = {k: configurable[k] for k in ("temperature", "top_k") if k in configurable}
    return Attempt(number=number, strategy=RetryStrategy(name=name, params=params))


class ConfidentRAGRunnable(RunnableSerializable[Any, ConfidentAnswer]):
    """Multi-embedding Confident RAG over LangChain retrievers, as a Runnable.

    A retry strategy's ``temperature`` and ``top_k`` (which trims each retriever's
    documents) apply when it runs under a GuardedRunnable.

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
    settings: GenerationSettings = GenerationSettings()
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
        self,
        input: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> ConfidentAnswer:
        question, attempt = self._question(input), attempt_of(config)
        child = patch_config(config, callbacks=run_manager.get_child())
        found = RunnableParallel(dict(self.retrievers)).invoke(question, child)
        contexts = self._contexts(found, attempt)
        settings = self._settings(attempt)
        prompts = [self._prompt(question, c) for c in contexts.values()]
        done = generate_each(self._generator(child), prompts, settings, len(prompts))
        candidates = _candidates(contexts, done)
        scored = score_candidates(question, candidates, self.metric)
        return ConfidentAnswer.of(confident_result(question, scored, attempt))

    async def _arun(
        self,
        input: Any,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> ConfidentAnswer:
        question, attempt = self._question(input), attempt_of(config)
        child = patch_config(config, callbacks=run_manager.get_child())
        found = await RunnableParallel(dict(self.retrievers)).ainvoke(question, child)
        contexts = self._contexts(found, attempt)
        settings = self._settings(attempt)
        prompts = [self._prompt(question, c) for c in contexts.values()]
        done = await agenerate_each(self._generator(child), prompts, settings)
        candidates = _candidates(contexts, done)
        scored = await ascore_candidates(question, candidates, self.metric)
        return ConfidentAnswer.of(confident_result(question, scored, attempt))

    def _question(self, input: Any) -> str:
        return (self.question_from or question_text)(input)

    def _contexts(
        self, found: Mapping[str, Any], attempt: Attempt | None
    ) -> dict[str, tuple[Context, ...]]:
        params = attempt.strategy.params if attempt and attempt.strategy else {}
        k = params.get("top_k", self.top_k)
        return {
            name: tuple(document_context(d, name) for d in found[name])[:k]
            for name in self.retrievers
        }

    def _settings(self, attempt: Attempt | None) -> GenerationSettings:
        params = attempt.strategy.params if attempt and attempt.strategy else {}
        if "temperature" not in params:
            return self.settings
        return self.settings.model_copy(
            update={"temperature": float(params["temperature"])}
        )

    def _prompt(self, question: str, contexts: Sequence[Context]) -> str:
        return completion_prompt(question, [c.text for c in contexts], self.shots)

    def _generator(self, config: RunnableConfig) -> Generator:
        if isinstance(self.llm, BaseChatModel):  # nests its calls in this run
            return ChatModelGenerator(self.llm).with_config(config)
        return self.llm


def _candidates(
    contexts: Mapping[str, tuple[Context, ...]], done: Sequence[Any]
) -> list[Candidate]:
    return [
        Candidate(
            retriever=name,
            answer=completion.text.strip(),
            logprobs=completion.logprobs,
            contexts=found,
        )
        for (name, found), completion in zip(contexts.items(), done, strict=True)
    ]


__all__ = [
    "ConfguardRetriever",
    "ConfidentAnswer",
    "ConfidentRAGRunnable",
    "attempt_of",
]
