"""Presets: the parts they are made of, each with fakes (no model, no embedder)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from confguard.config import load
from confguard.config.presets import PRESETS, config_source, preset_path
from confguard.exceptions import ConfigurationError, UnknownComponentError
from confguard.llm.base import GenerationRequest, ScoringRequest
from confguard.llm.recorded import RecordedScorer, recorded
from confguard.observation import Context, Observation, Sample
from confguard.presets import build_pipeline
from confguard.rag import ConfidentRAGPipeline, Passage, RAGPipeline, RetrievedAnswer
from confguard.rag.selection import ByMetric, FittedSelector, candidate_features
from confguard.signals._faithfulness_rcr import RCR
from confguard.signals.consistency import GeneratorSampler, SelfConsistency
from confguard.signals.faithfulness import SituatedFaithfulness
from confguard.similarity import JaccardSimilarity
from confguard.testing import FakeEmbedder, FakeGenerator

# --- the recorded generator ----------------------------------------------------------


def test_a_recorded_call_is_replayed_and_a_new_one_reaches_the_model(
    tmp_path: Path,
) -> None:
    model = FakeGenerator(["Paris"], logprobs=-0.1)
    record = tmp_path / "calls.jsonl"
    first = recorded(model, record)
    request = GenerationRequest(prompt="Capital of France?")
    made = first.generate(request)
    again = recorded(model, record).generate(request)
    assert again == made
    assert model.call_count == 1
    recorded(model, record).generate(request.with_(temperature=0.5, seed=1))
    assert model.call_count == 2  # a changed setting is a new call


def test_the_stats_say_what_was_replayed_and_what_it_cost_first(tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    request = GenerationRequest(prompt="Q?")
    recorded(FakeGenerator(["A"]), record).generate(request)
    gen = recorded(FakeGenerator(["A"]), record)
    gen.generate(request)
    gen.generate(GenerationRequest(prompt="other"))
    stats = gen.stats
    assert (stats.calls, stats.replayed) == (2, 1)
    assert 0.0 <= stats.replayed_seconds <= stats.model_seconds
    assert gen.reset_stats() == stats and gen.stats.calls == 0


def test_a_scorer_stays_a_scorer_and_its_scores_are_recorded(tmp_path: Path) -> None:
    model = FakeGenerator(["A"], logprobs=-0.5)
    gen = recorded(model, tmp_path / "calls.jsonl")
    assert isinstance(gen, RecordedScorer)
    request = ScoringRequest(prompt="Q:", continuation=" Paris")
    scored = gen.score_continuation(request)
    replayed = recorded(model, tmp_path / "calls.jsonl").score_continuation(request)
    assert replayed == scored and len(model.calls) == 0


def test_a_line_cut_short_by_a_killed_run_is_made_again(tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    model = FakeGenerator(["A"])
    recorded(model, record).generate(GenerationRequest(prompt="Q?"))
    record.write_text(record.read_text()[:-20] + "\n")
    recorded(model, record).generate(GenerationRequest(prompt="Q?"))
    assert model.call_count == 2


# --- Confident RAG's fitted selector -------------------------------------------------


def candidate(name: str, answer: str, score: float, logprob: float) -> RetrievedAnswer:
    from confguard.testing import token

    return RetrievedAnswer(
        retriever=name,
        answer=answer,
        logprobs=tuple(
            token(t, math.exp(logprob), {"<alt>": 1 - math.exp(logprob)})
            for t in answer.split()
        ),
        contexts=(Context(text=f"passage of {name}", score=score, retriever=name),),
    )


CANDIDATES = (
    candidate("a", "Denver Broncos", 0.9, -0.05),
    candidate("b", "Carolina Panthers", 0.5, -0.01),
    candidate("c", "the Denver Broncos", 0.8, -0.3),
)


def test_features_say_how_far_each_answer_agrees_with_the_others() -> None:
    rows = candidate_features(CANDIDATES)
    assert rows[0]["agreement"] > rows[1]["agreement"]
    assert rows[1]["agreement"] == 0.0
    assert rows[0]["retrieval_score"] == 0.9
    assert rows[2]["embedder:c"] == 1.0


def test_a_feature_says_how_much_of_each_answer_its_own_passage_holds() -> None:
    def with_passage(answer: str, passage: str) -> RetrievedAnswer:
        made = candidate("a", answer, 0.9, -0.1)
        return made.model_copy(update={"contexts": (Context(text=passage),)})

    rows = candidate_features(
        (
            with_passage("Denver Broncos", "The Denver Broncos won Super Bowl 50."),
            with_passage("the Carolina Panthers", "The Broncos beat Carolina."),
            with_passage("", "The Broncos won."),
        )
    )
    assert [r["answer_support"] for r in rows] == [1.0, 0.5, 0.0]
    no_passage = candidate("a", "Denver", 0.9, -0.1).model_copy(update={"contexts": ()})
    assert math.isnan(candidate_features((no_passage,))[0]["answer_support"])
    by_support = FittedSelector({"answer_support": 1.0})
    made_up, copied = with_passage("x", "y"), with_passage("Broncos", "Broncos won")
    assert by_support.select("Who won?", (made_up, copied)) == 1


def test_the_fitted_selector_weighs_agreement_over_token_confidence() -> None:
    by_agreement = FittedSelector({"agreement": 3.0, "min_token_prob": 0.5})
    assert by_agreement.select("Who won?", CANDIDATES) == 0
    by_tokens = FittedSelector({"min_token_prob": 1.0})
    assert by_tokens.select("Who won?", CANDIDATES) == 1
    assert "highest fitted score" in by_agreement.describe(CANDIDATES, 0)


def test_the_features_are_standardised_as_they_were_when_fitted() -> None:
    selector = FittedSelector(
        {"retrieval_score": 1.0},
        means={"retrieval_score": 0.8},
        scales={"retrieval_score": 0.1},
    )
    scores = selector.scores("Q", CANDIDATES)
    assert scores[0] == pytest.approx(1 / (1 + pow(2.718281828459045, -1.0)), rel=1e-6)


def test_an_unknown_selector_feature_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown selector feature"):
        FittedSelector({"luck": 1.0})


def test_the_paper_s_rule_is_the_default_selector() -> None:
    pipeline = ConfidentRAGPipeline(FakeGenerator(["x"]), [_index("a"), _index("b")])
    assert isinstance(pipeline.selector, ByMetric)


# --- the pipeline section ------------------------------------------------------------


def _index(name: str):  # type: ignore[no-untyped-def]
    from confguard.rag import EmbeddingIndex

    return EmbeddingIndex.build(FakeEmbedder(name=name), PASSAGES)


PASSAGES = [
    Passage(id=f"p{i}", text=f"Passage number {i} about topic {i}.") for i in range(4)
]


def config_file(tmp_path: Path, pipeline: str) -> Path:
    path = tmp_path / "guard.yaml"
    path.write_text(f"signals: [min_token_prob]\npipeline:\n{pipeline}")
    return path


def test_a_single_retrieval_pipeline_uses_the_first_embedder(tmp_path: Path) -> None:
    config = load(config_file(tmp_path, "  embedders: [x, y]\n  top_k: 2\n")).config
    built = build_pipeline(
        config, PASSAGES, tmp_path, FakeGenerator(["A"]), embedder_for=_fake
    )
    assert isinstance(built, RAGPipeline)
    assert built.index.name == "x" and built.top_k == 2


def test_a_confident_rag_pipeline_carries_its_fitted_selector(tmp_path: Path) -> None:
    text = (
        "  retrieval: confident_rag\n  embedders: [x, y, z]\n"
        "  selector: {weights: {agreement: 2.0}, intercept: -1.0}\n"
    )
    config = load(config_file(tmp_path, text)).config
    built = build_pipeline(
        config, PASSAGES, tmp_path, FakeGenerator(["A"]), embedder_for=_fake
    )
    assert isinstance(built, ConfidentRAGPipeline)
    assert [i.name for i in built.indices] == ["x", "y", "z"]
    assert isinstance(built.selector, FittedSelector)
    assert built.selector.weights == {"agreement": 2.0}
    result = built.run("Passage number 2?")
    assert "fitted score" in result.selection


def test_confident_rag_with_one_embedder_is_refused(tmp_path: Path) -> None:
    config = load(
        config_file(tmp_path, "  retrieval: confident_rag\n  embedders: [x]\n")
    ).config
    with pytest.raises(ConfigurationError, match="at least two embedders"):
        build_pipeline(
            config, PASSAGES, tmp_path, FakeGenerator(["A"]), embedder_for=_fake
        )


def test_a_mistyped_pipeline_field_is_named_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"line 3.*pipeline.retreival"):
        load(config_file(tmp_path, "  retreival: single\n"))


def test_the_sampler_section_builds_one_seeded_sampler_for_every_signal(
    tmp_path: Path,
) -> None:
    from confguard.config import parts

    path = tmp_path / "guard.yaml"
    path.write_text(
        "signals:\n"
        "  - {type: self_consistency, params: {draw: true}}\n"
        "  - {type: perplexity_consistency, params: {draw: true}}\n"
        "sampler: {k: 3, temperature: 0.9, seed: 7}\n"
    )
    built = parts(
        path, generator=FakeGenerator(["A", "B", "A"]), similarity=JaccardSimilarity()
    )
    samplers = {id(s.sampler) for s in built.signals}  # type: ignore[attr-defined]
    assert len(samplers) == 1
    sampler = built.signals[0].sampler  # type: ignore[attr-defined]
    assert (sampler.k, sampler.temperature, sampler.seed) == (3, 0.9, 7)


def _fake(name: str) -> FakeEmbedder:
    return FakeEmbedder(name=name)


# --- consistency over drawn samples --------------------------------------------------


def test_draw_makes_a_signal_sample_even_when_the_observation_has_samples() -> None:
    model = FakeGenerator(["Paris", "Paris", "Lyon"])
    sampler = GeneratorSampler(model, k=3, seed=0)
    obs = Observation(
        question="Capital?",
        answer="Paris",
        samples=(Sample(text="Rome"), Sample(text="Rome")),  # e.g. other embedders'
    )
    drawn = SelfConsistency(JaccardSimilarity(), sampler, draw=True).score(obs)
    observed = SelfConsistency(JaccardSimilarity(), sampler).score(obs)
    assert drawn.details["k"] == 3 and observed.details["k"] == 2
    assert drawn.confidence > observed.confidence


def test_signals_sharing_a_seeded_sampler_share_one_sampling_call() -> None:
    model = FakeGenerator(["Paris"])
    sampler = GeneratorSampler(model, k=4, seed=0)
    obs = Observation(question="Capital?", answer="Paris")
    for _ in range(3):
        SelfConsistency(JaccardSimilarity(), sampler, draw=True).score(obs)
    assert model.call_count == 1


def test_draw_without_a_sampler_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a sampler"):
        SelfConsistency(draw=True)


# --- RCR's tuned parameters from a config ---------------------------------------


def test_rcr_takes_its_plausibility_centre_scale_and_trust_floor_as_numbers() -> None:
    signal = SituatedFaithfulness(
        FakeGenerator(["A"]),
        mode="rcr",
        method_params={"center": -1.0, "scale": 2.0, "min_trust": 0.3},
    )
    method = signal.method
    assert isinstance(method, RCR)
    assert (method.plausibility.center, method.plausibility.scale) == (-1.0, 2.0)
    assert method.rule.min_trust == 0.3  # type: ignore[attr-defined]


def test_rcr_refuses_both_forms_of_one_parameter() -> None:
    from confguard.signals._faithfulness_rcr import Plausibility

    with pytest.raises(ValueError, match="not both"):
        RCR(plausibility=Plausibility(), center=0.0)


# --- preset names ---------------------------------------------------------------------


def test_a_preset_name_reads_the_shipped_file() -> None:
    for name in PRESETS:
        assert config_source(name) == preset_path(name)
    with pytest.raises(UnknownComponentError, match="preset"):
        preset_path("fastest")


def test_a_file_named_like_a_preset_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fast").write_text("signals: [avg_logprob]\n")
    assert config_source("fast") == Path("fast")


@pytest.mark.parametrize("name", PRESETS)
def test_every_shipped_preset_builds_and_carries_its_certified_threshold(
    name: str,
) -> None:
    from confguard.config import build

    loaded = load(name)
    built = build(loaded, dry_run=True)
    control = built.policy.risk_control
    assert control is not None, "a preset ships a Learn-then-Test threshold"
    assert built.policy.thresholds.accept == control.threshold
    assert control.upper_bound <= control.target_risk
    assert loaded.config.pipeline is not None
    if name != "fast":
        assert loaded.config.pipeline.retrieval == "confident_rag"
        assert any(r.then == "escalate" for r in built.policy.rules)
    header = json.loads(
        preset_path(name).read_text().splitlines()[2].split("Fit: ", 1)[1]
    )
    assert header["signals"], "the fit chose its signals"
    strata = header["strata"]
    assert set(strata) == {"default", "retrieved"}, "each stratum certified apart"
    assert strata["default"]["alpha"] == control.target_risk
    assert strata["default"]["threshold"] == control.threshold
    (retrieved,) = built.policy.strata
    assert retrieved.name == "retrieved"
    assert retrieved.when.to_data() == {"signal": "retrieval", "status": "ok"}
    own = retrieved.risk_control
    assert own is not None and retrieved.thresholds.accept == own.threshold
    assert own.upper_bound <= own.target_risk
    assert strata["retrieved"]["alpha"] == own.target_risk, "the header says it"


def test_a_candidate_whose_metrics_cannot_run_counts_as_no_evidence() -> None:
    bare = RetrievedAnswer(retriever="x", answer="A")
    assert math.isnan(candidate_features([bare])[0]["min_token_prob"])
    selector = FittedSelector({"min_token_prob": 5.0}, intercept=0.0)
    assert selector.scores("Q", [bare]) == [0.5]
