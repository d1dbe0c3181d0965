"""Rich renderings of guard results for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from confguard.results import GuardResult, SignalResult

_STYLES = {
    "accept": "bold green",
    "annotate": "bold yellow",
    "retry": "cyan",
    "escalate": "bold magenta",
    "abstain": "bold red",
}


def fmt(value: float | None) -> str:
    """A confidence with two decimals, or a dash when there is none."""
    return "—" if value is None else f"{value:.2f}"


FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Confident RAG agreement", ("multi_embedding_agreement",)),
    ("situated faithfulness", ("situated_",)),
    (
        "consistency",
        ("numset", "deg", "ecc", "eigv", "self_consistency", "perplexity_consistency"),
    ),
    ("judges", ("judge", "pairwise_judge", "verbalized", "elicited")),
    ("history", ("history",)),
    ("retrieval", ("retrieval", "answer_support", "support")),
)
"""Evidence families, by signal-name prefix; what is left is token evidence."""


def family(name: str) -> str:
    """The evidence family a signal belongs to (token metrics by default).

    Example:
        >>> family("situated_rcr"), family("min_token_prob")
        ('situated faithfulness', 'token')
    """
    for label, prefixes in FAMILIES:
        if any(name == p or (p.endswith("_") and name.startswith(p)) for p in prefixes):
            return label
    return "token"


def results_view(
    rows: Sequence[tuple[Sequence[str], GuardResult]], title: str = ""
) -> Group:
    """Answers and decisions, the evidence by family, and why each decision was made.

    Each row is (gold answers, possibly empty; the guard's result).
    """
    return Group(_answers(rows, title), _breakdown(rows), _reasons(rows))


def _answers(rows: Sequence[tuple[Sequence[str], GuardResult]], title: str) -> Table:
    heading = f"answers and decisions ({title})" if title else "answers and decisions"
    table = Table(title=heading, show_lines=False, expand=True)
    table.add_column("#", justify="right")
    table.add_column("question", ratio=3)
    table.add_column("model answer", ratio=2)
    table.add_column("gold", ratio=2)
    table.add_column("conf", justify="right")
    table.add_column("decision")
    table.add_column("calls", justify="right")
    table.add_column("s", justify="right")
    for i, (gold, result) in enumerate(rows, start=1):
        table.add_row(
            str(i),
            result.question,
            result.attempts[-1].observation.answer if result.attempts else "",
            " | ".join(gold) or "(not in corpus)",
            fmt(result.confidence),
            _trail(result),
            str(model_calls(result)),
            f"{result.latency_seconds:.1f}",
        )
    return table


def _trail(result: GuardResult) -> Text:
    text = Text()
    for record in result.attempts[:-1]:
        text.append(f"{record.decision.action} → ", style=_STYLES["retry"])
    action = result.decision.action
    return text.append(action, style=_STYLES[action])


def model_calls(result: GuardResult) -> int:
    """Model calls the request made: each attempt's answers and its signals' calls.

    A Confident RAG attempt generates once per distinct retrieval; any other
    pipeline once.
    """
    total = result.cost.llm_calls
    for record in result.attempts:
        obs = record.observation
        if obs.candidates:
            total += len({tuple(c.text for c in k.contexts) for k in obs.candidates})
        else:
            total += 1
    return total


def _breakdown(rows: Sequence[tuple[Sequence[str], GuardResult]]) -> Table:
    names = _signal_names(rows)
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(family(name), []).append(name)
    table = Table(title="evidence of the final attempt, by family")
    table.add_column("#", justify="right")
    for label in groups:
        table.add_column(label)
    for i, (_, result) in enumerate(rows, start=1):
        by_name = {s.name: s for s in result.assessment.signals}
        cells = [_family_cell(by_name, group) for group in groups.values()]
        table.add_row(str(i), *cells)
    return table


def _family_cell(by_name: dict[str, SignalResult], names: Sequence[str]) -> Text:
    text = Text()
    for name in names:
        if text:
            text.append("\n")
        text.append(f"{name} ")
        text.append_text(_cell(by_name.get(name)))
        result = by_name.get(name)
        if result is not None and result.details.get("conflict"):
            text.append(" conflict", style="bold magenta")
    return text


def _signal_names(rows: Sequence[tuple[Sequence[str], GuardResult]]) -> list[str]:
    names: dict[str, None] = {}
    for _, result in rows:
        names.update(dict.fromkeys(s.name for s in result.assessment.signals))
    return list(names)


def _cell(result: SignalResult | None) -> Text:
    if result is None:
        return Text("—", style="dim")
    if result.cascade_skipped:
        return Text("skipped (cascade)", style="dim")
    if result.ok:
        return Text(fmt(result.confidence))
    return Text(result.status.value, style="dim red")


def _reasons(rows: Sequence[tuple[Sequence[str], GuardResult]]) -> Table:
    table = Table(title="why", show_header=False, expand=True, box=None)
    table.add_column("#", justify="right")
    table.add_column("reason")
    for i, (_, result) in enumerate(rows, start=1):
        table.add_row(str(i), _reason(result))
    return table


def _reason(result: GuardResult) -> str:
    missing = [f"{s.name}: {s.reason}" for s in result.assessment.missing]
    extra = f" [missing: {'; '.join(missing)}]" if missing else ""
    return f"{result.decision.reason}{extra}"
