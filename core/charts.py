"""Charts as inline SVG: no CDN, no JavaScript, no inline style (the console's CSP allows
none), so a page with charts works offline and costs only the queries behind its figures.

A chart takes a sequence of `DayPoint` (a day and a value: Decimal money or an int count).
Used by the console's dashboard and analytics and by the node pages.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class DayPoint:
    day: date
    value: Decimal | int


WIDTH, HEIGHT = 640, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 8, 12, 24
PLOT_W, PLOT_H = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM


def _number(value: Decimal | int) -> str:
    if isinstance(value, Decimal):
        return f"{value:,.2f}".replace(",", " ")
    return f"{value:,}".replace(",", " ")


def _frame(points: Sequence[DayPoint], top: Decimal | int, title: str, body: list[str]) -> str:
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="console-chart" role="img" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" '
            f'aria-label="{escape(title)}">'
        ),
        f"<title>{escape(title)}</title>",
        (
            f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + PLOT_H}" x2="{WIDTH - PAD_RIGHT}" '
            f'y2="{PAD_TOP + PLOT_H}" stroke="#98a2b3" stroke-width="1"/>'
        ),
        (
            f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{WIDTH - PAD_RIGHT}" y2="{PAD_TOP}" '
            f'stroke="#e4e7ec" stroke-width="1" stroke-dasharray="4 3"/>'
        ),
        (
            f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + 4}" text-anchor="end" font-size="11" '
            f'fill="currentColor">{escape(_number(top))}</text>'
        ),
        (
            f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + PLOT_H + 4}" text-anchor="end" '
            f'font-size="11" fill="currentColor">0</text>'
        ),
    ]
    if points:
        parts.append(
            f'<text x="{PAD_LEFT}" y="{HEIGHT - 6}" font-size="11" fill="currentColor">'
            f"{points[0].day:%d.%m}</text>"
        )
        parts.append(
            f'<text x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 6}" text-anchor="end" font-size="11" '
            f'fill="currentColor">{points[-1].day:%d.%m}</text>'
        )
    parts.extend(body)
    parts.append("</svg>")
    return "".join(parts)


def svg_bar_chart(
    points: Sequence[DayPoint], *, links: Sequence[str] = (), unit: str = "", title: str = ""
) -> SafeString:
    """One bar per day; each bar has a tooltip and, with `links`, opens its changelist."""
    top = max((point.value for point in points), default=0) or 1
    slot = PLOT_W / max(len(points), 1)
    body = []
    for index, point in enumerate(points):
        height = float(point.value) / float(top) * PLOT_H
        x = PAD_LEFT + index * slot + slot * 0.15
        y = PAD_TOP + PLOT_H - height
        tip = f"{point.day:%Y-%m-%d}: {_number(point.value)} {unit}".strip()
        bar = (
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{max(height, 0.5):.1f}" fill="#417690"><title>{escape(tip)}</title></rect>'
        )
        if index < len(links):
            bar = f'<a href="{escape(links[index])}">{bar}</a>'
        body.append(bar)
    return mark_safe(_frame(points, top, title, body))  # noqa: S308 - every value escaped


def svg_line_chart(points: Sequence[DayPoint], *, title: str = "") -> SafeString:
    """A line through one point per day, each with a tooltip."""
    top = max((point.value for point in points), default=0) or 1
    step = PLOT_W / max(len(points) - 1, 1)
    coords = [
        (PAD_LEFT + index * step, PAD_TOP + PLOT_H - float(point.value) / float(top) * PLOT_H)
        for index, point in enumerate(points)
    ]
    body = []
    if coords:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        body.append(f'<polyline points="{path}" fill="none" stroke="#417690" stroke-width="2"/>')
    for (x, y), point in zip(coords, points, strict=True):
        tip = f"{point.day:%Y-%m-%d}: {_number(point.value)}"
        body.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#417690">'
            f"<title>{escape(tip)}</title></circle>"
        )
    return mark_safe(_frame(points, top, title, body))  # noqa: S308 - every value escaped
