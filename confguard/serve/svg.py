"""Server-rendered SVG plots for the dashboard: no JavaScript, no plotting library.

Every label passes through `html.escape`; the only markup is built here.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from confguard.serve.stats import ACTIONS, Bin, DayCount

COLOURS = {
    "accept": "#2e7d32",
    "annotate": "#9e9d24",
    "retry": "#1565c0",
    "escalate": "#ef6c00",
    "abstain": "#c62828",
}
W, H, PAD = 640, 240, 40


def _svg(body: list[str], title: str, width: int = W, height: int = H) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="#333">{escape(text)}</text>'
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" '
        f'height="{max(h, 0):.1f}" fill="{fill}"><title>{escape(tip)}</title></rect>'
    )


def _axes(width: int = W, height: int = H) -> list[str]:
    return [
        f'<line x1="{PAD}" y1="{height - PAD}" x2="{width - 10}" y2="{height - PAD}" '
        'stroke="#555"/>',
        f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{height - PAD}" stroke="#555"/>',
    ]


def _legend(y: float) -> list[str]:
    out = []
    for i, action in enumerate(ACTIONS):
        x = PAD + i * 110
        out.append(_rect(x, y - 9, 10, 10, COLOURS[action], action))
        out.append(_text(x + 14, y, action, anchor="start"))
    return out


def decisions_by_day(days: Sequence[DayCount]) -> Markup:
    """Stacked bars: decisions per day, coloured by action."""
    body = _axes()
    if not days:
        return _svg([*body, _text(W / 2, H / 2, "no decisions yet")], "decisions")
    top = max(sum(d.counts.values()) for d in days) or 1
    step = (W - PAD - 20) / len(days)
    for i, day in enumerate(days):
        base: float = H - PAD
        x = PAD + 4 + i * step
        for action in ACTIONS:
            n = day.counts.get(action, 0)
            h = n / top * (H - PAD - 30)
            base -= h
            tip = f"{day.day.isoformat()}: {n} {action}"
            body.append(_rect(x, base, step * 0.8, h, COLOURS[action], tip))
        if len(days) <= 14 or i % max(1, len(days) // 7) == 0:
            body.append(_text(x + step * 0.4, H - PAD + 14, day.day.strftime("%m-%d")))
    body.append(_text(PAD - 4, 18, str(top), anchor="end"))
    body.extend(_legend(H - 6))
    return _svg(body, "decisions by action per day")


def histogram(action: str, counts: Sequence[int]) -> Markup:
    """One action's confidences in ten bins of [0, 1]."""
    width, height = 300, 160
    body = _axes(width, height)
    top = max(counts, default=0) or 1
    step = (width - PAD - 20) / len(counts)
    for i, n in enumerate(counts):
        h = n / top * (height - PAD - 20)
        tip = f"{action}: {n} with confidence in [{i / 10:.1f}, {(i + 1) / 10:.1f})"
        body.append(
            _rect(
                PAD + i * step + 1, height - PAD - h, step - 2, h, COLOURS[action], tip
            )
        )
    body.append(_text(PAD, height - PAD + 14, "0"))
    body.append(_text(width - 20, height - PAD + 14, "1"))
    body.append(_text(width / 2, 14, f"{action} ({sum(counts)})"))
    return _svg(body, f"confidence of {action} decisions", width, height)


def reliability_diagram(bins: Sequence[Bin]) -> Markup:
    """Share of approved answers against mean confidence, per equal-mass bin."""
    size = 300
    body = _axes(size, size)
    span = size - PAD - 10
    body.append(
        f'<line x1="{PAD}" y1="{size - PAD}" x2="{PAD + span}" '
        f'y2="{size - PAD - span}" '
        'stroke="#aaa" stroke-dasharray="4 3"/>'
    )
    for b in bins:
        x = PAD + b.confidence * span
        y = size - PAD - b.accuracy * span
        tip = f"confidence {b.confidence:.2f}: {b.accuracy:.0%} right of {b.count}"
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{3 + min(b.count, 50) / 8:.1f}" '
            f'fill="#1565c0" fill-opacity="0.7"><title>{escape(tip)}</title></circle>'
        )
    if not bins:
        body.append(_text(size / 2, size / 2, "no verdicts yet"))
    body.append(_text(size / 2, size - 8, "confidence"))
    body.append(_text(12, 20, "right", anchor="start"))
    return _svg(body, "reliability diagram from reviewers' verdicts", size, size)


__all__ = ["COLOURS", "decisions_by_day", "histogram", "reliability_diagram"]
