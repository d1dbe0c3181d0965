"""Confident RAG on the bundled demo corpus, gated by a Guard.

Three local embedders each retrieve a passage, the local Gemma model answers from
each, the answer the model is most certain of is kept, and a Guard weighs that
certainty together with how far the embedders agree.

    python examples/confident_rag.py

(The first run encodes the corpus and caches the indices under .confguard/.)
"""

from __future__ import annotations

from confguard import Guard, Policy
from confguard.embeddings import local_embedders
from confguard.llm.local import default_generator
from confguard.rag import (
    ConfidentRAGPipeline,
    EmbeddingIndex,
    demo_corpus,
    demo_questions,
    progress_bar,
)
from confguard.signals.agreement import MultiEmbeddingAgreement
from confguard.signals.token import MinTokenProbability


def build_pipeline() -> ConfidentRAGPipeline:
    """One faiss index per embedder (cached under .confguard/), one shared model."""
    passages = demo_corpus()
    indices = []
    for embedder in local_embedders(["minilm", "e5", "wordllama"]):
        with progress_bar(f"indexing with {embedder.name}") as bar:
            index = EmbeddingIndex.build(
                embedder, passages, cache_dir=".confguard", progress=bar
            )
        indices.append(index)
    # Self-certainty is the paper's default; on this small model the least likely
    # token ranks answers better (docs/confident_rag.md), so the example selects by it.
    metric = MinTokenProbability()
    return ConfidentRAGPipeline(default_generator(), indices, metric=metric)


def main() -> None:
    rag = build_pipeline()
    guard = Guard(
        [MinTokenProbability(), MultiEmbeddingAgreement()],
        Policy.from_dict(
            {
                # Agreement is weak evidence here (AUROC 0.60): weigh it less.
                "combiner": "weighted",
                "weights": {"min_token_prob": 2.0, "multi_embedding_agreement": 1.0},
                "thresholds": {"accept": 0.75, "annotate": 0.5},
                "retry": {"max_attempts": 1},
            }
        ),
    )
    for question in demo_questions()[::250]:
        result = rag.run(question.question)
        print(f"\nQ: {question.question}   (gold: {question.answers[0]})")
        for i, candidate in enumerate(result.candidates):
            mark = "*" if i == result.selected else " "
            conf = candidate.result.confidence if candidate.result else None
            print(f" {mark} {candidate.retriever:10} {candidate.answer!r:40} {conf}")
        verdict = guard.check(result.observation)
        agreement = verdict.assessment.signal("multi_embedding_agreement")
        shown = "n/a" if verdict.confidence is None else f"{verdict.confidence:.2f}"
        print(
            f"   -> {verdict.decision.action} (confidence {shown}, "
            f"agreement {agreement.details.get('components')})"
        )


if __name__ == "__main__":
    main()
