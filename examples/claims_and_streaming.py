"""Claim-level confidence and sentence-by-sentence gating of a stream.

Runs offline on fakes by default (a scripted answer, the hashing embedder):

    python examples/claims_and_streaming.py

and on the embedded defaults (Gemma 3 270M teacher-forces each claim with and
without the passage; MiniLM finds its best passage sentence) with a flag:

    python examples/claims_and_streaming.py --embedded

1. `Guard.check` scores each sentence of a long answer as a claim and redacts
   the one the passage does not support.
2. `Guard.stream` releases a token stream a sentence at a time: each sentence
   only once it passed; the unsupported one never reaches the reader.
"""

from __future__ import annotations

import argparse

from confguard import Guard, Policy
from confguard.claims import (
    ClaimContextLift,
    ClaimContextSupport,
    ClaimLexicalSupport,
    ClaimQuestionLift,
    ClaimQuestionRelevance,
    ClaimScorer,
    ClaimSignal,
)
from confguard.observation import Context, Observation, TokenLogprob
from confguard.signals import AnswerSupport
from confguard.streaming import TokenStream
from confguard.testing import FakeEmbedder
from confguard.testing.generators import fake_tokens

PASSAGE = (
    "Super Bowl 50 was played on February 7, 2016, at Levi's Stadium in Santa "
    "Clara, California. The Denver Broncos defeated the Carolina Panthers 24-10."
)
QUESTION = "Who won Super Bowl 50, and where was it played?"
ANSWER = (
    "The Denver Broncos won Super Bowl 50. The halftime show was sung by Elvis. "
    "It was played at Levi's Stadium in Santa Clara."
)
POLICY = """
thresholds: {accept: 0.5}
claims: {keep: 0.5, flag: 0.35, min_kept: 0.5}
"""


def claim_signals(embedded: bool) -> list[ClaimSignal]:
    """The claim signals: the embedded models, or fakes."""
    if not embedded:
        return [ClaimContextSupport(FakeEmbedder(dim=256)), ClaimLexicalSupport()]
    from confguard.embeddings.local import get_embedder
    from confguard.llm.local import LocalGenerator

    model, minilm = LocalGenerator(), get_embedder("minilm")
    return [
        ClaimContextLift(model),
        ClaimContextSupport(minilm),
        ClaimQuestionLift(model),
        ClaimQuestionRelevance(minilm),
    ]


def check(guard: Guard) -> None:
    """One answer checked claim by claim."""
    obs = Observation(
        question=QUESTION, answer=ANSWER, contexts=(Context(text=PASSAGE),)
    )
    result = guard.check(obs)
    assert result.claims is not None
    for claim, decision in zip(
        result.claims.claims, result.claims.decisions, strict=True
    ):
        print(f"  {decision.action:<6} {claim.confidence:.2f}  {claim.claim.text}")
    print(f"answer given: {result.answer}")


def stream(guard: Guard) -> None:
    """The same answer as a token stream, gated a sentence at a time."""
    tokens = [TokenLogprob(token=t, logprob=-0.05) for t in fake_tokens(ANSWER)]
    source = TokenStream(tokens=tokens, contexts=(Context(text=PASSAGE),))
    gated = guard.stream(source, QUESTION)
    print("streamed:", end=" ")
    for chunk in gated:
        print(chunk, end="|", flush=True)
    print()
    assert gated.result is not None
    removed = (
        [d.reason for d in gated.result.claims.removed] if gated.result.claims else []
    )
    print(f"stream decision: {gated.result.decision.action}; removed: {removed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedded", action="store_true", help="use the local models")
    args = parser.parse_args()
    scorer = ClaimScorer(claim_signals(args.embedded))
    with Guard([AnswerSupport()], Policy.from_yaml(POLICY), claims=scorer) as guard:
        print("1. claims of one answer")
        check(guard)
        print("2. a stream, sentence by sentence")
        stream(guard)


if __name__ == "__main__":
    main()
