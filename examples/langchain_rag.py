"""A LangChain RAG chain over the demo corpus, gated by confguard.

The chain is plain LCEL: a retriever (MiniLM over the bundled SQuAD passages), a
few-shot completion prompt, and the embedded Gemma 3 270M model as a LangChain
chat model (`GeneratorChatModel`, logprobs in ``response_metadata`` in OpenAI's
shape). `GuardedRunnable` wraps it: every answer is scored from its token
logprobs, hedging and retrieval evidence, then accepted, annotated, retried with
more passages (the retry strategy's ``top_k`` reaches the retriever through a
configurable field), queued for review or refused. Needs the `local` and
`embeddings` extras and ``pip install -e integrations/langchain``.

    python examples/langchain_rag.py

(The first run encodes the corpus.)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from langchain_confguard import (
    ConfguardRetriever,
    GeneratorChatModel,
    GuardedRunnable,
    verdict_of,
)
from langchain_core.runnables import (
    ConfigurableField,
    Runnable,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)

from confguard import Guard, ReviewQueueRoute
from confguard.defaults import default_questions, demo_policy
from confguard.embeddings import MiniLMEmbedder
from confguard.llm.local import default_generator
from confguard.rag import EmbeddingIndex, completion_prompt, demo_corpus
from confguard.signals import AverageLogprob, HedgingSignal, MinTokenProbability
from confguard.signals.retrieval import AnswerSupport, RetrievalSupport
from confguard.store import InMemoryStore


def build_chain(cache_dir: Path) -> Runnable[str, Any]:
    """retriever -> completion prompt -> local chat model, as one LCEL chain."""
    index = EmbeddingIndex.build(MiniLMEmbedder(), demo_corpus(), cache_dir=cache_dir)
    retriever = ConfguardRetriever(index=index, k=1).configurable_fields(
        k=ConfigurableField(id="top_k", name="passages to retrieve")
    )
    llm = GeneratorChatModel(generator=default_generator(), max_tokens=24, stop=["\n"])

    def prompt(inputs: dict[str, Any]) -> str:
        passages = [doc.page_content for doc in inputs["context"]]
        return completion_prompt(inputs["question"], passages)

    retrieve = RunnableParallel(context=retriever, question=RunnablePassthrough())
    chain: Runnable[str, Any] = retrieve | RunnableLambda(prompt) | llm
    return chain


def build_guard(store: InMemoryStore) -> Guard:
    """The demo's signals and policy; escalations go to the review queue."""
    return Guard(
        [
            AverageLogprob(),
            MinTokenProbability(),
            HedgingSignal(),
            RetrievalSupport(),
            AnswerSupport(),
        ],
        demo_policy(),
        store=store,
        routes={"review": ReviewQueueRoute(store)},
    )


def show(question: str, gold: tuple[str, ...], reply: Any) -> None:
    """Print one question, the answer given and the guard's decision."""
    verdict = verdict_of(reply)
    shown = "none" if verdict.confidence is None else f"{verdict.confidence:.2f}"
    print(f"\nQ: {question}  ({'gold: ' + gold[0] if gold else 'not in corpus'})")
    print(f"A: {reply.content}")
    attempts = len(verdict.attempts)
    print(f"   {verdict.action} after {attempts} attempt(s), conf. {shown}")
    print(f"   {verdict.reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description="A guarded LangChain RAG chain.")
    parser.add_argument("--cache-dir", type=Path, default=Path(".confguard"))
    parser.add_argument("--limit", type=int, default=None, help="ask fewer questions")
    args = parser.parse_args()

    store = InMemoryStore()
    chain = build_chain(args.cache_dir)
    guarded = GuardedRunnable(bound=chain, guard=build_guard(store))
    for question in default_questions()[: args.limit]:
        show(question.question, question.gold, guarded.invoke(question.question))
    print(f"\n{len(store.reviews())} case(s) queued for review")


if __name__ == "__main__":
    main()
