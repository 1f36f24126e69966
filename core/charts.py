"""Charts as inline SVG: no CDN, no JavaScript, no inline style (the console's CSP allows
none), so a page with charts works offline and costs only the queries behind its figures.

A chart takes a sequence of `DayPoint` (a day and a value: Decimal money or an int count), or
for `svg_time_chart` of `TimePoint` (a moment, a value or none, an optional alert). Used by
the console's dashboard and analytics and by the node pages.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone
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


@dataclass(frozen=True)
class TimePoint:
    """One slot of a time series (an hour, say): its start, its value (None: nothing was
    measured then, a gap in the line) and an alert (non-empty: a red mark under the slot with
    this text as its tooltip)."""

    at: datetime
    value: Decimal | int | None
    alert: str = ""


def svg_time_chart(
    points: Sequence[TimePoint], *, title: str = "", unit: str = "", label_format: str = "%H:%M"
) -> SafeString:
    """A line over evenly spaced slots, broken where a slot has no value; the first, middle
    and last slots are labelled in the current time zone with `label_format`."""
    top = max((p.value for p in points if p.value is not None), default=0) or 1
    step = PLOT_W / max(len(points) - 1, 1)
    radius = 3 if len(points) <= 48 else 1.5
    body, segment = [], []
    for index, point in enumerate(points):
        x = PAD_LEFT + index * step
        when = timezone.localtime(point.at)
        if point.alert:
            body.append(
                f'<rect class="alert" x="{x - max(step / 2, 1):.1f}" y="{PAD_TOP + PLOT_H - 4}" '
                f'width="{max(step, 2):.1f}" height="4" fill="#d92d20">'
                f"<title>{escape(f'{when:%Y-%m-%d %H:%M}: {point.alert}')}</title></rect>"
            )
        if point.value is None:
            if len(segment) > 1:
                body.append(_polyline(segment))
            segment = []
            continue
        y = PAD_TOP + PLOT_H - float(point.value) / float(top) * PLOT_H
        segment.append((x, y))
        tip = f"{when:%Y-%m-%d %H:%M}: {_number(point.value)} {unit}".strip()
        body.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="#417690">'
            f"<title>{escape(tip)}</title></circle>"
        )
    if len(segment) > 1:
        body.append(_polyline(segment))
    last = len(points) - 1
    for index in sorted({0, last // 2, last}) if points else ():
        anchor = "start" if index == 0 else "end" if index == last else "middle"
        label = f"{timezone.localtime(points[index].at):{label_format}}"
        body.append(
            f'<text x="{PAD_LEFT + index * step:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}" '
            f'font-size="11" fill="currentColor">{escape(label)}</text>'
        )
    return mark_safe(_frame([], top, title, body))  # noqa: S308 - every value escaped


def _polyline(coords: list[tuple[float, float]]) -> str:
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    return f'<polyline points="{path}" fill="none" stroke="#417690" stroke-width="2"/>'
