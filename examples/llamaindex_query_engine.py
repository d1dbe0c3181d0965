"""A confidence-gated LlamaIndex query engine, fully local.

A VectorStoreIndex on a faiss store (MiniLM vectors) over confguard's demo corpus;
Gemma 3 270M answers through a LlamaIndex CustomLLM over confguard's local generator
(so every answer carries logprobs); ConfidentNodePostprocessor lets MiniLM, mpnet
and E5 vote on the retrieved passages; GuardedQueryEngine accepts, annotates,
retries with more context or abstains, and prints each decision.

Run (needs confguard[local,embeddings] and llama-index-postprocessor-confguard[faiss]):

    python examples/llamaindex_query_engine.py            # the demo's ten questions
    python examples/llamaindex_query_engine.py --limit 3  # the first three
"""

from __future__ import annotations

import argparse
import asyncio
import time

import faiss
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.prompts import PromptTemplate
from llama_index.core.schema import TextNode
from llama_index.postprocessor.confguard import (
    ConfguardEmbedding,
    ConfidentNodePostprocessor,
    GeneratorLLM,
    GuardedQueryEngine,
    NodeAgreement,
    node_score,
    verdict_of,
)
from llama_index.vector_stores.faiss import FaissVectorStore

from confguard import Policy
from confguard.defaults import default_questions
from confguard.embeddings import E5Embedder, MiniLMEmbedder, MpnetEmbedder
from confguard.llm.local import default_generator
from confguard.rag import completion_prompt, demo_corpus
from confguard.signals import AverageLogprob
from confguard.signals.retrieval import AnswerSupport

POLICY = Policy.from_yaml("""
thresholds: {accept: 0.7, annotate: 0.55, retry: 0.35}
retry: {max_attempts: 2, strategies: [{name: more_context, params: {top_k: 8}}]}
on_retries_exhausted: abstain
""")

# The base model answers best after two worked examples (see MEASURED.md), with the
# answer ending at a newline: LlamaIndex fills in {context_str} and {query_str}.
QA_TEMPLATE = PromptTemplate(completion_prompt("{query_str}", ["{context_str}"]))


def build_index(embed_model: ConfguardEmbedding) -> VectorStoreIndex:
    """The demo corpus in a faiss inner-product index (MiniLM vectors are unit)."""
    nodes = [TextNode(id_=p.id, text=p.text) for p in demo_corpus()]
    store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(embed_model.embedder.dim))
    context = StorageContext.from_defaults(vector_store=store)
    return VectorStoreIndex(nodes, storage_context=context, embed_model=embed_model)


def query_engine(
    index: VectorStoreIndex,
    llm: GeneratorLLM,
    voters: ConfidentNodePostprocessor,
    k: int,
) -> BaseQueryEngine:
    """Retrieve k passages, let the embedders vote, answer from those kept."""
    return index.as_query_engine(
        llm=llm,
        similarity_top_k=k,
        node_postprocessors=[voters],
        text_qa_template=QA_TEMPLATE,
    )


def build_engine() -> GuardedQueryEngine:
    """The guarded engine: a retry re-asks with more retrieved context."""
    minilm = MiniLMEmbedder()
    index = build_index(ConfguardEmbedding(minilm))
    llm = GeneratorLLM(default_generator(), stop=["\n"], max_tokens=24)
    embedders = [minilm, MpnetEmbedder(), E5Embedder()]
    # First try: the passage most embedders rank first (the best one if none is).
    strict = ConfidentNodePostprocessor(
        embedders=embedders, top_k=1, min_confidence=0.5, top_n=2
    )
    # The retry: the three passages the embedders agree on most among eight.
    wide = ConfidentNodePostprocessor(embedders=embedders, top_k=2, top_n=3)
    return GuardedQueryEngine.from_signals(
        query_engine(index, llm, strict, k=4),
        [AverageLogprob(), NodeAgreement(), AnswerSupport()],
        POLICY,
        strategies={"more_context": query_engine(index, llm, wide, k=8)},
    )


def show(question: str, response: Response, seconds: float) -> None:
    """Print one decision: action, confidence, answer, passages and any issue."""
    verdict = verdict_of(response)
    shown = "n/a" if verdict.confidence is None else f"{verdict.confidence:.2f}"
    print(f"\nQ: {question}")
    print(f"   {verdict.action.upper():9} confidence {shown}  ({seconds:.1f}s)")
    print(f"   answer: {response.response!r}")
    if not verdict.accepted:
        print(f"   (the model said {verdict.judged_answer!r})")
    print(f"   why:    {verdict.reason}")
    signals = (
        f"{s.name} {s.confidence:.2f}"
        if s.confidence is not None
        else f"{s.name} {s.status}"
        for s in verdict.signals
    )
    print(f"   signals: {', '.join(signals)}")
    for attempt in verdict.attempts[:-1]:
        print(f"   attempt {attempt.number}: {attempt.action} ({attempt.reason})")
    for node in response.source_nodes:
        score = node_score(node)
        voters = ", ".join(score.found_by) if score else "-"
        print(f"   passage {node.node.node_id}: found by [{voters}]")
    for issue in verdict.issues:
        print(f"   issue ({issue.code}): {issue.detail}")


def main() -> int:
    """Ask the demo's questions, then one more through the async path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="ask only N questions")
    args = parser.parse_args()
    print("Building the faiss index over the demo corpus with MiniLM ...")
    engine = build_engine()
    questions = default_questions()[: args.limit]
    actions = []
    for item in questions:
        start = time.perf_counter()
        response = engine.query(item.question)
        assert isinstance(response, Response)  # built without streaming=True
        show(item.question, response, time.perf_counter() - start)
        actions.append(verdict_of(response).action)
    start = time.perf_counter()
    first = asyncio.run(engine.aquery(questions[0].question))
    assert isinstance(first, Response)
    print("\nThe same first question through aquery (AsyncGuard):")
    show(questions[0].question, first, time.perf_counter() - start)
    print(f"\nDecisions: {', '.join(actions)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
