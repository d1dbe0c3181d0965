"""The report of an evaluation: metrics.json, samples.jsonl, two plots and report.md.

Every signal is measured on the samples where it was ok (its `n` says how many);
the final confidence on the samples where the guard had any evidence. The policy's
coverage is the share of first attempts whose answer would be returned (accepted or
annotated) and its risk the error rate among those.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from confguard.evaluation.metrics import reliability, risk_coverage, summarize
from confguard.evaluation.runner import EvalSample, Evaluation

FINAL = "final"
RETURNED = ("accept", "annotate")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScoreMetrics(_Frozen):
    """How one confidence score ranks and calibrates, on the n samples it covers."""

    n: int = Field(ge=0)
    missing: int = Field(ge=0)
    """Samples where the score was not available (skipped, failed, no evidence)."""
    accuracy: float | None = None
    auroc: float | None = None
    auprc: float | None = None
    aurc: float | None = None
    ece: float | None = None
    brier: float | None = None


class PolicyMetrics(_Frozen):
    """What the policy did on the first attempt of every sample."""

    returned: int = Field(ge=0)
    """Answers accepted or annotated."""
    coverage: float
    risk: float | None
    """The error rate among returned answers; None if none was returned."""
    actions: dict[str, int]
    accepted: int = Field(default=0, ge=0)
    """Answers accepted (annotated ones not counted)."""
    accepted_risk: float | None = None
    """The error rate among accepted answers: what a certified accept threshold
    (`risk_control`) bounds; None if none was accepted."""


class EvalMetrics(_Frozen):
    """Everything metrics.json holds."""

    dataset: str
    pipeline: str
    rule: str
    n: int = Field(ge=1)
    accuracy: float
    exact_match: float
    mean_f1: float
    signals: dict[str, ScoreMetrics]
    final: ScoreMetrics
    policy: PolicyMetrics
    signal_llm_calls_per_question: float
    generated: int
    seconds: float


def _pairs(samples: Sequence[EvalSample], name: str) -> tuple[list[float], list[bool]]:
    values = [_value(s, name) for s in samples]
    kept = [
        (v, s.correct) for v, s in zip(values, samples, strict=True) if v is not None
    ]
    return [v for v, _ in kept], [c for _, c in kept]


def _value(sample: EvalSample, name: str) -> float | None:
    return sample.confidence if name == FINAL else sample.signals.get(name)


def score_metrics(
    samples: Sequence[EvalSample], name: str, bins: int = 10
) -> ScoreMetrics:
    """The metrics of signal `name` (or of the final confidence, name "final")."""
    values, correct = _pairs(samples, name)
    missing = len(samples) - len(values)
    if not values:
        return ScoreMetrics(n=0, missing=missing)
    summary = summarize(values, correct, bins)
    return ScoreMetrics(missing=missing, **summary.model_dump())


def policy_metrics(samples: Sequence[EvalSample]) -> PolicyMetrics:
    """Coverage and risk of the answers the policy would return."""
    returned = [s for s in samples if s.action in RETURNED]
    accepted = [s for s in samples if s.action == "accept"]
    return PolicyMetrics(
        returned=len(returned),
        coverage=len(returned) / len(samples),
        risk=_error(returned),
        actions=dict(Counter(s.action for s in samples)),
        accepted=len(accepted),
        accepted_risk=_error(accepted),
    )


def _error(samples: Sequence[EvalSample]) -> float | None:
    return sum(not s.correct for s in samples) / len(samples) if samples else None


def measure(evaluation: Evaluation, bins: int = 10) -> EvalMetrics:
    """Every figure of an evaluation.

    Example:
        >>> measure(evaluate(data, pipeline, guard)).final.auroc
    """
    samples = evaluation.samples
    n = len(samples)
    return EvalMetrics(
        dataset=evaluation.dataset,
        pipeline=evaluation.pipeline,
        rule=evaluation.rule,
        n=n,
        accuracy=sum(s.correct for s in samples) / n,
        exact_match=sum(s.exact_match for s in samples) / n,
        mean_f1=sum(s.f1 for s in samples) / n,
        signals={
            name: score_metrics(samples, name, bins) for name in evaluation.signals
        },
        final=score_metrics(samples, FINAL, bins),
        policy=policy_metrics(samples),
        signal_llm_calls_per_question=sum(s.llm_calls for s in samples) / n,
        generated=evaluation.generated,
        seconds=evaluation.seconds,
    )


# --- plots -----------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _scores(evaluation: Evaluation) -> list[str]:
    return [FINAL, *evaluation.signals]


def plot_reliability(evaluation: Evaluation, path: Path, bins: int = 10) -> None:
    """Equal-mass reliability diagram of the final confidence and of every signal."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfectly calibrated")
    for name in _scores(evaluation):
        values, correct = _pairs(evaluation.samples, name)
        if not values:
            continue
        table = reliability(values, correct, bins)
        ax.plot(
            [b.confidence for b in table],
            [b.accuracy for b in table],
            marker="o",
            lw=2.5 if name == FINAL else 1.0,
            label=f"{name} (n={len(values)})",
        )
    ax.set(xlabel="confidence (bin mean)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    ax.set_title(f"Reliability ({bins} equal-mass bins)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_risk_coverage(
    evaluation: Evaluation, policy: PolicyMetrics, path: Path
) -> None:
    """Risk-coverage curves, the policy's operating point and the oracle curve."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    for name in _scores(evaluation):
        values, correct = _pairs(evaluation.samples, name)
        if values:
            curve = risk_coverage(values, correct)
            ax.plot(
                curve.coverage, curve.risk, lw=2.5 if name == FINAL else 1.0, label=name
            )
    right = [s.correct for s in evaluation.samples]
    oracle = risk_coverage([float(c) for c in right], right)
    ax.plot(oracle.coverage, oracle.risk, ls="--", color="black", label="oracle")
    if policy.risk is not None:
        ax.plot([policy.coverage], [policy.risk], "k*", ms=14, label="policy")
    ax.set(xlabel="coverage", ylabel="risk (error rate among accepted)")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.set_title("Risk-coverage")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- files -----------------------------------------------------------------------


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def score_table(metrics: EvalMetrics) -> list[str]:
    """The per-score metrics as Markdown table lines, final first."""
    lines = [
        "| score | n | AUROC | AUPRC | AURC | ECE | Brier |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = {FINAL: metrics.final, **metrics.signals}
    for name, m in rows.items():
        shown = f"**{name}**" if name == FINAL else name
        lines.append(
            f"| {shown} | {m.n} | {_num(m.auroc)} | {_num(m.auprc)} | "
            f"{_num(m.aurc)} | {_num(m.ece)} | {_num(m.brier)} |"
        )
    return lines


def _markdown(metrics: EvalMetrics) -> str:
    p = metrics.policy
    actions = ", ".join(f"{k} {v}" for k, v in sorted(p.actions.items()))
    lines = [
        "# confguard evaluation",
        "",
        f"- dataset: `{metrics.dataset}`, {metrics.n} questions",
        f"- pipeline: `{metrics.pipeline}` ({metrics.generated} answers generated "
        f"in this run, the rest cached); {metrics.seconds:.0f} s",
        f"- correct when: `{metrics.rule}`; accuracy {metrics.accuracy:.3f}, "
        f"exact match {metrics.exact_match:.3f}, mean F1 {metrics.mean_f1:.3f}",
        f"- LLM calls by the signals: {metrics.signal_llm_calls_per_question:.2f} "
        "per question",
        "",
        "## How well each confidence separates right from wrong",
        "",
        *score_table(metrics),
        "",
        "AURC and ECE: lower is better. ECE uses 10 equal-mass bins.",
        "",
        "## The policy (first attempt)",
        "",
        f"Coverage {p.coverage:.3f} ({p.returned} answers returned), "
        f"risk {_num(p.risk)}; {p.accepted} accepted, error among them "
        f"{_num(p.accepted_risk)} (what a certified accept threshold bounds); "
        f"decisions: {actions}.",
        "",
        "![risk-coverage](risk_coverage.png)",
        "",
        "![reliability](reliability.png)",
        "",
    ]
    return "\n".join(lines)


def write_report(evaluation: Evaluation, out: Path, bins: int = 10) -> EvalMetrics:
    """Write metrics.json, samples.jsonl, the two plots and report.md into `out`.

    Example:
        >>> write_report(evaluate(data, pipeline, guard), Path("eval-out")).final.auroc
    """
    out.mkdir(parents=True, exist_ok=True)
    metrics = measure(evaluation, bins)
    (out / "metrics.json").write_text(metrics.model_dump_json(indent=2) + "\n")
    with (out / "samples.jsonl").open("w", encoding="utf-8") as file:
        for sample in evaluation.samples:
            file.write(json.dumps(sample.model_dump(mode="json")) + "\n")
    plot_reliability(evaluation, out / "reliability.png", bins)
    plot_risk_coverage(evaluation, metrics.policy, out / "risk_coverage.png")
    (out / "report.md").write_text(_markdown(metrics), encoding="utf-8")
    return metrics


def read_samples(path: Path) -> list[EvalSample]:
    """The samples of a samples.jsonl written by `write_report`."""
    return [
        EvalSample.model_validate_json(line)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


__all__ = [
    "FINAL",
    "EvalMetrics",
    "PolicyMetrics",
    "ScoreMetrics",
    "measure",
    "plot_reliability",
    "plot_risk_coverage",
    "policy_metrics",
    "read_samples",
    "score_metrics",
    "score_table",
    "write_report",
]
