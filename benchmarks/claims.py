"""Benchmark: claim-level confidence on long answers whose wrong claims are copied
from the context (built by scripts/build_claims.py, labels known by construction).

Each claim is scored by the claim signals on the embedded defaults: the
teacher-forced likelihood of the claim after the context, the question and the
answer before it (Gemma 3 270M), the context lift (with against without the
context), the best-matching context sentence by MiniLM cosine, and the two
signals that ask whether the claim answers the question: the question lift (the
claim's log-likelihood under the part of the question it answers minus under a
generic question) and the question relevance (the context sentence stating the
claim against the sentence closest to the question, by MiniLM cosine). Reported:
the claim-level AUROC of each signal, of their combination (a logistic
regression fitted out of fold, 5 folds grouped by record, so no record's claims
are scored by a fit that read them), and of the string-overlap baseline (the
share of the claim's words in the context); then precision and recall of the
claims kept when every claim whose combined confidence is below 0.5 is redacted.

    python scripts/build_claims.py ../shared/data/squad_dev_v1.1.json \\
        --out .confguard/claims.jsonl --records 120 --seed 0
    python benchmarks/claims.py --data .confguard/claims.jsonl

`--fake` runs the same code on fakes (a context-reading scorer, the hashing
embedder) to check the plumbing in seconds; its figures mean nothing.

The last line printed is one JSON object:
{"n_claims", "claim_auroc", "baseline_auroc", "kept_precision", "kept_recall"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from confguard.claims import (
    ClaimContextLift,
    ClaimContextSupport,
    ClaimForcedLikelihood,
    ClaimLexicalSupport,
    ClaimQuestionLift,
    ClaimQuestionRelevance,
    ClaimSignal,
)
from confguard.embeddings.base import Embedder
from confguard.evaluation.metrics import auroc
from confguard.llm.base import (
    BaseContinuationScorer,
    ContinuationScorer,
    ScoringRequest,
)
from confguard.observation import Context, Observation, TokenLogprob
from confguard.policy import ClaimPolicy
from confguard.policy.claims import decide_claim
from confguard.results import Claim, ClaimAssessment
from confguard.testing.generators import fake_tokens

SIGNALS = (
    "claim_forced_likelihood",
    "claim_context_lift",
    "claim_context_support",
    "claim_question_lift",
    "claim_question_relevance",
)
BASELINE = "claim_lexical"
KEEP = 0.5
"""Claims whose combined confidence is below this are redacted."""


class Memo(BaseContinuationScorer):
    """Each distinct scoring request answered once (the lift and the likelihood
    both ask for the claim with its context)."""

    def __init__(self, inner: ContinuationScorer) -> None:
        self.inner = inner
        self._done: dict[ScoringRequest, tuple[TokenLogprob, ...]] = {}

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        if request not in self._done:
            self._done[request] = self.inner.score_continuation(request)
        return self._done[request]


class FakeReader(BaseContinuationScorer):
    """A fake for --fake: words found in the prompt's context are likely."""

    def score_continuation(self, request: ScoringRequest) -> tuple[TokenLogprob, ...]:
        shown = request.prompt.lower() if "Context:" in request.prompt else ""
        return tuple(
            TokenLogprob(token=w, logprob=-0.2 if w.strip().lower() in shown else -2.5)
            for w in fake_tokens(request.continuation)
        )


def load(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """The benchmark's records (at most `limit`)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return records[:limit] if limit else records


def observation(item: dict[str, Any]) -> tuple[Observation, list[Claim]]:
    """A record as the Observation its claims are scored in, and its claims."""
    obs = Observation(
        question=item["question"],
        answer=item["answer"],
        contexts=(Context(text=item["context"]),),
    )
    claims = [
        Claim(index=i, text=c["text"], start=c["start"], end=c["end"])
        for i, c in enumerate(item["claims"])
    ]
    return obs, claims


def signals(scorer: ContinuationScorer, embedder: Embedder) -> list[ClaimSignal]:
    """The claim signals measured, and the baseline last."""
    return [
        ClaimForcedLikelihood(scorer),
        ClaimContextLift(scorer),
        ClaimContextSupport(embedder),
        ClaimQuestionLift(scorer),
        ClaimQuestionRelevance(embedder),
        ClaimLexicalSupport(),
    ]


def score(
    records: Sequence[dict[str, Any]], measured: Sequence[ClaimSignal]
) -> dict[str, Any]:
    """Every claim's signal confidences (0.5 for a signal that did not run)."""
    table: dict[str, list[float]] = {s.name: [] for s in measured}
    labels, groups, failed = [], [], 0
    for g, item in enumerate(records):
        obs, claims = observation(item)
        for claim, meta in zip(claims, item["claims"], strict=True):
            for signal in measured:
                result = signal.score_claim(claim, obs)
                failed += not result.ok
                table[signal.name].append(
                    0.5 if result.confidence is None else result.confidence
                )
            labels.append(int(meta["label"]))
            groups.append(g)
    return {"table": table, "labels": labels, "groups": groups, "not_ok": failed}


def out_of_fold(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """Combined confidences from a logistic regression fitted on the other folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    folds = min(5, len(set(groups.tolist())))
    found = np.full(len(labels), 0.5)
    for train, test in GroupKFold(n_splits=folds).split(features, labels, groups):
        if len(set(labels[train].tolist())) < 2:
            continue  # one class only: leave 0.5
        model = LogisticRegression(C=1.0, max_iter=1000).fit(
            features[train], labels[train]
        )
        found[test] = model.predict_proba(features[test])[:, 1]
    return found


def kept(combined: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Precision and recall of the claims the claim policy keeps."""
    policy = ClaimPolicy(keep=KEEP, flag=None)
    decisions = [
        decide_claim(
            policy,
            ClaimAssessment(
                claim=Claim(index=0, text="", start=0, end=0), confidence=float(p)
            ),
        )
        for p in combined
    ]
    keep = np.array([d.action == "keep" for d in decisions])
    right = labels == 1
    precision = float(right[keep].mean()) if keep.any() else 0.0
    recall = float((keep & right).sum() / right.sum()) if right.any() else 0.0
    return precision, recall


def report(scored: dict[str, Any]) -> dict[str, Any]:
    """Per-signal AUROCs, the combination's, the baseline's, and kept P/R."""
    table, labels = scored["table"], np.array(scored["labels"])
    groups = np.array(scored["groups"])
    per_signal = {name: auroc(table[name], labels.tolist()) for name in table}
    features = np.column_stack([table[name] for name in SIGNALS])
    combined = out_of_fold(features, labels, groups)
    precision, recall = kept(combined, labels)
    return {
        "per_signal_auroc": per_signal,
        "n_claims": len(labels),
        "claim_auroc": auroc(combined.tolist(), labels.tolist()),
        "baseline_auroc": per_signal[BASELINE],
        "kept_precision": precision,
        "kept_recall": recall,
        "signals_not_ok": scored["not_ok"],
    }


def models(fake: bool, n_threads: int) -> tuple[ContinuationScorer, Embedder]:
    """The scorer and embedder: the embedded defaults, or fakes."""
    if fake:
        from confguard.testing import FakeEmbedder

        return FakeReader(), FakeEmbedder(dim=256)
    from confguard.embeddings.local import get_embedder
    from confguard.llm.local import LocalGenerator

    return LocalGenerator(n_threads=n_threads), get_embedder("minilm")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None, help="records to use")
    parser.add_argument("--n-threads", type=int, default=1)
    parser.add_argument("--fake", action="store_true", help="fakes, not the models")
    args = parser.parse_args(argv)
    records = load(args.data, args.limit)
    scorer, embedder = models(args.fake, args.n_threads)
    start = time.perf_counter()
    found = report(score(records, signals(Memo(scorer), embedder)))
    seconds = time.perf_counter() - start
    print(f"{len(records)} records, {found['n_claims']} claims in {seconds:.1f} s")
    for name, value in found["per_signal_auroc"].items():
        shown = "n/a" if value is None else f"{value:.3f}"
        print(f"  AUROC {name:<26} {shown}")
    print(f"  AUROC {'combination (out of fold)':<26} {found['claim_auroc']:.3f}")
    precision, recall = found["kept_precision"], found["kept_recall"]
    print(f"  kept after redaction: precision {precision:.3f}, recall {recall:.3f}")
    headline = {
        k: found[k]
        for k in (
            "n_claims",
            "claim_auroc",
            "baseline_auroc",
            "kept_precision",
            "kept_recall",
        )
    }
    print(json.dumps(headline))
    return headline


if __name__ == "__main__":
    main(sys.argv[1:])
