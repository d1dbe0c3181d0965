"""ConfidentNodePostprocessor: embedder agreement, thresholds, credibility, reports."""

from __future__ import annotations

import logging
import math

import pytest
from li_fakes import TableEmbedder, node
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from llama_index.postprocessor.confguard import (
    ConfidentNodePostprocessor,
    NodeScore,
    capture_logprobs,
    node_score,
)
from llama_index.postprocessor.confguard.nodes import METADATA_KEY

QUERY = "q"
A, B, C = "text a", "text b", "text c"

# Embedder one ranks A (1.0) > B (0.6) > C (0.0); embedder two ranks C (1.0) >
# B (0.8) > A (0.0). With top_k=2, B is found by both, A and C by one each.
ONE = TableEmbedder("one", {QUERY: [1, 0], A: [1, 0], B: [0.6, 0.8], C: [0, 1]})
TWO = TableEmbedder("two", {QUERY: [1, 0], A: [0, 1], B: [0.8, 0.6], C: [1, 0]})


def std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


# z = (similarity - mean) / std of that embedder's similarities to the candidates.
Z_A_ONE = (1.0 - 1.6 / 3) / std([1.0, 0.6, 0.0])
Z_B_TWO = (0.8 - 0.6) / std([0.0, 0.8, 1.0])
Z_C_TWO = (1.0 - 0.6) / std([0.0, 0.8, 1.0])


def candidates() -> list[NodeWithScore]:
    return [node("a", A, 0.9), node("b", B, 0.8), node("c", C, 0.7)]


def run(post: ConfidentNodePostprocessor, nodes: list[NodeWithScore]) -> list[str]:
    return [n.node.node_id for n in post.postprocess_nodes(nodes, query_str=QUERY)]


def scores(nodes: list[NodeWithScore]) -> dict[str, NodeScore]:
    found = {n.node.node_id: node_score(n) for n in nodes}
    return {k: v for k, v in found.items() if v is not None}


def test_nodes_found_by_more_embedders_rank_first_then_by_pooled_z() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE, TWO], top_k=2)
    assert run(post, candidates()) == ["b", "a", "c"]


def test_each_node_records_agreement_z_and_similarities() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE, TWO], top_k=2)
    found = scores(post.postprocess_nodes(candidates(), query_str=QUERY))
    assert found["b"].confidence == 1.0
    assert found["b"].found_by == ("one", "two")
    assert found["b"].z == pytest.approx(Z_B_TWO)
    assert found["a"].confidence == 0.5
    assert found["a"].z == pytest.approx(Z_A_ONE)
    assert found["c"].z == pytest.approx(Z_C_TWO)
    assert found["a"].similarities == pytest.approx({"one": 1.0, "two": 0.0})


def test_scores_are_hidden_from_the_llm_and_the_embedding_text() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE], top_k=1)
    [first, *_] = post.postprocess_nodes(candidates(), query_str=QUERY)
    assert METADATA_KEY in first.node.excluded_llm_metadata_keys
    assert METADATA_KEY in first.node.excluded_embed_metadata_keys
    assert "confguard" not in first.node.get_content(metadata_mode=MetadataMode.LLM)


def test_the_retrievers_own_nodes_are_never_mutated() -> None:
    original = candidates()
    post = ConfidentNodePostprocessor(embedders=[ONE], top_k=1)
    post.postprocess_nodes(original, query_str=QUERY)
    assert all(METADATA_KEY not in n.node.metadata for n in original)
    assert [n.score for n in original] == [0.9, 0.8, 0.7]


def test_nodes_below_min_confidence_are_dropped() -> None:
    post = ConfidentNodePostprocessor(
        embedders=[ONE, TWO], top_k=2, min_confidence=0.75
    )
    assert run(post, candidates()) == ["b"]


def test_the_best_dropped_node_is_kept_when_nothing_passes() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE, TWO], top_k=1, min_confidence=1)
    kept = post.postprocess_nodes(candidates(), query_str=QUERY)
    assert [n.node.node_id for n in kept] == ["a"]
    note = scores(kept)["a"].note or ""
    assert note.startswith("kept although confidence 0.50 < min_confidence 1")


def test_an_empty_result_is_reported_with_its_reason_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    post = ConfidentNodePostprocessor(
        embedders=[ONE, TWO], top_k=1, min_confidence=1, keep_at_least=0
    )
    with capture_logprobs() as capture, caplog.at_level(logging.WARNING):
        assert run(post, candidates()) == []
    [report] = capture.reports
    assert report.empty
    assert report.note == (
        "no node returned: all 3 were dropped (confidence 0.50 < min_confidence 1 "
        "(found by 1 of 2 embedders))"
    )
    assert [d.node_id for d in report.dropped] == ["a", "c", "b"]
    assert "no node returned" in caplog.text


def test_no_nodes_in_means_an_explicit_report_not_silence() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE])
    with capture_logprobs() as capture:
        assert run(post, []) == []
    assert capture.reports[0].note == (
        "no node returned: the retriever returned no nodes"
    )


def test_nodes_without_text_are_kept_last_unscored_when_not_filtering() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE], top_k=1)
    kept = post.postprocess_nodes([node("blank", "  "), *candidates()], query_str=QUERY)
    assert [n.node.node_id for n in kept] == ["a", "b", "c", "blank"]
    assert scores(kept)["blank"].status == "no_text"
    assert scores(kept)["blank"].confidence is None


def test_nodes_without_text_are_dropped_when_filtering() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE], top_k=1, min_confidence=0.5)
    with capture_logprobs() as capture:
        kept = run(post, [node("blank", ""), *candidates()])
    assert kept == ["a"]
    assert capture.reports[0].without_text == ("blank",)
    assert ("blank", "node has no text to score (dropped)") in [
        (d.node_id, d.reason) for d in capture.reports[0].dropped
    ]


def test_only_nodes_without_text_give_an_empty_explained_result() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE], min_confidence=0.5)
    with capture_logprobs() as capture:
        assert run(post, [node("blank", "")]) == []
    assert capture.reports[0].note == (
        "no node returned: all 1 were dropped (node has no text to score (dropped))"
    )


def test_credibility_is_recorded_and_low_credibility_dropped() -> None:
    checked: list[str] = []

    def credibility(query: str, text: str) -> float:
        checked.append(text)
        return 0.2 if text == B else 0.9

    post = ConfidentNodePostprocessor(
        embedders=[ONE, TWO], top_k=2, credibility=credibility, min_credibility=0.5
    )
    kept = post.postprocess_nodes(candidates(), query_str=QUERY)
    assert [n.node.node_id for n in kept] == ["a", "c"]
    assert scores(kept)["a"].credibility == 0.9
    assert sorted(checked) == [A, B, C]


def test_credibility_is_only_checked_for_nodes_that_passed_agreement() -> None:
    checked: list[str] = []

    def credibility(query: str, text: str) -> float:
        checked.append(text)
        return 1.0

    post = ConfidentNodePostprocessor(
        embedders=[ONE, TWO], top_k=2, min_confidence=0.75, credibility=credibility
    )
    run(post, candidates())
    assert checked == [B]


def test_a_failing_credibility_check_is_recorded_not_raised() -> None:
    def broken(query: str, text: str) -> float:
        raise RuntimeError("judge offline")

    post = ConfidentNodePostprocessor(embedders=[ONE], top_k=1, credibility=broken)
    found = scores(post.postprocess_nodes(candidates(), query_str=QUERY))
    assert found["a"].credibility is None
    assert found["a"].credibility_problem == (
        "the credibility check raised RuntimeError: judge offline"
    )


def test_a_credibility_outside_zero_to_one_is_recorded_as_a_problem() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE], credibility=lambda q, t: 7)
    found = scores(post.postprocess_nodes(candidates(), query_str=QUERY))
    assert found["a"].credibility is None
    assert found["a"].credibility_problem == (
        "the credibility check returned 7.0, not a number in [0, 1]"
    )


async def test_async_postprocessing_gives_the_same_scores_as_sync() -> None:
    async def credibility(query: str, text: str) -> float:
        return 0.5

    post = ConfidentNodePostprocessor(
        embedders=[ONE, TWO], top_k=2, credibility=credibility
    )
    kept = await post.apostprocess_nodes(candidates(), query_str=QUERY)
    assert [n.node.node_id for n in kept] == ["b", "a", "c"]
    assert scores(kept)["b"].z == pytest.approx(Z_B_TWO)
    assert scores(kept)["b"].credibility == 0.5


async def test_async_postprocessing_reports_into_the_capture_too() -> None:
    post = ConfidentNodePostprocessor(
        embedders=[ONE, TWO], top_k=1, min_confidence=1, keep_at_least=0
    )
    with capture_logprobs() as capture:
        kept = await post.apostprocess_nodes(candidates(), query_str=QUERY)
    assert kept == []
    assert capture.reports[0].empty


def test_the_query_is_required() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE])
    with pytest.raises(ValueError, match="needs the query"):
        post.postprocess_nodes(candidates())


def test_the_query_bundle_is_accepted_as_well_as_a_string() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE, TWO], top_k=2)
    kept = post.postprocess_nodes(candidates(), query_bundle=QueryBundle(QUERY))
    assert kept[0].node.node_id == "b"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"embedders": []}, "at least 1 item"),
        ({"embedders": [ONE, ONE]}, "repeated: \\['one'\\]"),
        ({"embedders": [ONE], "min_credibility": 0.5}, "no credibility check"),
        ({"embedders": [ONE], "min_confidence": 1.5}, "less than or equal to 1"),
        ({"embedders": [object()]}, "neither a confguard Embedder"),
    ],
)
def test_a_misconfigured_postprocessor_is_refused(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ConfidentNodePostprocessor(**kwargs)


def test_a_node_score_is_read_back_from_a_plain_node() -> None:
    plain = NodeWithScore(node=TextNode(text="x", metadata={"confguard": "foreign"}))
    assert node_score(plain) is None
    assert node_score(node("x", "x")) is None


def test_top_n_keeps_only_the_best_ranked_nodes() -> None:
    post = ConfidentNodePostprocessor(embedders=[ONE, TWO], top_k=2, top_n=2)
    with capture_logprobs() as capture:
        assert run(post, candidates()) == ["b", "a"]
    assert [(d.node_id, d.reason) for d in capture.reports[0].dropped] == [
        ("c", "ranked below top_n=2")
    ]
