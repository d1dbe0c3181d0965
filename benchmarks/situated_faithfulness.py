"""Benchmark: situated faithfulness of direct augmentation, RCR, SCR implicit/explicit.

Each knowledge-conflict item (JSONL: question, factual_context, counterfactual_context,
original_answer, context_answer) is asked twice, once with the true and once with the
swapped context; the right answer is always `original_answer`. An answer is right when
its SQuAD token F1 against `original_answer` is at least 0.5, and follows the false
context when its token F1 against `context_answer` is at least 0.5.

Per method: accuracy with the true context, with the false one, SF (their mean), the
false context's follow-rate, the AUROC of the method's confidence for right vs wrong
answers, and the "flag" AUROC: right answers from the true context vs answers that
follow the false context (both are faithful to their document; only one is right).
Direct augmentation is the 2-shot Context/Question/Answer prompt; its confidence is the
answer's geometric-mean token probability. RCR judges the direct answer. Contexts are
cut to 1,500 characters (head kept, word boundary): the answer is lost in 0.5% of the
file's items.

Calls are grouped by method, so llama.cpp reuses each prompt family's few-shot prefix;
greedy decoding is deterministic, so identical calls are answered once.

    python benchmarks/situated_faithfulness.py \\
        --data ../shared/data/knowledge_conflicts_dev.jsonl --limit 300 --seed 0

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from confguard.evaluation.metrics import auroc
from confguard.llm.base import (
    BaseContinuationScorer,
    BaseGenerator,
    Completion,
    GenerationRequest,
    Generator,
    ModelRequest,
    ScoringRequest,
)
from confguard.llm.local import LocalGenerator
from confguard.observation import TokenLogprob
from confguard.signals.faithfulness import (
    COMPLETION_PROMPTS,
    SituatedFaithfulness,
    SituatedVerdict,
)
from confguard.text import token_f1

METHODS = ("direct", "rcr", "scr_implicit", "scr_explicit")
SIDES = ("true", "false")


class Item(BaseModel):
    """One knowledge-conflict question."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    question: str
    factual_context: str
    counterfactual_context: str
    original_answer: str
    context_answer: str

    def context(self, side: str) -> str:
        """The true or the swapped passage."""
        return self.factual_context if side == "true" else self.counterfactual_context


class Answer(BaseModel):
    """One method's answer to one item under one context."""

    model_config = ConfigDict(frozen=True)

    method: str
    item: str
    side: str
    answer: str
    confidence: float
    status: str
    correct: bool
    follows: bool
    conflict: bool = False
    source: str | None = None


class Memo(BaseGenerator, BaseContinuationScorer):
    """Answers identical greedy calls once (the closed-book prompt repeats per side)."""

    def __init__(self, inner: LocalGenerator) -> None:
        self.inner, self.name = inner, inner.name
        self._done: dict[ModelRequest, Any] = {}

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """`generate`, memoised on the whole request."""
        if request not in self._done:
            self._done[request] = self.inner.generate(request)
        result: tuple[Completion, ...] = self._done[request]
        return result

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        """`score_continuation`, memoised."""
        if request not in self._done:
            self._done[request] = self.inner.score_continuation(request)
        result: tuple[TokenLogprob, ...] = self._done[request]
        return result


def load_items(path: Path, limit: int, seed: int) -> list[Item]:
    """A seeded random sample of `limit` items."""
    with path.open(encoding="utf-8") as handle:
        items = [Item.model_validate_json(line) for line in handle if line.strip()]
    random.Random(seed).shuffle(items)
    return items[:limit]


def right(answer: str, gold: str) -> bool:
    """Token F1 of at least 0.5 against one gold answer."""
    return bool(answer.strip()) and token_f1(answer, [gold]) >= 0.5


def graded(method: str, item: Item, side: str, verdict: SituatedVerdict) -> Answer:
    """A verdict as a graded answer (no answer: empty, confidence 0)."""
    answer = verdict.answer if verdict.ok and verdict.answer else ""
    return Answer(
        method=method,
        item=item.id,
        side=side,
        answer=answer,
        confidence=verdict.confidence if verdict.ok and verdict.confidence else 0.0,
        status=verdict.status.value,
        correct=right(answer, item.original_answer),
        follows=side == "false" and right(answer, item.context_answer),
        conflict=verdict.conflict,
        source=verdict.source.value if verdict.source else None,
    )


def direct(
    generator: Generator, item: Item, side: str, chars: int
) -> tuple[Answer, Completion]:
    """The 2-shot completion prompt with the context, greedy, one line."""
    signal = SituatedFaithfulness(generator, max_context_chars=chars)
    context = signal.context_of([item.context(side)])
    p = COMPLETION_PROMPTS
    prompt = p.render("context", question=item.question, context=context)
    request = GenerationRequest(
        prompt=prompt, max_tokens=p.answer_max_tokens, stop=tuple(p.answer_stop)
    )
    [c] = generator.generate(request)
    tokens = c.logprobs or ()
    mean = sum(t.logprob for t in tokens) / len(tokens) if tokens else None
    answer = c.text.strip()
    return Answer(
        method="direct",
        item=item.id,
        side=side,
        answer=answer,
        confidence=0.0 if mean is None else math.exp(mean),
        status="ok",
        correct=right(answer, item.original_answer),
        follows=side == "false" and right(answer, item.context_answer),
        source="context",
    ), c


def progress(label: str, total: int) -> Callable[[int], None]:
    """A printer of done/total and seconds per answer, every 25 answers."""
    start = time.perf_counter()

    def tick(done: int) -> None:
        if done % 25 == 0 or done == total:
            per = (time.perf_counter() - start) / max(done, 1)
            print(f"  {label}: {done}/{total}  {per:.2f} s/answer", flush=True)

    return tick


def pairs(items: Sequence[Item]) -> Iterator[tuple[Item, str]]:
    """Every item with each of its two contexts."""
    for item in items:
        for side in SIDES:
            yield item, side


def run_direct(
    generator: Generator, items: Sequence[Item], chars: int
) -> tuple[list[Answer], dict[tuple[str, str], Completion]]:
    """Direct augmentation for every item and side; keeps the completions for RCR."""
    answers, completions = [], {}
    tick = progress("direct", 2 * len(items))
    for done, (item, side) in enumerate(pairs(items), 1):
        answer, completion = direct(generator, item, side, chars)
        answers.append(answer)
        completions[item.id, side] = completion
        tick(done)
    return answers, completions


def run_method(
    signal: SituatedFaithfulness,
    items: Sequence[Item],
    given: dict[tuple[str, str], Completion] | None = None,
) -> list[Answer]:
    """One situated-faithfulness method for every item and side."""
    answers = []
    tick = progress(signal.method.name, 2 * len(items))
    for done, (item, side) in enumerate(pairs(items), 1):
        c = None if given is None else given[item.id, side]
        verdict = signal.judge(
            item.question,
            [item.context(side)],
            None if c is None else c.text.strip(),
            None if c is None else c.logprobs,
        )
        answers.append(graded(signal.method.name, item, side, verdict))
        tick(done)
    return answers


class Summary(BaseModel):
    """One method's figures."""

    model_config = ConfigDict(frozen=True)

    method: str
    acc_true: float
    acc_false: float
    sf: float
    follow_rate: float
    auroc: float | None
    flag_auroc: float | None
    conflict_true: float
    conflict_false: float
    unanswered: int
    seconds_per_answer: float


def _mean(values: Sequence[bool]) -> float:
    return sum(values) / len(values) if values else 0.0


def _flag_auroc(answers: Sequence[Answer]) -> float | None:
    """AUROC of right answers from a true context vs answers following a false one."""
    faithful = [a for a in answers if (a.side == "true" and a.correct) or a.follows]
    return auroc([a.confidence for a in faithful], [a.side == "true" for a in faithful])


def summarize(method: str, answers: Sequence[Answer], seconds: float) -> Summary:
    """Accuracy per side, SF, follow-rate, AUROCs and conflict rates of one method."""
    by_side = {s: [a for a in answers if a.side == s] for s in SIDES}
    acc = {s: _mean([a.correct for a in by_side[s]]) for s in SIDES}
    return Summary(
        method=method,
        acc_true=acc["true"],
        acc_false=acc["false"],
        sf=(acc["true"] + acc["false"]) / 2,
        follow_rate=_mean([a.follows for a in by_side["false"]]),
        auroc=auroc([a.confidence for a in answers], [a.correct for a in answers]),
        flag_auroc=_flag_auroc(answers),
        conflict_true=_mean([a.conflict for a in by_side["true"]]),
        conflict_false=_mean([a.conflict for a in by_side["false"]]),
        unanswered=sum(a.status != "ok" for a in answers),
        seconds_per_answer=seconds / max(len(answers), 1),
    )


def table(summaries: Sequence[Summary]) -> str:
    """The results as a fixed-width table."""
    head = (
        f"{'method':<13}{'acc true':>9}{'acc false':>10}{'SF':>7}{'follow':>8}"
        f"{'AUROC':>7}{'flag':>7}{'confl T':>8}{'confl F':>8}{'no ans':>7}{'s/ans':>7}"
    )
    rows = [head, "-" * len(head)]
    for s in summaries:
        rows.append(
            f"{s.method:<13}{s.acc_true:>9.3f}{s.acc_false:>10.3f}{s.sf:>7.3f}"
            f"{s.follow_rate:>8.3f}{_f(s.auroc):>7}{_f(s.flag_auroc):>7}"
            f"{s.conflict_true:>8.3f}{s.conflict_false:>8.3f}{s.unanswered:>7}"
            f"{s.seconds_per_answer:>7.2f}"
        )
    return "\n".join(rows)


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def headline(n: int, s: dict[str, Summary]) -> dict[str, Any]:
    """The JSON object printed last."""
    return {
        "n": n,
        "direct_sf": round(s["direct"].sf, 4),
        "rcr_sf": round(s["rcr"].sf, 4),
        "scr_implicit_sf": round(s["scr_implicit"].sf, 4),
        "scr_explicit_sf": round(s["scr_explicit"].sf, 4),
        "direct_follow_rate": round(s["direct"].follow_rate, 4),
        "rcr_follow_rate": round(s["rcr"].follow_rate, 4),
        "rcr_auroc": None if s["rcr"].auroc is None else round(s["rcr"].auroc, 4),
        "direct_auroc": None
        if s["direct"].auroc is None
        else round(s["direct"].auroc, 4),
        "rcr_flag_auroc": _round(s["rcr"].flag_auroc),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run every method on a seeded sample and print the table and the JSON line."""
    args = _parser().parse_args(argv)
    items = load_items(Path(args.data), args.limit, args.seed)
    generator = Memo(LocalGenerator(n_threads=args.n_threads))
    print(f"{len(items)} items x 2 contexts, seed {args.seed}", flush=True)
    answers: dict[str, list[Answer]] = {}
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    answers["direct"], given = run_direct(generator, items, args.max_context_chars)
    seconds["direct"] = time.perf_counter() - start
    for mode in METHODS[1:]:
        signal = SituatedFaithfulness(
            generator, mode=mode, max_context_chars=args.max_context_chars
        )
        start = time.perf_counter()
        answers[mode] = run_method(signal, items, given if mode == "rcr" else None)
        seconds[mode] = time.perf_counter() - start
    summaries = {m: summarize(m, answers[m], seconds[m]) for m in METHODS}
    _write_records(args.records, answers)
    print(table(list(summaries.values())))
    result = headline(len(items), summaries)
    print(json.dumps(result))
    return result


def _write_records(path: str | None, answers: dict[str, list[Answer]]) -> None:
    if not path:
        return
    with Path(path).open("w", encoding="utf-8") as handle:
        for rows in answers.values():
            for answer in rows:
                handle.write(answer.model_dump_json() + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="knowledge-conflict JSONL")
    parser.add_argument("--limit", type=int, default=300, help="items to sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-context-chars", type=int, default=1500)
    parser.add_argument("--n-threads", type=int, default=1)
    parser.add_argument("--records", help="write every graded answer to this JSONL")
    return parser


if __name__ == "__main__":
    main()
