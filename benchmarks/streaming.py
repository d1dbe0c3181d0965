"""Benchmark: time to the first gated sentence against the first ungated one.

The embedded Gemma 3 270M answers SQuAD questions (the packaged demo corpus) in a
few sentences, streamed token by token. Ungated, the first sentence is out when
the model has produced its last character; gated (`Guard.stream`), when the
guard has seen the next sentence begin, scored the first as a claim (its own
tokens' confidence and its best context sentence by MiniLM cosine) and released
it. Each prompt runs once to warm llama.cpp's prompt cache, then ungated, then
gated (greedy decoding: the same tokens both times). Also counted: sentences of
failing claims (redacted or gating) that reached the output, which must be 0.

    python benchmarks/streaming.py --questions 20

`--fake` streams scripted answers with a fixed delay per token on fakes, to check
the plumbing; its figures mean nothing.

The last line printed is one JSON object:
{"first_sentence_ungated_s", "first_sentence_gated_s", "ratio",
 "failed_sentences_released"}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from confguard import Guard, Policy
from confguard.claims import ClaimContextSupport, ClaimScorer, ClaimTokenConfidence
from confguard.claims.split import SentenceSplitter
from confguard.embeddings.base import Embedder
from confguard.observation import Context, TokenLogprob
from confguard.results import GuardResult
from confguard.signals import AverageLogprob
from confguard.streaming import TokenStream
from confguard.testing.generators import fake_tokens

CORPUS = Path(__file__).resolve().parents[1] / "confguard" / "data" / "demo_corpus.json"
SHOT = (
    "Context: Super Bowl 50 was an American football game to determine the champion "
    "of the National Football League (NFL) for the 2015 season. The American Football "
    "Conference (AFC) champion Denver Broncos defeated the National Football "
    "Conference (NFC) champion Carolina Panthers 24-10 to earn their third Super "
    "Bowl title.\nQuestion: Who won Super Bowl 50?\nAnswer: The Denver Broncos won "
    "Super Bowl 50. They defeated the Carolina Panthers 24-10 for their third Super "
    "Bowl title.\n\n"
)
STOPS = ("\n\n", "\nContext:", "\nQuestion:")
MAX_TOKENS = 96
Stream = Callable[[str], Iterator[TokenLogprob]]


def questions(limit: int) -> list[tuple[str, str]]:
    """(context, question) pairs: each demo paragraph's first question."""
    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))
    pairs = [(p["context"], p["qas"][0]["question"]) for p in corpus["paragraphs"]]
    return pairs[1 : limit + 1]  # the first paragraph is the shot's


def prompt(context: str, question: str) -> str:
    """The one-shot prompt asking for a few sentences."""
    return f"{SHOT}Context: {context}\nQuestion: {question}\nAnswer:"


def local_stream(generator: Any) -> Stream:
    """Token-by-token greedy decoding on the local model (LocalGenerator has no
    streaming call; this drives its llama.cpp context the way `generate` does),
    cut before the first stop string."""

    def stream(text: str) -> Iterator[TokenLogprob]:
        return before_stops(_decoded(generator, text), STOPS)

    return stream


def _decoded(generator: Any, text: str) -> Iterator[TokenLogprob]:
    """Every token the model chooses, as it chooses it, until end of generation."""
    from confguard.llm import _logits
    from confguard.llm.base import GenerationRequest

    request = GenerationRequest(prompt=text, max_tokens=MAX_TOKENS)
    with generator._lock:  # held while the stream is read; released on close
        llm = generator._load()
        ids = generator._tokenize(text, bos=True)
        generator._check_fits(len(ids), MAX_TOKENS)
        logits = generator._feed(llm, ids)
        llm.n_tokens = len(ids)
        buffer, token = _logits.TextBuffer(()), None
        for _ in range(MAX_TOKENS):
            if token is not None:
                logits = generator._advance(llm, token)
            token = generator._choose(logits, request, None)
            if generator._is_eog(token):
                return
            step = _logits.score_step(logits, token, request.top_k)
            buffer.add(generator._piece(token, special=False))
            piece = buffer.pieces[-1]
            alternatives = generator._alternatives(step, piece)
            yield TokenLogprob(
                token=piece, logprob=step.logprob, top_logprobs=alternatives
            )


def before_stops(
    tokens: Iterator[TokenLogprob], stops: Sequence[str]
) -> Iterator[TokenLogprob]:
    """The tokens up to the first stop string, cut inside a token if need be; a
    token that might begin a stop string waits until it is known not to."""
    held: list[TokenLogprob] = []
    text = ""
    try:
        for token in tokens:
            held.append(token)
            text += token.token
            found = [text.find(s) for s in stops if s in text]
            if found:
                yield from _cut(
                    held, len(text) - sum(len(t.token) for t in held), min(found)
                )
                return
            safe = len(text) - _stop_prefix(text, stops)
            while held and len(text) - sum(len(t.token) for t in held[1:]) <= safe:
                yield held.pop(0)
        yield from held
    finally:
        getattr(tokens, "close", lambda: None)()  # stop decoding


def _stop_prefix(text: str, stops: Sequence[str]) -> int:
    """The longest end of `text` that begins some stop string."""
    return max(
        (k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0
    )


def _cut(held: list[TokenLogprob], start: int, at: int) -> Iterator[TokenLogprob]:
    """The held tokens (the first at character `start`) cut before character `at`."""
    for token in held:
        end = start + len(token.token)
        if start >= at:
            return
        piece = token.token[: at - start] if end > at else token.token
        yield (
            token if piece == token.token else token.model_copy(update={"token": piece})
        )
        start = end


def fake_stream(delay: float) -> Stream:
    """Scripted answers, one with an unsupported second sentence, `delay` s/token."""

    def stream(text: str) -> Iterator[TokenLogprob]:
        question = text.rsplit("Question: ", 1)[-1]
        answer = (
            " The answer is in the passage. The moon is made of green cheese."
            if len(question) % 2
            else " The passage answers it. It says so in the first sentence."
        )
        for piece in fake_tokens(answer):
            time.sleep(delay)
            yield TokenLogprob(token=piece, logprob=-0.1)

    return stream


def ungated(stream: Stream, text: str) -> tuple[float, str]:
    """Seconds until the raw stream's first sentence is complete, and the text."""
    start, marks, out = time.perf_counter(), [], ""
    for piece in stream(text):
        out += piece.token
        marks.append((time.perf_counter() - start, len(out)))
    spans = SentenceSplitter().spans(out)
    first_end = spans[0][1] if spans else len(out)
    return next(
        (t for t, n in marks if n >= first_end), marks[-1][0] if marks else 0.0
    ), out


def gated(
    guard: Guard, stream: Stream, text: str, context: str, question: str
) -> tuple[float, str, GuardResult]:
    """Seconds until the gate released its first sentence (or its note), the
    released text, and the guard's result."""
    start, marks, out = time.perf_counter(), [], ""
    source = TokenStream(tokens=stream(text), contexts=(Context(text=context),))
    released = guard.stream(source, question)
    for chunk in released:
        out += chunk
        marks.append((time.perf_counter() - start, out))
    result = released.result
    assert result is not None
    note = guard.policy.claims.redaction if guard.policy.claims else ""
    return _first_release(marks, result, note), out, result


def _first_release(
    marks: list[tuple[float, str]], result: GuardResult, note: str
) -> float:
    report = result.claims
    if not marks:
        return 0.0
    if report is None or not report.decisions:
        return marks[0][0]
    first, decision = report.claims[0].claim, report.decisions[0]
    if decision.action == "gate":
        return marks[0][0]
    target = first.text if decision.action in ("keep", "flag") else note
    return next((t for t, text in marks if target in text), marks[-1][0])


def failed_released(result: GuardResult, out: str) -> int:
    """Sentences of failing claims whose text is in what the caller was given."""
    report = result.claims
    if report is None:
        return 0
    return sum(
        a.claim.text in out
        for a, d in zip(report.claims, report.decisions, strict=True)
        if d.action in ("redact", "gate")
    )


def make_guard(embedder: Embedder) -> Guard:
    """Claims gated on their own tokens' confidence and their context support."""
    policy = Policy.from_dict(
        {
            "thresholds": {"accept": 0.5},
            "claims": {"keep": 0.5, "flag": 0.3, "min_kept": 0.0},
        }
    )
    scorer = ClaimScorer([ClaimTokenConfidence(), ClaimContextSupport(embedder)])
    return Guard([AverageLogprob()], policy, claims=scorer)


def setup(fake: bool, n_threads: int, delay: float) -> tuple[Stream, Embedder]:
    """The token stream and the embedder: the embedded defaults, or fakes."""
    if fake:
        from confguard.testing import FakeEmbedder

        return fake_stream(delay), FakeEmbedder(dim=256)
    from confguard.embeddings.local import get_embedder
    from confguard.llm.local import LocalGenerator

    embedder = get_embedder("minilm")
    embedder.embed_query("warm up")  # loading is not part of the measure
    return local_stream(LocalGenerator(n_threads=n_threads)), embedder


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--n-threads", type=int, default=1)
    parser.add_argument("--fake", action="store_true", help="fakes, not the models")
    parser.add_argument("--delay", type=float, default=0.005, help="--fake: s/token")
    args = parser.parse_args(argv)
    stream, embedder = setup(args.fake, args.n_threads, args.delay)
    with make_guard(embedder) as guard:
        _warm(guard)
        rows = [_measure(guard, stream, c, q) for c, q in questions(args.questions)]
    raw = statistics.mean(r["ungated"] for r in rows)
    gate = statistics.mean(r["gated"] for r in rows)
    for r in rows:
        print(f"  {r['ungated']:.3f} s -> {r['gated']:.3f} s  {r['question'][:60]}")
    headline = {
        "first_sentence_ungated_s": raw,
        "first_sentence_gated_s": gate,
        "ratio": gate / raw if raw else None,
        "failed_sentences_released": sum(r["leaked"] for r in rows),
    }
    print(json.dumps(headline))
    return headline


def _warm(guard: Guard) -> None:
    """One gated stream first: the segmenter and the worker threads start here."""
    source = TokenStream(
        tokens=fake_tokens("Warm up. Now."), contexts=(Context(text="Warm."),)
    )
    "".join(guard.stream(source, "Warm up?"))


def _measure(
    guard: Guard, stream: Stream, context: str, question: str
) -> dict[str, Any]:
    text = prompt(context, question)
    for _ in stream(text):  # warm the prompt cache
        pass
    raw, _ = ungated(stream, text)
    gate, out, result = gated(guard, stream, text, context, question)
    return {
        "question": question,
        "ungated": raw,
        "gated": gate,
        "leaked": failed_released(result, out),
    }


if __name__ == "__main__":
    main(sys.argv[1:])
