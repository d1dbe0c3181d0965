"""MultiEmbeddingAgreement: answers and retrievals of several embedders agreeing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from confguard.observation import Candidate, Context, Observation, Sample
from confguard.results import SignalStatus
from confguard.signals.agreement import (
    MultiEmbeddingAgreement,
    embedding_agreement,
    retrieval_agreement,
    text_agreement,
)
from confguard.signals.base import Signal


def test_text_agreement_ignores_case_punctuation_and_articles() -> None:
    assert text_agreement("The Denver Broncos.", ["denver broncos"]) == 1.0


def test_text_agreement_is_the_mean_token_f1_against_each_other_answer() -> None:
    # "denver broncos" vs "broncos": P = 1/2, R = 1, F1 = 2/3; vs "panthers": 0.
    assert text_agreement("Denver Broncos", ["Broncos", "Panthers"]) == pytest.approx(
        1 / 3
    )


def test_an_empty_answer_agrees_with_nothing_not_even_another_empty_one() -> None:
    assert text_agreement("", ["", ""]) == 0.0


def test_text_agreement_needs_another_answer() -> None:
    with pytest.raises(ValueError, match="at least one other answer"):
        text_agreement("Denver", [])


def test_embedding_agreement_is_the_mean_cosine_clipped_at_zero() -> None:
    answer = np.array([1.0, 0.0])
    others = np.array([[2.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])  # cos 1, 0.707, -1 -> 0
    assert embedding_agreement(answer, others) == pytest.approx((1 + 2**-0.5) / 3)


def test_embedding_agreement_of_a_zero_vector_is_zero() -> None:
    assert embedding_agreement(np.zeros(2), np.array([[1.0, 0.0]])) == 0.0


def test_retrieval_agreement_is_the_mean_jaccard_with_each_other_retriever() -> None:
    # {a,b} vs {a,b}: 1; vs {b,c}: 1/3; vs {d}: 0.
    value = retrieval_agreement(["a", "b"], [["a", "b"], ["b", "c"], ["d"]])
    assert value == pytest.approx(4 / 9)


def confident_obs(
    answers: Sequence[str], sources: Sequence[Sequence[str]], selected: int
) -> Observation:
    """An observation shaped as ConfidentRAGPipeline builds it: every candidate."""
    names = ["minilm", "e5", "mpnet", "wordllama"][: len(answers)]
    candidates = tuple(
        Candidate(
            retriever=name,
            answer=answer,
            contexts=tuple(Context(text=f"text of {s}", source=s) for s in found),
        )
        for name, answer, found in zip(names, answers, sources, strict=True)
    )
    return Observation(
        question="Who won Super Bowl 50?",
        answer=answers[selected],
        contexts=candidates[selected].contexts,
        candidates=candidates,
        selected=selected,
    )


def test_full_agreement_gives_full_confidence() -> None:
    obs = confident_obs(["Denver Broncos"] * 3, [["p1"]] * 3, selected=0)
    result = MultiEmbeddingAgreement().score(obs)
    assert result.status is SignalStatus.OK
    assert result.confidence == 1.0
    assert result.details["components"] == {"text": 1.0, "retrieval": 1.0}


def test_a_lone_answer_on_a_lone_passage_gets_no_confidence() -> None:
    obs = confident_obs(["Denver", "Carolina", "Carolina"], [["p1"], ["p2"], ["p2"]], 0)
    assert MultiEmbeddingAgreement().score(obs).confidence == 0.0


def test_the_answer_is_compared_with_the_other_candidates_only() -> None:
    # Selected "Denver" (from e5) vs the others: minilm "Carolina", mpnet "Denver".
    obs = confident_obs(
        ["Carolina", "Denver", "Denver"], [["p2"], ["p1"], ["p1", "p3"]], selected=1
    )
    result = MultiEmbeddingAgreement().score(obs)
    # text: (0 + 1) / 2; retrieval: ({p1} vs {p2}: 0, vs {p1,p3}: 1/2) / 2 = 1/4.
    assert result.details["components"] == pytest.approx(
        {"text": 0.5, "retrieval": 0.25}
    )
    assert result.confidence == pytest.approx(0.375)


def test_weights_shift_the_balance_between_components() -> None:
    obs = confident_obs(["Denver", "Denver"], [["p1"], ["p2"]], selected=0)
    signal = MultiEmbeddingAgreement(weights={"text": 3.0, "retrieval": 1.0})
    assert signal.score(obs).confidence == pytest.approx(0.75)


class LetterEmbedder:
    """Two dimensions: how many a's and how many b's a text has."""

    name, dim = "letters", 2

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([[t.count("a"), t.count("b")] for t in texts], dtype=float)

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed_documents([text])[0]
        return vector


def test_an_embedder_adds_answer_similarity_beyond_exact_words() -> None:
    obs = confident_obs(["aa", "a", "bb"], [["p1"], ["p1"], ["p1"]], selected=0)
    result = MultiEmbeddingAgreement(LetterEmbedder()).score(obs)
    # "aa" vs "a": cosine 1; vs "bb": 0.  Text: 0 and 0.  Retrieval: 1.
    assert result.details["components"] == {
        "text": 0.0,
        "embedding": 0.5,
        "retrieval": 1.0,
    }
    assert result.confidence == pytest.approx(0.5)


def test_without_candidates_every_sample_is_another_answer() -> None:
    obs = Observation(
        question="q", answer="Denver", samples=(Sample(text="Denver"), Sample(text="x"))
    )
    result = MultiEmbeddingAgreement().score(obs)
    assert result.details["components"] == {"text": 0.5}


def test_a_passage_without_a_source_is_named_by_its_text() -> None:
    candidates = tuple(
        Candidate(retriever=name, answer="Denver", contexts=(Context(text=text),))
        for name, text in [("minilm", "p1"), ("e5", "p1"), ("mpnet", "p2")]
    )
    obs = Observation(question="q", answer="Denver", candidates=candidates, selected=0)
    assert MultiEmbeddingAgreement().score(obs).details["components"] == (
        pytest.approx({"text": 1.0, "retrieval": 0.5})
    )


def test_the_users_metadata_is_not_read() -> None:
    obs = Observation(
        question="q",
        answer="Denver",
        metadata={"candidates": [{"retriever": "e5", "sources": ["p1"]}] * 2},
    )
    assert MultiEmbeddingAgreement().score(obs).status is SignalStatus.SKIPPED


def test_retrievals_are_read_from_tagged_contexts_without_candidates() -> None:
    obs = Observation(
        question="q",
        answer="Denver",
        contexts=(
            Context(text="p1", source="p1", retriever="minilm"),
            Context(text="p1", source="p1", retriever="e5"),
            Context(text="p9", source="p9", retriever="mpnet"),
        ),
    )
    result = MultiEmbeddingAgreement().score(obs)
    assert result.details["components"] == {"retrieval": 0.5}
    assert result.confidence == 0.5


def test_one_embedder_alone_is_skipped_with_a_reason() -> None:
    obs = Observation(
        question="q", answer="Denver", contexts=(Context(text="p", retriever="e5"),)
    )
    result = MultiEmbeddingAgreement().score(obs)
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == "needs answers or retrievals from at least two embedders"


def test_it_is_a_signal_usable_in_any_guard() -> None:
    assert isinstance(MultiEmbeddingAgreement(), Signal)
    assert MultiEmbeddingAgreement().cost.llm_calls == 0


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"vibes": 1.0}, "unknown agreement components"),
        ({"text": -1.0}, "must be >= 0"),
        ({"text": 0.0, "retrieval": 0.0}, "one positive"),
    ],
)
def test_bad_weights_are_refused_at_construction(
    weights: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MultiEmbeddingAgreement(weights=weights)
