"""Benchmark: Confident RAG vs single-embedder RAG, Mixture-Embedding RAG, vanilla LLM.

The corpus is every paragraph of a SQuAD-format file; questions are a seeded random
sample. Each single-embedder RAG answer is a Confident RAG candidate (generated
once); Confident RAG then selects among them with each token metric.
Correct for EM is SQuAD exact match; correct for AUROC is token F1 >= 0.5.

    python benchmarks/confident_rag.py \\
        --data ../shared/data/squad_dev_v1.1.json --limit 300 --seed 0

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from confguard.embeddings import get_embedder
from confguard.llm.base import Completion, GenerationRequest, Generator
from confguard.llm.local import LocalGenerator
from confguard.prompts import DEFAULT_SHOTS, completion_prompt
from confguard.rag import (
    ANSWER_REQUEST,
    EmbeddingIndex,
    Passage,
    Retrieval,
    RetrievedAnswer,
    confident_observation,
    mix,
    progress_bar,
    retrieve_each,
    score_candidates,
    select_candidate,
)
from confguard.rag.confident import candidate_from
from confguard.signals.agreement import MultiEmbeddingAgreement, text_agreement
from confguard.signals.base import Signal
from confguard.signals.token import token_signals
from confguard.text import exact_match, token_f1

DEFAULT_METRIC = "self_certainty"


class Question(BaseModel):
    """A SQuAD question with its gold answers and the paragraph it came from."""

    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    answers: tuple[str, ...]
    passage_id: str


class Record(BaseModel):
    """Everything generated for one question (candidates are unscored)."""

    model_config = ConfigDict(frozen=True)

    question: Question
    vanilla: str
    candidates: tuple[RetrievedAnswer, ...]
    mixture: str
    seconds: float


def load_squad(path: Path) -> tuple[list[Passage], list[Question]]:
    """Every paragraph as a passage, every question with its gold answers."""
    data = json.loads(path.read_text("utf-8"))["data"]
    passages, questions = [], []
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            pid = f"{a}-{p}"
            passages.append(
                Passage(id=pid, text=paragraph["context"], title=article["title"])
            )
            questions += [
                Question(
                    id=qa["id"],
                    question=qa["question"],
                    answers=tuple(x["text"] for x in qa["answers"]),
                    passage_id=pid,
                )
                for qa in paragraph["qas"]
            ]
    return passages, questions


def pick(
    questions: Sequence[Question], limit: int, seed: int, skip: int
) -> list[Question]:
    """A seeded random sample; `skip` drops the first draws of the same sequence.

    random.sample draws one index after another, so with the same seed the sample of
    skip + limit starts with the sample of skip: --skip N gives questions disjoint
    from an earlier --limit N run.
    """
    total = min(skip + limit, len(questions))
    return random.Random(seed).sample(list(questions), total)[skip:]


def closed_book_prompt(question: str) -> str:
    """The same 2-shot prompt with no context anywhere (the vanilla LLM)."""
    shots = [f"Question: {s.question}\nAnswer: {s.answer}\n" for s in DEFAULT_SHOTS]
    return "\n".join([*shots, f"Question: {question.strip()}\nAnswer:"])


class CachedGenerator:
    """Greedy generation memoised by prompt: identical retrievals cost one call."""

    def __init__(self, generator: Generator, request: GenerationRequest) -> None:
        self.generator, self.request = generator, request.with_(temperature=0.0)
        self.cache: dict[str, Completion] = {}
        self.calls = 0

    def __call__(self, prompt: str) -> Completion:
        if prompt not in self.cache:
            self.calls += 1
            request = self.request.with_(prompt=prompt)
            [self.cache[prompt]] = self.generator.generate(request)
        return self.cache[prompt]


def build_indices(
    names: Sequence[str], passages: Sequence[Passage], cache_dir: Path
) -> list[EmbeddingIndex]:
    """One index per embedder, loaded from the cache or encoded with a progress bar."""
    indices = []
    for name in names:
        start = time.perf_counter()
        with progress_bar(f"index {name}") as bar:
            index = EmbeddingIndex.build(
                get_embedder(name), passages, cache_dir=cache_dir, progress=bar
            )
        how = "loaded from cache" if index.from_cache else "encoded"
        print(f"{name}: {how} in {time.perf_counter() - start:.1f}s", flush=True)
        indices.append(index)
    return indices


def answer_one(
    question: Question,
    indices: Sequence[EmbeddingIndex],
    generate: CachedGenerator,
    k: int,
) -> Record:
    """Vanilla, one candidate per embedder, and the mixture answer for a question."""
    start = time.perf_counter()
    generate.cache.clear()  # prompts never repeat across questions
    vanilla = generate(closed_book_prompt(question.question)).text.strip()
    retrievals = retrieve_each(indices, question.question, k, with_stats=True)
    candidates = tuple(
        candidate_from(r, generate(_prompt(question, r))) for r in retrievals
    )
    pooled = mix(retrievals, k)
    texts = [p.hit.passage.text for p in pooled]
    mixture = generate(completion_prompt(question.question, texts)).text.strip()
    return Record(
        question=question,
        vanilla=vanilla,
        candidates=candidates,
        mixture=mixture,
        seconds=time.perf_counter() - start,
    )


def _prompt(question: Question, retrieval: Retrieval) -> str:
    return completion_prompt(
        question.question, [h.passage.text for h in retrieval.hits]
    )


# --- scoring ------------------------------------------------------------------


def em(answer: str, q: Question) -> float:
    return float(exact_match(answer, q.answers))


def f1(answer: str, q: Question) -> float:
    return token_f1(answer, q.answers)


def auroc(scores: Sequence[float | None], correct: Sequence[bool]) -> float | None:
    """ROC AUC of scores for correctness; None if one class is missing.

    A missing score (metric skipped) counts as the lowest confidence.
    """
    if len(set(correct)) < 2:
        return None
    filled = [-1.0 if s is None else s for s in scores]
    return float(roc_auc_score(correct, filled))


class Row(BaseModel):
    """One line of the results table."""

    model_config = ConfigDict(frozen=True)

    method: str
    em: float
    f1: float
    auroc: float | None = None
    note: str = ""


def plain_rows(records: Sequence[Record], names: Sequence[str]) -> list[Row]:
    """Vanilla, each single embedder, the mixture and the per-question oracle."""
    n = len(records)
    rows = [_row("vanilla LLM (no retrieval)", [r.vanilla for r in records], records)]
    for i, name in enumerate(names):
        answers = [r.candidates[i].answer for r in records]
        hit = sum(
            r.candidates[i].contexts[0].source == r.question.passage_id for r in records
        )
        rows.append(
            _row(f"RAG {name}", answers, records, f"top-1 passage right {hit / n:.2f}")
        )
    rows.append(_row("Mixture-Embedding RAG", [r.mixture for r in records], records))
    rows.append(_row("vote (answer most agreed with)", _votes(records), records))
    oracle = sum(any(em(c.answer, r.question) for c in r.candidates) for r in records)
    rows.append(Row(method="oracle (any candidate EM)", em=oracle / n, f1=float("nan")))
    return rows


def _votes(records: Sequence[Record]) -> list[str]:
    """Per question, the candidate whose answer agrees most with the others (F1)."""
    chosen = []
    for r in records:
        answers = [c.answer for c in r.candidates]
        support = [
            text_agreement(a, answers[:i] + answers[i + 1 :])
            for i, a in enumerate(answers)
        ]
        chosen.append(answers[max(range(len(answers)), key=support.__getitem__)])
    return chosen


def _row(
    method: str, answers: Sequence[str], records: Sequence[Record], note: str = ""
) -> Row:
    n = len(records)
    return Row(
        method=method,
        em=sum(em(a, r.question) for a, r in zip(answers, records, strict=True)) / n,
        f1=sum(f1(a, r.question) for a, r in zip(answers, records, strict=True)) / n,
        note=note,
    )


def fitted_row(records: Sequence[Record]) -> Row | None:
    """Confident RAG with the `balanced` preset's fitted selector.

    It chooses among the candidates of the preset's own embedders (the others are
    left out); None when this run has fewer than two of them.
    """
    from confguard.config import load
    from confguard.rag.selection import FittedSelector

    section = load("balanced").config.pipeline
    if section is None or section.selector is None:
        return None
    s = section.selector
    selector = FittedSelector(
        s.weights, intercept=s.intercept, means=s.means, scales=s.scales
    )
    wanted = set(section.embedders)
    answers = []
    for r in records:
        own = [c for c in r.candidates if c.retriever in wanted]
        if len(own) < 2:
            return None
        answers.append(own[selector.select(r.question.question, own)].answer)
    names = ", ".join(section.embedders)
    return _row(f"Confident RAG [fitted selector; {names}]", answers, records)


def unseen(questions: Sequence[Question], data: Path) -> list[Question]:
    """The questions the presets' fit never read (all of them for another file)."""
    if data.name != "squad_dev_v1.1.json":
        return list(questions)
    from preset_data import held_out_id

    return [q for q in questions if held_out_id(q.id)]


def confident_row(records: Sequence[Record], metric: Signal) -> tuple[Row, list[Any]]:
    """Confident RAG with one metric, and the observations it selected."""
    observations, confidences = [], []
    for r in records:
        scored = score_candidates(r.question.question, r.candidates, metric)
        chosen = select_candidate(scored)
        observations.append(confident_observation(r.question.question, scored, chosen))
        confidences.append(scored[chosen].result)
    answers = [o.answer for o in observations]
    row = _row(f"Confident RAG [{metric.name}]", answers, records)
    correct = [f1(a, r.question) >= 0.5 for a, r in zip(answers, records, strict=True)]
    values = [c.confidence if c is not None else None for c in confidences]
    return row.model_copy(update={"auroc": auroc(values, correct)}), observations


def agreement_rows(
    records: Sequence[Record], observations: Sequence[Any], signals: dict[str, Signal]
) -> list[Row]:
    """AUROC of agreement signals for the selected answers' correctness."""
    correct = [
        f1(o.answer, r.question) >= 0.5
        for o, r in zip(observations, records, strict=True)
    ]
    rows = []
    for label, signal in signals.items():
        results = [signal.score(o) for o in observations]
        value = auroc([s.confidence for s in results], correct)
        rows.append(Row(method=label, em=float("nan"), f1=float("nan"), auroc=value))
    return rows


def print_table(rows: Sequence[Row]) -> None:
    print(f"\n{'method':44} {'EM':>6} {'F1':>6} {'AUROC':>6}  note")
    for row in rows:
        cells = [_cell(row.em), _cell(row.f1), _cell(row.auroc)]
        print(f"{row.method:44} {cells[0]:>6} {cells[1]:>6} {cells[2]:>6}  {row.note}")


def _cell(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


# --- main ---------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--skip", type=int, default=0, help="leave out the first N sampled questions"
    )
    parser.add_argument("--embedders", default="minilm,e5,wordllama,mpnet")
    parser.add_argument("--top-k", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=24)
    # More alternatives bring the distribution metrics closer to the full vocabulary.
    parser.add_argument("--top-logprobs", type=int, default=20)
    parser.add_argument("--cache-dir", type=Path, default=Path(".confguard/bench"))
    parser.add_argument("--records", type=Path, help="write per-question JSONL here")
    parser.add_argument(
        "--from-records", type=Path, help="re-score a saved JSONL; no model is run"
    )
    return parser.parse_args()


def generate_all(
    args: argparse.Namespace,
    questions: Sequence[Question],
    indices: Sequence[EmbeddingIndex],
) -> list[Record]:
    request = ANSWER_REQUEST.with_(max_tokens=args.max_tokens, top_k=args.top_logprobs)
    generate = CachedGenerator(LocalGenerator(n_ctx=4096, n_threads=1), request)
    records: list[Record] = []
    start = time.perf_counter()
    for i, q in enumerate(questions, 1):
        records.append(answer_one(q, indices, generate, args.top_k))
        if i % 25 == 0 or i == len(questions):
            print_progress(records, time.perf_counter() - start, generate.calls)
    return records


def print_progress(records: Sequence[Record], elapsed: float, calls: int) -> None:
    """A running line: time, generations so far, running EM of each candidate."""
    per = [
        sum(em(r.candidates[j].answer, r.question) for r in records) / len(records)
        for j in range(len(records[0].candidates))
    ]
    shown = " ".join(
        f"{c.retriever}={v:.2f}"
        for c, v in zip(records[0].candidates, per, strict=True)
    )
    print(
        f"[{len(records)}] {elapsed:.0f}s, {calls} generations; EM {shown}", flush=True
    )


def main() -> None:
    args = parse_args()
    passages, questions = load_squad(args.data)
    sample = pick(unseen(questions, args.data), args.limit, args.seed, args.skip)
    names = [n.strip() for n in args.embedders.split(",") if n.strip()]
    print(f"corpus: {len(passages)} paragraphs; {len(sample)} questions", end="")
    print(f" (seed {args.seed})")
    if args.from_records:
        records = _read_records(args.from_records)
        names = [c.retriever for c in records[0].candidates]
    else:
        indices = build_indices(names, passages, args.cache_dir)
        records = generate_all(args, sample, indices)
    if args.records:
        args.records.write_text("".join(r.model_dump_json() + "\n" for r in records))
    report(records, names, get_embedder("minilm") if "minilm" in names else None)


def _read_records(path: Path) -> list[Record]:
    lines = path.read_text("utf-8").splitlines()
    return [Record.model_validate_json(line) for line in lines if line.strip()]


def report(
    records: Sequence[Record], names: Sequence[str], answer_embedder: Any
) -> None:
    rows = plain_rows(records, names)
    confident: dict[str, Row] = {}
    default_obs: list[Any] = []
    for name, cls in token_signals().items():
        row, observations = confident_row(records, cls())
        confident[name] = row
        default_obs = observations if name == DEFAULT_METRIC else default_obs
    signals: dict[str, Signal] = {
        "agreement (text + retrieval)": MultiEmbeddingAgreement(),
        "agreement: text only": MultiEmbeddingAgreement(weights={"text": 1.0}),
        "agreement: retrieval only": MultiEmbeddingAgreement(
            weights={"retrieval": 1.0}
        ),
    }
    if answer_embedder is not None:
        signals["agreement (text + embedding + retrieval)"] = MultiEmbeddingAgreement(
            answer_embedder
        )
    agreement = agreement_rows(records, default_obs, signals)
    fitted = fitted_row(records)
    print_table([*rows, *confident.values(), *([fitted] if fitted else []), *agreement])
    print_summary(records, rows, confident, agreement, fitted)


def _oracle(rows: Sequence[Row]) -> Row:
    return next(r for r in rows if r.method.startswith("oracle"))


def print_summary(
    records: Sequence[Record],
    rows: Sequence[Row],
    confident: dict[str, Row],
    agreement: Sequence[Row],
    fitted: Row | None = None,
) -> None:
    singles = [r for r in rows if r.method.startswith("RAG ")]
    mixture = next(r for r in rows if r.method.startswith("Mixture"))
    chosen = confident[DEFAULT_METRIC]
    seconds = sum(r.seconds for r in records) / len(records)
    print(
        f"\n{seconds:.2f}s per question (all methods); default metric: {DEFAULT_METRIC}"
    )
    summary = {
        "n": len(records),
        "vanilla_em": round(rows[0].em, 4),
        "best_single_em": round(max(r.em for r in singles), 4),
        "mixture_em": round(mixture.em, 4),
        # The fitted selector is Confident RAG's selection now; the paper's rule
        # (the default metric's most confident candidate) is metric_em.
        "confident_em": round((fitted or chosen).em, 4),
        "metric_em": round(chosen.em, 4),
        "oracle_em": round(
            next(r.em for r in rows if r.method.startswith("oracle")), 4
        ),
        "confident_f1": round(chosen.f1, 4),
        "confident_auroc": None if chosen.auroc is None else round(chosen.auroc, 4),
        "agreement_auroc": None
        if agreement[0].auroc is None
        else round(agreement[0].auroc, 4),
        "confident_metric": DEFAULT_METRIC,
        "confident_selector": "fitted" if fitted else DEFAULT_METRIC,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
