"""Confident RAG: one candidate per embedder, the most confident one is returned."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from confguard import registry
from confguard.exceptions import ConfigurationError, UnknownComponentError
from confguard.llm.base import Completion, GenerationRequest
from confguard.observation import Issue, TokenLogprob
from confguard.rag import (
    ConfidentRAGPipeline,
    EmbeddingIndex,
    Passage,
    RetrievedAnswer,
    score_candidates,
    select_candidate,
)
from confguard.results import Attempt, SignalResult
from confguard.signals.base import FunctionSignal
from confguard.strategies import more_context, other_embedder, temperature
from confguard.testing import token


def scored(retriever: str, confidence: float | None) -> RetrievedAnswer:
    result = (
        SignalResult.skipped("m", "no logprobs")
        if confidence is None
        else SignalResult(name="m", confidence=confidence)
    )
    return RetrievedAnswer(retriever=retriever, answer=retriever, result=result)


def confidences(candidates: Sequence[RetrievedAnswer]) -> list[float | None]:
    return [c.result.confidence if c.result else None for c in candidates]


def test_the_most_confident_candidate_is_selected() -> None:
    assert select_candidate([scored("a", 0.2), scored("b", 0.9), scored("c", 0.5)]) == 1


def test_ties_go_to_the_earlier_embedder() -> None:
    assert select_candidate([scored("a", 0.4), scored("b", 0.7), scored("c", 0.7)]) == 1


def test_unscored_candidates_rank_below_any_score_even_zero() -> None:
    assert select_candidate([scored("a", None), scored("b", 0.0)]) == 1


def test_with_no_scored_candidate_the_first_embedder_is_kept() -> None:
    assert select_candidate([scored("a", None), scored("b", None)]) == 0


def test_selecting_among_no_candidates_is_an_error() -> None:
    with pytest.raises(ValueError, match="zero candidates"):
        select_candidate([])


# One-token answers whose metrics disagree on purpose (hand-computed, K = 3):
#   flat:  chosen 0.6 of [0.6, 0.2, 0.2]    avg logprob ln 0.6 = -0.51
#          self-certainty -ln3 - mean(ln q) = 0.144; entropy 0.950; gini 0.44
#   split: chosen 0.5 of [0.5, 0.49, 0.01]  avg logprob ln 0.5 = -0.69
#          self-certainty 0.905; entropy 0.742; gini 0.490
FLAT = (token("x", 0.6, {"y": 0.2, "z": 0.2}),)
SPLIT = (token("x", 0.5, {"y": 0.49, "z": 0.01}),)


@pytest.mark.parametrize(
    ("metric", "winner"),
    [
        ("avg_logprob", "flat"),
        ("min_token_prob", "flat"),
        ("self_certainty", "split"),
        ("entropy", "split"),
        ("distributional_perplexity", "split"),
        ("gini", "split"),
    ],
)
def test_each_token_metric_selects_the_answer_it_is_surest_of(
    metric: str, winner: str
) -> None:
    candidates = [
        RetrievedAnswer(retriever="flat", answer="flat", logprobs=FLAT),
        RetrievedAnswer(retriever="split", answer="split", logprobs=SPLIT),
    ]
    ranked = score_candidates("q?", candidates, registry.create("signal", metric))
    assert ranked[select_candidate(ranked)].retriever == winner


def test_any_signal_can_be_the_selection_metric() -> None:
    by_length = FunctionSignal(lambda obs: len(obs.answer) / 10, name="length")
    candidates = [
        RetrievedAnswer(retriever=r, answer=r) for r in ("abc", "abcdefg", "ab")
    ]
    ranked = score_candidates("q?", candidates, by_length)
    assert confidences(ranked) == pytest.approx([0.3, 0.7, 0.2])
    assert select_candidate(ranked) == 1


# --- the pipeline, with fakes ---------------------------------------------------


class TableEmbedder:
    def __init__(self, name: str, table: Mapping[str, Sequence[float]]) -> None:
        self.name, self.dim, self.table = name, 2, table

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.table[t] for t in texts], dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return np.array(self.table[text], dtype=np.float32)


class PassageGenerator:
    """Answers with a scripted (text, token probability) per passage in the prompt."""

    name = "scripted"

    def __init__(self, script: Mapping[str, tuple[str, float]], logprobs: bool = True):
        self.script, self.logprobs = script, logprobs
        self.requests: list[GenerationRequest] = []
        self._lock = threading.Lock()

    @property
    def prompts(self) -> list[str]:
        return [r.prompt for r in self.requests]

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        with self._lock:
            self.requests.append(request)
        first_passage = request.prompt.rsplit("Context: ", 1)[1].split()[0]
        text, prob = self.script[first_passage]
        tokens: tuple[TokenLogprob, ...] | None = (token(text, prob),)
        return (
            Completion(text=f" {text}", logprobs=tokens if self.logprobs else None),
        )

    async def agenerate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        return self.generate(request)


PASSAGES = tuple(Passage(id=p, text=p) for p in ("denver", "carolina", "weather"))
QUESTION = "Who won Super Bowl 50?"
SCRIPT = {
    "denver": ("Denver", 0.9),
    "carolina": ("Carolina", 0.6),
    "weather": ("", 0.3),
}


def index(name: str, best: str) -> EmbeddingIndex:
    """An index whose top passage for QUESTION is `best`."""
    table = {p.text: [1.0, 0.0] if p.text == best else [0.0, 1.0] for p in PASSAGES}
    embedder = TableEmbedder(name, {**table, QUESTION: [1.0, 0.0]})
    return EmbeddingIndex.build(embedder, PASSAGES)


def pipeline(generator: PassageGenerator | None = None) -> ConfidentRAGPipeline:
    indices = [
        index("minilm", "carolina"),
        index("e5", "denver"),
        index("mpnet", "denver"),
    ]
    return ConfidentRAGPipeline(
        generator or PassageGenerator(SCRIPT),
        indices,
        metric=registry.create("signal", "avg_logprob"),
    )


def test_the_pipeline_returns_the_most_confident_embedders_answer() -> None:
    result = pipeline().run(QUESTION)
    obs = result.observation
    assert obs.answer == "Denver"
    assert obs.logprobs is not None
    assert obs.logprobs[0].logprob == pytest.approx(np.log(0.9))
    assert obs.selected == 1
    assert obs.selected_candidate is not None
    assert obs.selected_candidate.retriever == "e5"
    assert (obs.pipeline, obs.attempt, obs.issues, obs.metadata) == (
        "confident_rag",
        1,
        (),
        {},
    )
    assert "'e5' was the most confident (avg_logprob = 0.900)" in result.selection


def test_the_observation_carries_every_candidate_and_who_produced_it() -> None:
    obs = pipeline()(QUESTION)
    assert [s.text for s in obs.samples] == ["Carolina", "Denver", "Denver"]
    described = obs.candidates
    assert [c.retriever for c in described] == ["minilm", "e5", "mpnet"]
    assert [[x.source for x in c.contexts] for c in described] == [
        ["carolina"],
        ["denver"],
        ["denver"],
    ]
    assert [c.confidence for c in described] == pytest.approx([0.6, 0.9, 0.9])
    assert {(c.metric, c.status) for c in described} == {("avg_logprob", "ok")}
    assert [c.answer for c in described] == ["Carolina", "Denver", "Denver"]
    assert [(c.source, c.retriever) for c in obs.contexts] == [("denver", "e5")]


def test_embedders_that_retrieved_the_same_passages_share_one_generation() -> None:
    generator = PassageGenerator(SCRIPT)
    pipeline(generator=generator)(QUESTION)
    assert len(generator.prompts) == 2


def test_run_exposes_the_scored_candidates() -> None:
    result = pipeline().run(QUESTION)
    assert result.answer == "Denver"
    assert [c.retriever for c in result.candidates] == ["minilm", "e5", "mpnet"]
    assert confidences(result.candidates) == pytest.approx([0.6, 0.9, 0.9])


def test_without_logprobs_the_first_embedder_is_kept_and_the_reason_recorded() -> None:
    result = pipeline(generator=PassageGenerator(SCRIPT, logprobs=False)).run(QUESTION)
    reason = (
        "no candidate could be scored (model exposes no logprobs); kept the first, "
        "'minilm'"
    )
    assert result.observation.answer == "Carolina"
    assert result.selection == reason
    assert result.observation.issues == (
        Issue(code="candidates_unscored", attempt=1, detail=reason),
    )
    assert {c.status for c in result.observation.candidates} == {"skipped"}


def test_a_retry_strategy_sets_top_k_for_every_embedder() -> None:
    obs = pipeline()(QUESTION, Attempt(number=2, strategy=more_context(2)))
    assert [len(c.contexts) for c in obs.candidates] == [2, 2, 2]
    assert obs.attempt == 2


def test_another_embedder_strategy_keeps_only_that_embedders_candidate() -> None:
    obs = pipeline()(QUESTION, Attempt(number=2, strategy=other_embedder("minilm")))
    assert [c.retriever for c in obs.candidates] == ["minilm"]
    assert (obs.answer, obs.selected) == ("Carolina", 0)


def test_an_unknown_embedder_is_refused_naming_the_known_ones() -> None:
    attempt = Attempt(number=2, strategy=other_embedder("bge"))
    with pytest.raises(UnknownComponentError, match="known: e5, minilm, mpnet"):
        pipeline()(QUESTION, attempt)


def test_a_temperature_strategy_reaches_every_request() -> None:
    generator = PassageGenerator(SCRIPT)
    pipeline(generator=generator)(
        QUESTION, Attempt(number=2, strategy=temperature(0.7))
    )
    # Sampled answers are drawn independently: no shared generation.
    assert [r.temperature for r in generator.requests] == [0.7, 0.7, 0.7]
    assert {(r.max_tokens, r.stop) for r in generator.requests} == {(24, ("\n",))}


async def test_the_async_pipeline_gives_the_same_result() -> None:
    rag = pipeline()
    sync, async_ = rag.run(QUESTION), await rag.arun(QUESTION)
    # Results differ only in measured seconds; the observations are identical.
    assert async_.observation == sync.observation
    assert async_.selected == sync.selected == 1
    assert (await rag.acall(QUESTION)).answer == "Denver"


def test_the_default_metric_is_self_certainty() -> None:
    rag = ConfidentRAGPipeline(PassageGenerator(SCRIPT), [index("minilm", "denver")])
    assert rag.metric.name == "self_certainty"


def test_a_request_template_asking_for_several_answers_is_refused() -> None:
    indices = [index("minilm", "denver")]
    with pytest.raises(ConfigurationError, match="one answer per prompt"):
        ConfidentRAGPipeline(
            PassageGenerator(SCRIPT), indices, request=GenerationRequest(prompt="", n=3)
        )


def test_indices_must_exist_and_have_distinct_names() -> None:
    with pytest.raises(ConfigurationError, match="at least one index"):
        ConfidentRAGPipeline(PassageGenerator(SCRIPT), [])
    twins = [index("minilm", "denver"), index("minilm", "carolina")]
    with pytest.raises(ConfigurationError, match=r"repeated: \['minilm'\]"):
        ConfidentRAGPipeline(PassageGenerator(SCRIPT), twins)
