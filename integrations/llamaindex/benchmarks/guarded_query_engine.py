"""Benchmark: a guarded LlamaIndex query engine on SQuAD questions, with and without
ConfidentNodePostprocessor, on the real local model and embedders.

Corpus: confguard's demo corpus (288 SQuAD v1.1 dev paragraphs) in a faiss store
with MiniLM vectors. Questions: a seeded sample of that corpus's SQuAD questions.
Two engines answer each question with Gemma 3 270M (2-shot completion prompt):

- ``plain``: MiniLM's top 2 passages;
- ``voted``: MiniLM's top 4 re-ranked by how many of MiniLM, mpnet and E5 rank
  each first (then by pooled z-score), best 2 kept.

Both run inside GuardedQueryEngine (one attempt, signals: avg logprob, node agreement
for ``voted``, answer support). Correct = token F1 >= 0.5 against a gold answer.

    python integrations/llamaindex/benchmarks/guarded_query_engine.py \\
        --limit 200 --seed 0

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from typing import Any

import faiss
from confguard import Policy
from confguard.embeddings import E5Embedder, MiniLMEmbedder, MpnetEmbedder
from confguard.evaluation.metrics import auroc, selective
from confguard.llm.local import default_generator
from confguard.rag import completion_prompt, demo_corpus, demo_questions
from confguard.rag.corpus import DemoQuestion
from confguard.signals import AverageLogprob
from confguard.signals.retrieval import AnswerSupport
from confguard.text import exact_match, token_f1
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.prompts import PromptTemplate
from llama_index.core.schema import TextNode
from llama_index.vector_stores.faiss import FaissVectorStore
from pydantic import BaseModel, ConfigDict

from llama_index.postprocessor.confguard import (
    ConfguardEmbedding,
    ConfidentNodePostprocessor,
    GeneratorLLM,
    GuardedQueryEngine,
    NodeAgreement,
    node_score,
    verdict_of,
)

POLICY = Policy.from_dict(
    {"thresholds": {"accept": 0.7, "annotate": 0.55}, "retry": {"max_attempts": 1}}
)
QA_TEMPLATE = PromptTemplate(completion_prompt("{query_str}", ["{context_str}"]))
SIGNALS = ("avg_logprob", "node_agreement", "answer_support")


class Record(BaseModel):
    """One question answered by one engine."""

    model_config = ConfigDict(frozen=True)

    engine: str
    id: str
    answer: str
    f1: float
    em: bool
    correct: bool
    gold_in_context: bool
    top_is_gold: bool
    agreement: float | None
    confidence: float | None
    signals: dict[str, float | None]
    action: str
    seconds: float


def setup() -> dict[str, GuardedQueryEngine]:
    """The faiss index, the LLM and the two guarded engines."""
    minilm = MiniLMEmbedder()
    nodes = [TextNode(id_=p.id, text=p.text) for p in demo_corpus()]
    store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(minilm.dim))
    index = VectorStoreIndex(
        nodes,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=ConfguardEmbedding(minilm),
    )
    llm = GeneratorLLM(default_generator(), stop=["\n"], max_tokens=24)
    voters = [minilm, MpnetEmbedder(), E5Embedder()]
    post = ConfidentNodePostprocessor(embedders=voters, top_k=1, top_n=2)

    def engine(top_k: int, signals: list[Any], *posts: Any) -> GuardedQueryEngine:
        inner = index.as_query_engine(
            llm=llm,
            similarity_top_k=top_k,
            node_postprocessors=list(posts),
            text_qa_template=QA_TEMPLATE,
        )
        return GuardedQueryEngine.from_signals(inner, signals, POLICY)

    return {
        "plain": engine(2, [AverageLogprob(), AnswerSupport()]),
        "voted": engine(4, [AverageLogprob(), NodeAgreement(), AnswerSupport()], post),
    }


def ask(name: str, engine: GuardedQueryEngine, q: DemoQuestion) -> Record:
    """Run one question and grade the answer."""
    start = time.perf_counter()
    response = engine.query(q.question)
    seconds = time.perf_counter() - start
    verdict = verdict_of(response)
    answer = verdict.judged_answer or ""  # refused answers are graded too
    f1 = token_f1(answer, list(q.answers))
    ids = [n.node.node_id for n in response.source_nodes]
    top = node_score(response.source_nodes[0]) if response.source_nodes else None
    return Record(
        engine=name,
        id=q.id,
        answer=answer,
        f1=f1,
        em=exact_match(answer, list(q.answers)),
        correct=f1 >= 0.5,
        gold_in_context=q.passage_id in ids,
        top_is_gold=bool(ids) and ids[0] == q.passage_id,
        agreement=top.confidence if top else None,
        confidence=verdict.confidence,
        signals={s.name: s.confidence for s in verdict.signals},
        action=verdict.action,
        seconds=seconds,
    )


def _auc(records: Sequence[Record], key: str) -> float | None:
    pairs = [(r.signals.get(key), r.correct) for r in records]
    kept = [(c, y) for c, y in pairs if c is not None]
    if len(kept) < 2:
        return None
    return auroc([c for c, _ in kept], [y for _, y in kept])


def summary(records: Sequence[Record]) -> dict[str, Any]:
    """The headline figures of one engine."""
    n = len(records)
    combined = [r.confidence or 0.0 for r in records]
    correct = [r.correct for r in records]
    accepted = selective(combined, correct, POLICY.thresholds.accept or 0.7)
    return {
        "n": n,
        "accuracy": sum(correct) / n,
        "em": sum(r.em for r in records) / n,
        "gold_in_context": sum(r.gold_in_context for r in records) / n,
        "top1_gold": sum(r.top_is_gold for r in records) / n,
        **{f"auroc_{s}": _auc(records, s) for s in SIGNALS},
        "auroc_combined": auroc(combined, correct),
        "coverage_at_accept": accepted.coverage,
        "accuracy_of_accepted": None if accepted.risk is None else 1 - accepted.risk,
        "seconds_per_question": sum(r.seconds for r in records) / n,
    }


def agreement_table(records: Sequence[Record]) -> dict[str, Any]:
    """How often the top passage is the gold one, by embedder agreement."""
    groups: dict[str, list[Record]] = {"all_agree": [], "not_all": []}
    for r in records:
        if r.agreement is not None:
            groups["all_agree" if r.agreement == 1.0 else "not_all"].append(r)
    return {
        name: {
            "n": len(rs),
            "top1_gold": sum(r.top_is_gold for r in rs) / len(rs) if rs else None,
            "accuracy": sum(r.correct for r in rs) / len(rs) if rs else None,
        }
        for name, rs in groups.items()
    }


def show(table: dict[str, dict[str, Any]]) -> None:
    """Print one row per engine."""
    keys = list(next(iter(table.values())))
    print("\n| engine | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, row in table.items():
        cells = [_cell(row[k]) for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def main() -> int:
    """Sample questions, answer them with both engines, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--records", default=None, help="write one JSON line each")
    args = parser.parse_args()
    questions = random.Random(args.seed).sample(list(demo_questions()), args.limit)
    engines = setup()
    records: dict[str, list[Record]] = {name: [] for name in engines}
    for i, q in enumerate(questions, 1):
        for name, engine in engines.items():
            records[name].append(ask(name, engine, q))
        if i % 10 == 0 or i == len(questions):
            print(f"{i}/{len(questions)} questions", flush=True)
    table = {name: summary(rs) for name, rs in records.items()}
    show(table)
    by_agreement = agreement_table(records["voted"])
    print(f"\nvoted, top passage by agreement: {json.dumps(by_agreement)}")
    if args.records:
        with open(args.records, "w", encoding="utf-8") as out:
            for rs in records.values():
                out.writelines(r.model_dump_json() + "\n" for r in rs)
    head = {"limit": args.limit, "seed": args.seed}
    print(json.dumps({**head, **table, "voted_by_agreement": by_agreement}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
