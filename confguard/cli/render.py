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


def results_view(rows: Sequence[tuple[Sequence[str], GuardResult]]) -> Group:
    """Answers and decisions, the per-signal breakdown, and why each decision was made.

    Each row is (gold answers, possibly empty; the guard's result).
    """
    return Group(_answers(rows), _breakdown(rows), _reasons(rows))


def _answers(rows: Sequence[tuple[Sequence[str], GuardResult]]) -> Table:
    table = Table(title="answers and decisions", show_lines=False, expand=True)
    table.add_column("#", justify="right")
    table.add_column("question", ratio=3)
    table.add_column("model answer", ratio=2)
    table.add_column("gold", ratio=2)
    table.add_column("conf", justify="right")
    table.add_column("decision")
    table.add_column("s", justify="right")
    for i, (gold, result) in enumerate(rows, start=1):
        table.add_row(
            str(i),
            result.question,
            result.attempts[-1].observation.answer if result.attempts else "",
            " | ".join(gold) or "(not in corpus)",
            fmt(result.confidence),
            _trail(result),
            f"{result.latency_seconds:.1f}",
        )
    return table


def _trail(result: GuardResult) -> Text:
    text = Text()
    for record in result.attempts[:-1]:
        text.append(f"{record.decision.action} → ", style=_STYLES["retry"])
    action = result.decision.action
    return text.append(action, style=_STYLES[action])


def _breakdown(rows: Sequence[tuple[Sequence[str], GuardResult]]) -> Table:
    names = _signal_names(rows)
    table = Table(title="signals of the final attempt")
    table.add_column("#", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for i, (_, result) in enumerate(rows, start=1):
        by_name = {s.name: s for s in result.assessment.signals}
        table.add_row(str(i), *(_cell(by_name.get(n)) for n in names))
    return table


def _signal_names(rows: Sequence[tuple[Sequence[str], GuardResult]]) -> list[str]:
    names: dict[str, None] = {}
    for _, result in rows:
        names.update(dict.fromkeys(s.name for s in result.assessment.signals))
    return list(names)


def _cell(result: SignalResult | None) -> Text:
    if result is None:
        return Text("")
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
