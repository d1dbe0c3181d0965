"""Evaluation: datasets, grading, metrics, and the `confguard eval` harness.

Example:
    >>> from confguard.evaluation import evaluate, load_dataset, write_report
    >>> data = load_dataset("squad:path/to/squad.json").sample(200)
    >>> write_report(evaluate(data, pipeline, guard), Path("eval-out")).final.auroc
"""

from confguard.evaluation.calibrate import Calibrated, calibrate_policy
from confguard.evaluation.datasets import (
    Dataset,
    EvalItem,
    load_conflicts,
    load_dataset,
    load_jsonl,
    load_squad,
)
from confguard.evaluation.grading import (
    Correctness,
    ExactMatch,
    F1AtLeast,
    Grade,
    grade,
)
from confguard.evaluation.metrics import (
    MetricSummary,
    ReliabilityBin,
    RiskCoverage,
    Selective,
    auprc,
    aurc,
    auroc,
    brier,
    ece,
    reliability,
    risk_coverage,
    selective,
    summarize,
)
from confguard.evaluation.outcomes import GroupOutcome
from confguard.evaluation.report import EvalMetrics, measure, write_report
from confguard.evaluation.runner import (
    EvalSample,
    Evaluation,
    GenerationCache,
    GivenContexts,
    ItemPipeline,
    QuestionPipeline,
    aevaluate,
    evaluate,
)

__all__ = [
    "Calibrated",
    "Correctness",
    "Dataset",
    "EvalItem",
    "EvalMetrics",
    "EvalSample",
    "Evaluation",
    "ExactMatch",
    "F1AtLeast",
    "GenerationCache",
    "GivenContexts",
    "Grade",
    "GroupOutcome",
    "ItemPipeline",
    "MetricSummary",
    "QuestionPipeline",
    "ReliabilityBin",
    "RiskCoverage",
    "Selective",
    "aevaluate",
    "auprc",
    "aurc",
    "auroc",
    "brier",
    "calibrate_policy",
    "ece",
    "evaluate",
    "grade",
    "load_conflicts",
    "load_dataset",
    "load_jsonl",
    "load_squad",
    "measure",
    "reliability",
    "risk_coverage",
    "selective",
    "summarize",
    "write_report",
]
