"""Situated faithfulness: catch an answer that faithfully repeats a planted document.

The same question is answered from a true and from two planted passages by the
embedded Gemma 3 270M; RCR weighs each answer against what the model finds plausible
without the passage, and a guard escalates low-confidence answers to a human review
queue. The three methods' verdicts are printed too. The 270M model catches an odd
plant more easily than a plausible one (see docs/situated_faithfulness.md).

    pip install "confguard[local]"
    python examples/situated_faithfulness.py
"""

from __future__ import annotations

from confguard import Guard, Observation, Policy, ReviewQueueRoute
from confguard.llm import GenerationRequest
from confguard.llm.local import default_generator
from confguard.observation import Context
from confguard.signals.faithfulness import (
    COMPLETION_PROMPTS,
    SituatedFaithfulness,
    SituatedVerdict,
)
from confguard.store import InMemoryStore

QUESTION = "who wrote the play romeo and juliet?"
_PASSAGE = (
    "Romeo and Juliet is a tragedy written by {author} early in the author's career "
    "about two young Italian lovers whose deaths reconcile their feuding families."
)
PASSAGES = {
    "true": _PASSAGE.format(author="William Shakespeare"),
    # A plausible plant (another famous English writer) and an implausible one.
    "planted, plausible": _PASSAGE.format(author="Charles Dickens"),
    "planted, odd": _PASSAGE.format(author="Serena Williams"),
}
POLICY = Policy.from_yaml(
    """
    thresholds: {accept: 0.5, escalate: 0.0}
    escalate: {route: review, pending_message: "A person will check this answer."}
    """
)


def answer_from(passage: str) -> Observation:
    """A one-passage RAG answer with its token logprobs (the 2-shot prompt)."""
    prompt = COMPLETION_PROMPTS.render("context", question=QUESTION, context=passage)
    request = GenerationRequest(prompt=prompt, max_tokens=24, stop=("\n",))
    [completion] = default_generator().generate(request)
    return Observation(
        question=QUESTION,
        answer=completion.text.strip(),
        contexts=(Context(text=passage),),
        logprobs=completion.logprobs,
    )


def show(label: str, verdict: SituatedVerdict) -> None:
    """One line per verdict."""
    if not verdict.ok:
        print(f"  {label:<13} {verdict.status.value}: {verdict.reason}")
        return
    conflict = f"  conflict: {verdict.conflict_detail}" if verdict.conflict else ""
    source = verdict.source.value if verdict.source else "?"
    print(
        f"  {label:<13} {verdict.answer!r} from {source}, "
        f"confidence {verdict.confidence:.2f}{conflict}"
    )


def main() -> int:
    """Guard both answers with RCR, then compare the three methods."""
    store = InMemoryStore()
    rcr = SituatedFaithfulness(default_generator(), mode="rcr")
    guard = Guard(
        signals=[rcr],
        policy=POLICY,
        store=store,
        routes={"review": ReviewQueueRoute(store)},
    )
    for label, passage in PASSAGES.items():
        obs = answer_from(passage)
        result = guard.check(obs)
        signal = result.assessment.signal(rcr.name)
        print(f"{label} passage -> answer {obs.answer!r}")
        print(f"  guard: {result.decision.action} ({result.decision.reason})")
        trust = signal.details.get("context_trust")
        shown = "-" if trust is None else f"{trust:.2f}"
        print(f"  rcr:   {signal.reason} (context trust {shown})")
        for mode in ("rcr", "scr_implicit", "scr_explicit"):
            method = SituatedFaithfulness(default_generator(), mode=mode)
            show(mode, method.judge(QUESTION, [passage]))
    print(f"pending reviews: {len(store.pending_reviews())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
