"""Situated faithfulness (RCR, SCR): rules, parsers and the signal, with fake models."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest

from confguard.exceptions import UnknownComponentError
from confguard.llm.base import (
    BaseContinuationScorer,
    Completion,
    GenerationRequest,
    ScoringRequest,
)
from confguard.observation import Observation, TokenLogprob
from confguard.results import SignalStatus
from confguard.signals._faithfulness_core import span_logprobs
from confguard.signals._faithfulness_prompts import (
    parse_deceptive,
    parse_label,
    parse_own_confidence,
    truncate_context,
)
from confguard.signals.faithfulness import (
    CHAT_PROMPTS,
    COMPLETION_PROMPTS,
    RCR,
    Example,
    HigherConfidenceWins,
    Plausibility,
    RCREvidence,
    SCRExplicit,
    SituatedFaithfulness,
    Source,
    TrustThreshold,
    answers_match,
    completion_prompts,
    context_support,
    parse_final_answer,
)
from confguard.testing import FakeGenerator, fake_tokens, make_observation

QUESTION = "who designed the eiffel tower?"
TRUE_DOC = "The Eiffel Tower was designed by the engineering firm of Gustave Eiffel."
PLANTED_DOC = "Sydney became the capital of Australia in 1913."
SIGMOID_1 = 1 / (1 + math.exp(-1))  # trust at PMI 2 with center 1, scale 1


def kind_of(prompt: str) -> str:
    """Which of the faithfulness prompts a completion-style prompt is."""
    if prompt.endswith("My answer without the document:"):
        return "scr_explicit"
    if "Document:" in prompt:
        return "scr_implicit"
    if "Context:" in prompt:
        return "context"
    return "null" if prompt.endswith("Question: \nAnswer:") else "closed_book"


class ScoringFake(FakeGenerator):
    """A FakeGenerator whose teacher-forced logprob per token depends on the prompt."""

    def __init__(
        self,
        replies: dict[str, str],
        *,
        logprobs: float | Callable[[str], float | Sequence[float]] | None = -0.1,
        per_token: dict[str, float] | None = None,
    ) -> None:
        super().__init__(lambda prompt: replies[kind_of(prompt)], logprobs=logprobs)
        self.per_token = per_token or {"closed_book": -1.0, "null": -3.0}

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        self.scored.append(request)
        value = self.per_token[kind_of(request.prompt)]
        return tuple(
            TokenLogprob(token=t, logprob=value)
            for t in fake_tokens(request.continuation)
        )


class GenerateOnly:
    """A generator that cannot score continuations (like a chat API)."""

    def __init__(self, inner: FakeGenerator) -> None:
        self.inner, self.name = inner, "generate-only"

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        return self.inner.generate(request)

    async def agenerate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        return await self.inner.agenerate(request)


def evidence(**changes: object) -> RCREvidence:
    base: dict[str, object] = {
        "context_answer": "Sydney",
        "context_confidence": 0.8,
        "context_support": 1.0,
        "internal_answer": "Canberra",
        "internal_confidence": 0.3,
        "plausibility": 2.0,
        "context_trust": 0.9,
    }
    return RCREvidence.model_validate({**base, **changes})


# --- answer matching and support ---------------------------------------------------


def test_answers_match_after_squad_normalisation_or_token_f1_of_a_half() -> None:
    assert answers_match("The Beatles.", "beatles")
    assert answers_match("President Woodrow Wilson", "Woodrow Wilson")  # F1 0.8
    assert not answers_match("Wilson", "Thomas Woodrow Wilson Jr")  # F1 0.4
    assert not answers_match("", "")


def test_context_support_is_one_for_a_verbatim_answer_else_half_the_token_share() -> (
    None
):
    assert context_support("Gustave Eiffel", TRUE_DOC) == 1.0
    assert (
        context_support("Eiffel Gustave", TRUE_DOC) == 0.5
    )  # all tokens, not verbatim
    assert context_support("Alexandre Eiffel", TRUE_DOC) == 0.25
    assert context_support("...", TRUE_DOC) == 0.0


# --- parsers -----------------------------------------------------------------------


def test_final_answer_is_read_from_the_last_final_answer_line() -> None:
    reply = "Final answer: Sydney\nOn reflection, no.\nFinal answer: Canberra"
    assert parse_final_answer(reply, first_line_fallback=False) == "Canberra"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("**Final answer:** Canberra.", "Canberra"),
        ('final answer - "Canberra"', "Canberra"),
        ("The final answer is: Canberra", "Canberra"),
        ("Final Answer: Washington D.C.", "Washington D.C."),
        ("  - Final answer:   the   1889 World's Fair  ", "the 1889 World's Fair"),
    ],
)
def test_final_answer_tolerates_markdown_quotes_labels_and_full_stops(
    reply: str, expected: str
) -> None:
    assert parse_final_answer(reply, first_line_fallback=False) == expected


def test_a_reply_without_a_final_line_has_no_answer_unless_first_line_is_allowed() -> (
    None
):
    reply = "\n  Answer: Canberra\nBecause it is the capital."
    assert parse_final_answer(reply, first_line_fallback=False) is None
    assert parse_final_answer(reply, first_line_fallback=True) == "Canberra"


@pytest.mark.parametrize(
    "reply", ["", "   \n ", "Final answer:   ", 'Final answer: "**"']
)
def test_an_empty_final_answer_counts_as_unparsed(reply: str) -> None:
    assert parse_final_answer(reply, first_line_fallback=True) is None


def test_explicit_steps_are_parsed_from_labelled_lines() -> None:
    text = (
        "My answer without the document: Canberra\n"
        "The document's answer: Sydney\n"
        "Confidence in my own answer: High. The document is deceptive: yes.\n"
    )
    assert parse_label(text, "own_answer") == "Canberra"
    assert parse_label(text, "document_answer") == "Sydney"
    assert parse_own_confidence(text) == "high"
    assert parse_deceptive(text) is True
    assert parse_deceptive("The document is deceptive: no.") is False
    assert parse_deceptive("no verdict here") is None


def test_truncation_keeps_the_head_and_cuts_at_a_word_boundary() -> None:
    assert truncate_context("one two  three", 9) == "one two"
    assert truncate_context("one two three", 13) == "one two three"
    assert truncate_context("abcdefghij", 4) == "abcd"  # one long word: a hard cut


def test_prompts_fill_question_and_context_in_one_pass() -> None:
    prompt = COMPLETION_PROMPTS.render(
        "scr_implicit", question="q {context}?", context="doc {question}"
    )
    assert prompt.endswith("Document: doc {question}\nQuestion: q {context}?\nAnswer:")


def test_prompts_can_be_built_from_your_own_worked_examples() -> None:
    mine = Example(
        document="The warranty lasts 5 years.",
        question="how long is the warranty?",
        own_answer="2 years",
        document_answer="5 years",
        own_confidence="low",
        deceptive=False,
        final_answer="5 years",
    )
    prompt = completion_prompts([mine]).render(
        "scr_explicit", question="q?", context="c"
    )
    assert prompt.count("Document:") == 2
    assert "My answer without the document: 2 years\n" in prompt
    assert prompt.endswith("Document: c\nQuestion: q?\nMy answer without the document:")


def test_answer_span_logprobs_pick_the_tokens_of_the_last_occurrence() -> None:
    tokens = tuple(
        TokenLogprob(token=t, logprob=lp)
        for t, lp in [
            (" Canberra", -1.0),
            ("\nFinal", -0.5),
            (":", -0.5),
            (" Canberra", -0.2),
        ]
    )
    completion = Completion(text=" Canberra\nFinal: Canberra", logprobs=tokens)
    assert span_logprobs(completion, "Canberra") == tokens[3:]
    unaligned = Completion(text="something else", logprobs=tokens)
    assert span_logprobs(unaligned, "Canberra") == tokens


# --- RCR rules ---------------------------------------------------------------------


def test_context_score_is_token_confidence_times_support_times_trust() -> None:
    assert evidence(
        context_support=0.5, context_trust=0.5
    ).context_score == pytest.approx(0.8 * 0.5 * 0.5)
    assert evidence(context_trust=None).context_score == pytest.approx(0.8)


def test_agreeing_sources_give_both_without_conflict_and_the_surer_confidence() -> None:
    choice = HigherConfidenceWins().choose(
        evidence(
            internal_answer="sydney.", answers_agree=True, internal_confidence=0.95
        )
    )
    assert (choice.source, choice.answer, choice.conflict) == (
        Source.BOTH,
        "Sydney",
        False,
    )
    assert choice.confidence == pytest.approx(0.95)
    assert "closed-book and context answers agree" in choice.reasons


def test_higher_confidence_wins_picks_a_surer_closed_book_answer() -> None:
    choice = HigherConfidenceWins().choose(
        evidence(internal_confidence=0.7, context_trust=0.5)  # context 0.8*0.5=0.4
    )
    assert (choice.source, choice.answer, choice.conflict) == (
        Source.INTERNAL,
        "Canberra",
        True,
    )
    assert choice.confidence == pytest.approx(0.7)
    assert "'Sydney'" in (choice.conflict_detail or "")


def test_higher_confidence_wins_keeps_the_context_when_it_scores_higher() -> None:
    choice = HigherConfidenceWins().choose(evidence(internal_confidence=0.6))
    assert (choice.source, choice.answer) == (Source.CONTEXT, "Sydney")
    assert choice.confidence == pytest.approx(0.72)  # 0.8 * 1.0 * 0.9
    assert choice.conflict  # a sure closed-book answer disagrees


def test_higher_confidence_wins_needs_the_margin() -> None:
    e = evidence(internal_confidence=0.7, context_trust=0.75)  # context 0.6
    assert HigherConfidenceWins(margin=0.0).choose(e).source is Source.INTERNAL
    assert HigherConfidenceWins(margin=0.2).choose(e).source is Source.CONTEXT


def test_an_unsure_model_and_a_trusted_context_report_no_conflict() -> None:
    choice = HigherConfidenceWins().choose(evidence())
    assert (choice.source, choice.conflict, choice.conflict_detail) == (
        Source.CONTEXT,
        False,
        None,
    )


def test_an_implausible_context_answer_is_a_conflict_even_when_followed() -> None:
    choice = HigherConfidenceWins(min_trust=0.5).choose(evidence(context_trust=0.2))
    assert (choice.source, choice.conflict) == (Source.CONTEXT, True)
    assert choice.confidence == pytest.approx(0.16)
    assert "context trust 0.20" in (choice.conflict_detail or "")


def test_without_a_closed_book_answer_the_context_is_followed() -> None:
    choice = HigherConfidenceWins().choose(
        evidence(internal_answer=None, internal_confidence=0.0)
    )
    assert (choice.source, choice.answer, choice.conflict) == (
        Source.CONTEXT,
        "Sydney",
        False,
    )
    assert "no closed-book answer" in choice.reasons


@pytest.mark.parametrize(
    ("trust", "internal", "source", "conflict"),
    [
        (0.2, 0.8, Source.INTERNAL, True),  # distrusted and sure: overrule
        (0.2, 0.5, Source.CONTEXT, True),  # distrusted, unsure: follow, flag
        (0.9, 0.8, Source.CONTEXT, True),  # trusted but the model is sure otherwise
        (0.9, 0.5, Source.CONTEXT, False),  # trusted, unsure: nothing to report
    ],
)
def test_trust_threshold_overrules_only_a_distrusted_context_with_a_sure_model(
    trust: float, internal: float, source: Source, conflict: bool
) -> None:
    choice = TrustThreshold(min_trust=0.5, min_internal=0.7).choose(
        evidence(context_trust=trust, internal_confidence=internal)
    )
    assert (choice.source, choice.conflict) == (source, conflict)


def test_plausibility_is_per_token_pmi_through_a_logistic() -> None:
    with_q = [TokenLogprob(token="a", logprob=-1.0)] * 2
    without = [TokenLogprob(token="a", logprob=-3.0)] * 2
    plausibility = Plausibility(center=1.0, scale=1.0)
    assert plausibility.raw(with_q, without) == pytest.approx(2.0)
    assert plausibility.trust(2.0) == pytest.approx(SIGMOID_1)
    assert Plausibility(center=1.0, scale=0.5).trust(1.0) == 0.5


# --- RCR end to end, with a fake model ---------------------------------------------


def rcr_model(
    closed_book: str = " Alexandre Dumas", internal_lp: float = -0.5
) -> ScoringFake:
    return ScoringFake(
        {"closed_book": closed_book, "context": " Gustave Eiffel"},
        logprobs=internal_lp,
    )


def eiffel_observation(answer: str = "Gustave Eiffel") -> Observation:
    return make_observation(answer, QUESTION, probs=[0.8, 0.8], contexts=[TRUE_DOC])


def test_rcr_overrules_the_context_when_the_closed_book_answer_is_surer() -> None:
    model = rcr_model(internal_lp=-0.2)  # closed-book confidence e^-0.2 = 0.819
    result = SituatedFaithfulness(model, mode="rcr").score(eiffel_observation())
    # context: 0.8 (token) x 1 (verbatim) x sigmoid((2 - 1) / 1) (PMI 2/token) = 0.585,
    # and 0.819 >= 0.6 (min_internal) and > 0.585 + 0.1 (margin)
    assert result.ok
    assert result.raw == pytest.approx(math.exp(-0.2))
    assert result.confidence == pytest.approx(1 - math.exp(-0.2))  # answer overruled
    assert result.details["suggested_answer"] == "Alexandre Dumas"
    assert result.details["suggested_source"] == "internal"
    assert result.details["follows"] == "context"
    assert result.details["conflict"] is True
    assert result.details["context_trust"] == pytest.approx(SIGMOID_1)


def test_rcr_follows_a_plausible_context_when_the_model_is_unsure() -> None:
    model = rcr_model(internal_lp=-1.0)  # closed-book confidence 0.37 < 0.6
    result = SituatedFaithfulness(model, mode="rcr").score(eiffel_observation())
    assert result.confidence == pytest.approx(0.8 * SIGMOID_1)
    assert result.details["suggested_source"] == "context"
    assert result.details["conflict"] is False
    assert result.reason == "the answer follows context"


def test_rcr_asks_one_generation_and_two_scores_when_the_answer_has_logprobs() -> None:
    model = rcr_model()
    result = SituatedFaithfulness(model, mode="rcr").score(eiffel_observation())
    assert [kind_of(c.prompt) for c in model.calls] == ["closed_book"]
    assert [(kind_of(s.prompt), s.continuation) for s in model.scored] == [
        ("closed_book", " Gustave Eiffel"),
        ("null", " Gustave Eiffel"),
    ]
    assert result.cost.llm_calls == 3


def test_rcr_scores_the_answer_under_the_context_prompt_when_it_has_no_logprobs() -> (
    None
):
    model = rcr_model(internal_lp=-1.0)
    model.per_token["context"] = math.log(0.5)
    obs = make_observation("Gustave Eiffel", QUESTION, contexts=[TRUE_DOC])
    result = SituatedFaithfulness(model, mode="rcr").score(obs)
    assert kind_of(model.scored[0].prompt) == "context"
    assert result.confidence == pytest.approx(0.5 * SIGMOID_1)


def test_rcr_is_skipped_when_the_answer_confidence_cannot_be_had() -> None:
    model = GenerateOnly(rcr_model())
    obs = make_observation("Gustave Eiffel", QUESTION, contexts=[TRUE_DOC])
    result = SituatedFaithfulness(model, mode="rcr").score(obs)
    assert result.status is SignalStatus.SKIPPED
    assert "no logprobs" in (result.reason or "")


def test_rcr_without_a_scorer_uses_token_confidences_only() -> None:
    model = GenerateOnly(rcr_model(internal_lp=-1.0))
    result = SituatedFaithfulness(model, mode="rcr").score(eiffel_observation())
    assert result.confidence == pytest.approx(0.8)  # no trust factor
    assert result.details["context_trust"] is None


def test_rcr_reports_both_when_the_answers_agree_after_normalisation() -> None:
    model = rcr_model(closed_book=" gustave eiffel.", internal_lp=-0.05)
    result = SituatedFaithfulness(model, mode="rcr").score(eiffel_observation())
    assert result.details["suggested_source"] == "both"
    assert result.details["follows"] == "both"
    assert result.details["conflict"] is False
    assert result.confidence == pytest.approx(math.exp(-0.05))  # the surer source


def test_rcr_follows_the_context_when_the_closed_book_answer_is_empty() -> None:
    model = rcr_model(closed_book="\n")
    result = SituatedFaithfulness(model, mode="rcr").score(eiffel_observation())
    assert result.details["internal_answer"] is None
    assert result.details["suggested_source"] == "context"
    assert "no closed-book answer" in result.details["reasons"]


def test_rcr_generates_the_context_answer_when_none_is_given() -> None:
    model = rcr_model(internal_lp=-1.0)
    verdict = SituatedFaithfulness(model, mode="rcr").judge(QUESTION, [TRUE_DOC])
    assert (verdict.answer, verdict.source) == ("Gustave Eiffel", Source.CONTEXT)
    assert verdict.confidence == pytest.approx(math.exp(-1.0) * SIGMOID_1)
    assert verdict.cost.llm_calls == 4


def test_rcr_fails_when_the_model_gives_no_answer_from_the_context() -> None:
    model = ScoringFake({"context": " \n", "closed_book": " x"})
    verdict = SituatedFaithfulness(model, mode="rcr").judge(QUESTION, [TRUE_DOC])
    assert verdict.status is SignalStatus.FAILED
    assert verdict.reason == "the model gave no answer from the context"


# --- SCR ---------------------------------------------------------------------------

EXPLICIT_REPLY = (
    " Canberra\nThe document's answer: Sydney\n"
    "Confidence in my own answer: high. The document is deceptive: yes.\n"
    "Final answer: Canberra"
)


def last_token_sure(text: str) -> list[float]:
    """Every token at logprob -2 except the last (the final answer) at -0.2."""
    return [-2.0] * (len(fake_tokens(text)) - 1) + [-0.2]


def test_scr_explicit_parses_the_steps_and_scores_only_the_final_answer() -> None:
    model = ScoringFake({"scr_explicit": EXPLICIT_REPLY}, logprobs=last_token_sure)
    obs = make_observation(
        "Sydney", "what is the capital of australia?", contexts=[PLANTED_DOC]
    )
    result = SituatedFaithfulness(model, mode="scr_explicit").score(obs)
    assert result.raw == pytest.approx(math.exp(-0.2))
    assert result.confidence == pytest.approx(1 - math.exp(-0.2))
    assert result.details["suggested_answer"] == "Canberra"
    assert result.details["suggested_source"] == "internal"
    assert result.details["conflict"] is True
    assert "document deceptive: yes" in result.details["reasons"]
    assert model.calls[0].max_tokens == 64


def test_scr_explicit_flags_a_document_it_calls_deceptive_even_if_it_follows_it() -> (
    None
):
    reply = EXPLICIT_REPLY.replace("Final answer: Canberra", "Final answer: Sydney")
    model = ScoringFake({"scr_explicit": reply})
    verdict = SituatedFaithfulness(model, mode="scr_explicit").judge(
        "what is the capital of australia?", [PLANTED_DOC]
    )
    assert (verdict.answer, verdict.source, verdict.conflict) == (
        "Sydney",
        Source.CONTEXT,
        True,
    )
    assert "deceptive" in (verdict.conflict_detail or "")


def test_scr_explicit_fails_when_the_reply_is_cut_before_its_final_line() -> None:
    model = ScoringFake({"scr_explicit": EXPLICIT_REPLY})
    method = SCRExplicit(
        COMPLETION_PROMPTS.model_copy(update={"explicit_max_tokens": 5})
    )
    verdict = SituatedFaithfulness(model, mode=method).judge(QUESTION, [PLANTED_DOC])
    assert verdict.status is SignalStatus.FAILED
    assert "no final answer could be parsed" in (verdict.reason or "")
    assert "cut at max_tokens" in (verdict.reason or "")


def test_scr_implicit_answer_stated_by_the_context_follows_it() -> None:
    model = ScoringFake({"scr_implicit": " Gustave Eiffel"}, logprobs=-0.1)
    result = SituatedFaithfulness(model, mode="scr_implicit").score(
        eiffel_observation()
    )
    assert result.confidence == pytest.approx(math.exp(-0.1))
    assert result.details["follows"] == "context"
    assert result.details["conflict"] is False


def test_scr_implicit_answer_missing_from_the_context_is_internal_and_a_conflict() -> (
    None
):
    model = ScoringFake({"scr_implicit": " Canberra"})
    verdict = SituatedFaithfulness(model, mode="scr_implicit").judge(
        "what is the capital of australia?", [PLANTED_DOC]
    )
    assert (verdict.source, verdict.conflict) == (Source.INTERNAL, True)
    assert "does not state" in (verdict.conflict_detail or "")


def test_scr_implicit_fails_on_an_empty_reply() -> None:
    model = ScoringFake({"scr_implicit": "\nCanberra"})  # stops at the newline
    result = SituatedFaithfulness(model, mode="scr_implicit").score(
        eiffel_observation()
    )
    assert result.status is SignalStatus.FAILED
    assert result.reason == "no final answer could be parsed from the reply: ''"


def test_scr_without_logprobs_is_skipped() -> None:
    model = ScoringFake({"scr_implicit": " Gustave Eiffel"}, logprobs=None)
    result = SituatedFaithfulness(model, mode="scr_implicit").score(
        eiffel_observation()
    )
    assert result.status is SignalStatus.SKIPPED
    assert "no logprobs" in (result.reason or "")


def test_chat_prompts_parse_a_final_answer_line_from_a_free_reply() -> None:
    reply = (
        "My answer without the document: Canberra\nThe document's answer: Sydney\n"
        "Confidence in my own answer: high. The document is deceptive: yes.\n"
        "**Final answer:** Canberra"
    )
    model = FakeGenerator([reply], logprobs=-0.3)
    verdict = SituatedFaithfulness(
        model, mode="scr_explicit", prompts=CHAT_PROMPTS
    ).judge("what is the capital of australia?", [PLANTED_DOC])
    assert (verdict.answer, verdict.internal_answer) == ("Canberra", "Canberra")
    assert verdict.confidence == pytest.approx(math.exp(-0.3))
    assert model.calls[0].prompt.endswith(
        f"Document: {PLANTED_DOC}\nQuestion: what is the capital of australia?"
    )
    assert model.calls[0].max_tokens == 256


# --- the signal: bad input, parity, registry ---------------------------------------


def test_an_observation_without_contexts_is_skipped_without_calling_the_model() -> None:
    model = rcr_model()
    obs = make_observation("Paris", QUESTION, probs=[0.9], contexts=["  "])
    result = SituatedFaithfulness(model).score(obs)
    assert result.status is SignalStatus.SKIPPED
    assert result.reason == (
        "no contexts: situated faithfulness weighs an answer against its context"
    )
    assert model.call_count == 0


def test_an_answer_empty_after_normalisation_is_skipped() -> None:
    result = SituatedFaithfulness(rcr_model()).score(
        eiffel_observation(answer=" the. ")
    )
    assert result.status is SignalStatus.SKIPPED
    assert "empty after normalisation" in (result.reason or "")


def test_long_contexts_are_joined_and_cut_to_the_character_budget() -> None:
    model = ScoringFake({"scr_implicit": " Eiffel"})
    signal = SituatedFaithfulness(model, mode="scr_implicit", max_context_chars=20)
    signal.judge(QUESTION, ["The Eiffel Tower was", "designed by Eiffel."])
    assert "Document: The Eiffel Tower was\nQuestion:" in model.calls[0].prompt


async def test_ascore_gives_the_same_result_as_score() -> None:
    sync = SituatedFaithfulness(rcr_model(), mode="rcr").score(eiffel_observation())
    result = await SituatedFaithfulness(rcr_model(), mode="rcr").ascore(
        eiffel_observation()
    )
    assert result.confidence == pytest.approx(sync.confidence)
    assert result.details == sync.details
    assert result.cost.llm_calls == sync.cost.llm_calls == 3


async def test_ajudge_runs_a_sync_only_scorer_in_a_thread() -> None:
    class SyncScorer(BaseContinuationScorer, GenerateOnly):
        def score_continuation(
            self, request: ScoringRequest
        ) -> tuple[TokenLogprob, ...]:
            return self.inner.score_continuation(request)

    model = SyncScorer(rcr_model(internal_lp=-1.0))
    verdict = await SituatedFaithfulness(model).ajudge(
        QUESTION, [TRUE_DOC], "Gustave Eiffel", eiffel_observation().logprobs
    )
    assert verdict.confidence == pytest.approx(0.8 * SIGMOID_1)


def test_a_generator_error_becomes_a_failed_result() -> None:
    def broken(prompt: str) -> str:
        raise RuntimeError("model crashed")

    result = SituatedFaithfulness(FakeGenerator(broken)).score(eiffel_observation())
    assert result.status is SignalStatus.FAILED
    assert result.reason == "RuntimeError: model crashed"


async def test_a_generator_error_in_ascore_becomes_a_failed_result() -> None:
    def broken(prompt: str) -> str:
        raise RuntimeError("model crashed")

    result = await SituatedFaithfulness(FakeGenerator(broken)).ascore(
        eiffel_observation()
    )
    assert result.status is SignalStatus.FAILED
    assert result.reason == "RuntimeError: model crashed"


def test_modes_are_named_and_an_unknown_mode_names_the_known_ones() -> None:
    names = {
        m: SituatedFaithfulness(FakeGenerator(), mode=m).name
        for m in ("rcr", "scr_implicit", "scr_explicit")
    }
    assert names == {
        "rcr": "situated_rcr",
        "scr_implicit": "situated_scr_implicit",
        "scr_explicit": "situated_scr_explicit",
    }
    with pytest.raises(
        UnknownComponentError, match="known: rcr, scr_explicit, scr_implicit"
    ):
        SituatedFaithfulness(FakeGenerator(), mode="vibes")


@pytest.mark.parametrize("mode", ["rcr", "scr_implicit", "scr_explicit"])
def test_a_mode_named_by_the_registry_gets_the_signals_prompts(mode: str) -> None:
    signal = SituatedFaithfulness(FakeGenerator(), mode=mode, prompts=CHAT_PROMPTS)
    assert signal.method.prompts is CHAT_PROMPTS  # type: ignore[attr-defined]


def test_a_configured_method_object_is_used_as_given() -> None:
    rule = TrustThreshold(min_trust=0.9, min_internal=0.5)
    model = rcr_model(internal_lp=-0.5)
    signal = SituatedFaithfulness(model, mode=RCR(rule=rule), name="sf")
    result = signal.score(eiffel_observation())
    assert signal.name == "sf" and signal.cost.llm_calls == 4
    assert result.details["suggested_source"] == "internal"  # trust 0.73 < 0.9


# --- the real Gemma 3 270M (slow) ---------------------------------------------------

PLAY = "who wrote the play romeo and juliet?"
PLAY_DOC = "Romeo and Juliet is a tragedy written by {} early in the author's career."


@pytest.mark.slow
def test_gemma_trusts_the_true_author_and_distrusts_an_implausible_plant() -> None:
    from confguard.llm.local import default_generator

    signal = SituatedFaithfulness(default_generator(), mode="rcr")
    trust = {
        author: signal.judge(PLAY, [PLAY_DOC.format(author)], author).context_trust
        for author in ("William Shakespeare", "Serena Williams")
    }
    assert (trust["William Shakespeare"] or 0.0) > 0.5  # measured 0.99
    assert (trust["Serena Williams"] or 1.0) < 0.5  # measured 0.03
