"""Stage 1 of the side-by-side: replay confguard's answers and save them to JSONL.

Runs in confguard's own venv. For each question of the presets' seeded sample
(`scripts/preset_data.py`), the preset pipeline's answer is replayed from the call
record `scripts/preset_calls.py` wrote — the balanced preset's selected candidate
with retrieval, the given-context answer for knowledge conflicts — with its token
logprobs (top-5 alternatives), the presets' K=5 seeded samples and their logprobs,
the label (token F1 >= 0.5) and confguard's scores: each preset guard's final
confidence and every single signal, each with the model calls and seconds it cost.
The peer (`score_uqlm.py`) then scores exactly these answers.

No model is ever loaded: the recorded generator sits over a model that raises, so
a request missing from the record fails loudly instead of running Gemma.

    python benchmarks/peers/export.py --data ../shared/data/squad_dev_v1.1.json \\
        --contexts retrieve --limit 400 --seed 0 --out .confguard/peers/squad.jsonl
    python benchmarks/peers/export.py \\
        --data ../shared/data/knowledge_conflicts_dev.jsonl --contexts given \\
        --limit 200 --seed 0 --out .confguard/peers/conflicts.jsonl

`--stand-in` scores with the demo's cheap signals under the demo policy instead
of the presets (for building before the preset files exist).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from preset_data import (  # noqa: E402
    DEFAULT_EMBEDDERS,
    dataset_spec,
    group_of,
    load_items,
    sampler,
    split_of,
)
from preset_features import cheap_signals  # noqa: E402

from confguard.config import load  # noqa: E402
from confguard.defaults import demo_policy, demo_signals  # noqa: E402
from confguard.embeddings import get_embedder  # noqa: E402
from confguard.evaluation import grade, load_dataset  # noqa: E402
from confguard.evaluation.datasets import Dataset, EvalItem  # noqa: E402
from confguard.evaluation.runner import GivenContexts  # noqa: E402
from confguard.guard import Guard  # noqa: E402
from confguard.llm.base import (  # noqa: E402
    BaseContinuationScorer,
    BaseGenerator,
    Completion,
    GenerationRequest,
    ScoringRequest,
)
from confguard.llm.local import MODEL_NAME  # noqa: E402
from confguard.llm.plans import run_plan  # noqa: E402
from confguard.llm.recorded import RecordedGenerator, recorded  # noqa: E402
from confguard.observation import Observation, TokenLogprob  # noqa: E402
from confguard.presets import PRESETS, preset_guard  # noqa: E402
from confguard.presets.build import build_pipeline  # noqa: E402
from confguard.rag import ConfidentRAGPipeline, EmbeddingIndex  # noqa: E402
from confguard.routes import ReviewQueueRoute  # noqa: E402
from confguard.signals.base import Signal  # noqa: E402
from confguard.signals.consistency import (  # noqa: E402
    Deg,
    Ecc,
    EigV,
    NumSet,
    PerplexityConsistency,
    SelfConsistency,
    default_similarity,
    rag_prompt,
)
from confguard.signals.faithfulness import SituatedFaithfulness  # noqa: E402
from confguard.store import InMemoryStore  # noqa: E402

CONSISTENCY_KINDS = (NumSet, Deg, Ecc, EigV, SelfConsistency, PerplexityConsistency)


class RecordMiss(LookupError):
    """A request the call record does not hold (replaying it would run the model)."""


class NoModel(BaseGenerator, BaseContinuationScorer):
    """Stands where Gemma would: any request that reaches it is a record miss."""

    name = MODEL_NAME  # what the recorded run's generator was called

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """Refuse: the record should have answered."""
        raise RecordMiss(f"not in the call record: {request.prompt[-120:]!r}")

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        """Refuse: the record should have answered."""
        raise RecordMiss(f"scoring not in the call record: {request.continuation!r}")


@dataclass
class Meter:
    """Completions and recorded model seconds that went through a `Metered`."""

    calls: int = 0
    seconds: float = 0.0


class Metered(BaseGenerator, BaseContinuationScorer):
    """The recorded generator, counting model calls as a cold run would make them.

    A call is one generated sequence or one scored continuation: a request for K
    samples counts K, so sampling costs the same whichever library asks.
    """

    def __init__(self, inner: RecordedGenerator) -> None:
        self.inner, self.name = inner, inner.name
        self.meter = Meter()
        self._lock = threading.Lock()

    def generate(self, request: GenerationRequest) -> tuple[Completion, ...]:
        """The recorded completions, counted."""
        done: tuple[Completion, ...] = self._counted(
            lambda: self.inner.generate(request), len
        )
        return done

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        """The recorded logprobs of the continuation, counted as one call."""
        scorer: Any = self.inner
        done: tuple[TokenLogprob, ...] = self._counted(
            lambda: scorer.score_continuation(request), lambda _: 1
        )
        return done

    def _counted(self, call: Callable[[], Any], count: Callable[[Any], int]) -> Any:
        before = self.inner.stats.model_seconds
        out = call()
        spent = self.inner.stats.model_seconds - before
        with self._lock:
            self.meter.calls += count(out)
            self.meter.seconds += spent
        return out

    def measure(self, work: Callable[[], Any]) -> tuple[Any, int, float]:
        """`work()`, the calls it made, and its cold seconds (wall + model time)."""
        self.meter = Meter()
        start = time.perf_counter()
        out = work()
        wall = time.perf_counter() - start
        return out, self.meter.calls, wall + self.meter.seconds


@dataclass
class Source:
    """One dev file replayed: its items' answers come from `answer`."""

    dataset: Dataset
    contexts: str
    generator: Metered
    answer: Callable[[EvalItem], Observation]
    scorers: dict[str, tuple[str, Callable[[Observation], float | None]]] = field(
        default_factory=dict
    )
    fresh: Callable[[], dict[str, Any]] | None = None
    """Builds the scorers anew (after the warm-up, whose seeded draws they keep)."""


def replaying(data: Path, work: Path, scratch: Path) -> Metered:
    """A generator that replays every record of `data` and never runs the model.

    Records are only read: `scratch` is the file a miss would be written to, and a
    miss raises before anything is written.
    """
    records = sorted(work.glob(f"calls-{data.stem}*.jsonl"))
    if not records:
        raise FileNotFoundError(f"no call record for {data.stem} in {work}")
    return Metered(recorded(NoModel(), scratch, replay_from=records))


def answerer(
    dataset: Dataset, contexts: str, gen: Metered, work: Path, stand_in: bool
) -> Callable[[EvalItem], Observation]:
    """How the presets answer: given contexts, or balanced's Confident RAG."""
    if contexts == "given":
        given = GivenContexts(gen)
        return given.answer
    pipeline = _rag(dataset, gen, work, stand_in)
    return lambda item: pipeline(item.question)


def _rag(dataset: Dataset, gen: Metered, work: Path, stand_in: bool) -> Any:
    passages = dataset.passages()
    if not stand_in:  # balanced's own pipeline, its fitted selector included
        return build_pipeline(load("balanced").config, passages, work, gen)
    indices = [
        EmbeddingIndex.build(get_embedder(name), passages, cache_dir=work)
        for name in DEFAULT_EMBEDDERS
    ]
    return ConfidentRAGPipeline(gen, indices)


def guard_scorer(guard: Guard) -> Callable[[Observation], float | None]:
    """A guard's final confidence on an observation."""
    return lambda obs: guard.check(obs).confidence


def signal_scorer(signal: Signal) -> Callable[[Observation], float | None]:
    """One signal's confidence, None where it did not score."""

    def score(obs: Observation) -> float | None:
        result = signal.score(obs)
        return result.confidence if result.ok else None

    return score


def guards(gen: Metered, retrieval: bool, stand_in: bool) -> dict[str, Guard]:
    """Each preset's guard, its model signals replaying (or the demo's guard)."""
    if stand_in:
        signals = list(demo_signals(retrieval=retrieval))
        store = InMemoryStore()  # the demo policy routes escalations to review
        routes = {"review": ReviewQueueRoute(store)}
        return {"demo_guard": Guard(signals, demo_policy(), store=store, routes=routes)}
    return {
        f"preset_{name}": preset_guard(name, generator=gen, store=InMemoryStore())
        for name in PRESETS
    }


def single_signals(gen: Metered, retrieval: bool, stand_in: bool) -> list[Signal]:
    """Every signal the presets choose from, each drawing its own samples.

    A fresh sampler per consistency signal, so each is charged the K samples it
    needs (a shared one would bill only the first).
    """
    signals: list[Signal] = cheap_signals(retrieval)
    if stand_in:
        return signals
    similarity = default_similarity()
    drawn = [k(similarity, sampler(gen), draw=True) for k in CONSISTENCY_KINDS]
    return [*signals, *drawn, SituatedFaithfulness(gen, mode="rcr")]


FAMILY = {
    "avg_logprob": "white-box",
    "min_token_prob": "white-box",
    "entropy": "white-box",
    "gini": "white-box",
    "self_certainty": "white-box",
    "distributional_perplexity": "white-box",
    "perplexity_consistency": "white-box",  # reads the samples' logprobs too
    "retrieval": "retrieval",
    "multi_embedding_agreement": "retrieval",
    "answer_support": "context",
    "situated_rcr": "situated (model calls)",
}
"""Families as the table shows them; the other consistency signals are black-box."""


def family_of(name: str) -> str:
    """The scorer family shown in the table."""
    if name.startswith(("preset_", "demo_")):
        return "guard"
    return FAMILY.get(name, "black-box")


def scorers(
    gen: Metered, retrieval: bool, stand_in: bool
) -> dict[str, tuple[str, Callable[[Observation], float | None]]]:
    """confguard's scorers by name: (family, score function)."""
    out = {
        n: (family_of(n), guard_scorer(g))
        for n, g in guards(gen, retrieval, stand_in).items()
    }
    for signal in single_signals(gen, retrieval, stand_in):
        out[signal.name] = (family_of(signal.name), signal_scorer(signal))
    return out


def open_source(args: argparse.Namespace) -> Source:
    """The dataset, the replaying generator, the answerer and confguard's scorers."""
    dataset = load_dataset(dataset_spec(args.data))
    scratch = args.out.with_suffix(".misses.jsonl")
    gen = replaying(args.data, args.work, scratch)
    answer = answerer(dataset, args.contexts, gen, args.work, args.stand_in)
    source = Source(dataset, args.contexts, gen, answer)
    source.fresh = partial(scorers, gen, args.contexts == "retrieve", args.stand_in)
    source.scorers = source.fresh()
    return source


def tokens(logprobs: Sequence[TokenLogprob] | None) -> list[dict[str, Any]]:
    """Logprobs in the OpenAI shape UQLM reads (token, logprob, top_logprobs)."""
    return [
        {
            "token": t.token,
            "logprob": t.logprob,
            "top_logprobs": [
                {"token": a.token, "logprob": a.logprob} for a in t.top_logprobs
            ],
        }
        for t in logprobs or ()
    ]


def row(source: Source, item: EvalItem) -> dict[str, Any]:
    """One item: answer, logprobs, samples, label and confguard's scores."""
    gen = source.generator
    obs, answer_calls, answer_s = gen.measure(lambda: source.answer(item))
    drawn, sample_calls, sample_s = gen.measure(
        lambda: run_plan(sampler(gen).plan(obs), gen)[0]
    )
    graded = grade(obs.answer, item.answers)
    return {
        "id": item.id,
        "group": group_of(item),
        "split": split_of(item),
        "question": item.question,
        "prompt": rag_prompt(obs),
        "gold": list(item.answers),
        "answer": obs.answer,
        "correct": graded.correct,
        "f1": graded.f1,
        "exact": graded.exact_match,
        "logprobs": tokens(obs.logprobs),
        "samples": [{"text": s.text, "logprobs": tokens(s.logprobs)} for s in drawn],
        "answer_calls": answer_calls,
        "answer_seconds": answer_s,
        "sample_calls": sample_calls,
        "sample_seconds": sample_s,
        "confguard": confguard_scores(source, obs),
    }


def confguard_scores(source: Source, obs: Observation) -> dict[str, dict[str, Any]]:
    """Each confguard scorer's confidence, family, extra calls and cold seconds."""
    out = {}
    for name, (family, score) in source.scorers.items():
        value, calls, seconds = source.generator.measure(partial(score, obs))
        out[name] = {
            "confidence": value,
            "family": family,
            "calls": calls,
            "seconds": seconds,
        }
    return out


def chosen_items(args: argparse.Namespace) -> list[EvalItem]:
    """The presets' seeded sample, the requested splits only, at most `--max-items`."""
    splits = set(args.splits.split(","))
    items = [
        i for i in load_items(args.data, args.limit, args.seed) if split_of(i) in splits
    ]
    return items if args.max_items is None else items[: args.max_items]


def done_ids(out: Path) -> set[str]:
    """Ids already written to `out` (complete lines only), for `--resume`."""
    if not out.exists():
        return set()
    found = set()
    for line in out.read_text("utf-8").splitlines():
        try:
            found.add(json.loads(line)["id"])
        except (ValueError, KeyError):
            continue  # a line cut short by a stopped run: that item is redone
    return found


def export(
    source: Source, items: Sequence[EvalItem], out: Path, *, resume: bool = False
) -> Iterator[int]:
    """Write one JSON line per item; yields the count written so far.

    The first item is replayed once before, unrecorded: loading the embedders is
    a one-time cost, not any question's (`score_uqlm.py` warms up the same way).
    With `resume`, items already in `out` are kept and the rest appended, so a
    run can go on as the call record grows.
    """
    skip = done_ids(out) if resume else set()
    if resume and out.exists():
        _drop_partial(out)
    todo = [i for i in items if i.id not in skip]
    if todo:
        row(source, todo[0])
        # A sampler keeps its seeded draws: the warm-up's would make the first
        # item's samples look free. Fresh scorers; the loaded models stay.
        if source.fresh is not None:
            source.scorers = source.fresh()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a" if resume else "w", encoding="utf-8") as sink:
        for n, item in enumerate(todo, 1):
            sink.write(json.dumps(row(source, item)) + "\n")
            sink.flush()
            yield n


def _drop_partial(out: Path) -> None:
    lines = out.read_text("utf-8").splitlines()
    kept = [line for line in lines if _complete(line)]
    out.write_text("".join(line + "\n" for line in kept), "utf-8")


def _complete(line: str) -> bool:
    try:
        return "id" in json.loads(line)
    except ValueError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--contexts", choices=["retrieve", "given"], required=True)
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=ROOT / ".confguard" / "presets")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--splits", default="fit,holdout")
    parser.add_argument("--max-items", type=int, default=None)
    parser.add_argument("--stand-in", action="store_true")
    parser.add_argument(
        "--resume", action="store_true", help="keep items already in --out"
    )
    args = parser.parse_args()
    items = chosen_items(args)
    source = open_source(args)
    start = time.perf_counter()
    for n in export(source, items, args.out, resume=args.resume):
        if n % 10 == 0 or n == len(items):
            took = time.perf_counter() - start
            print(f"{n}/{len(items)} items, {took:.0f}s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
