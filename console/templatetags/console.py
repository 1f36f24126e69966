"""The console dashboard: figures from `console.selectors.dashboard_get`, links, SVG charts.

The charts are drawn here as inline SVG (no CDN, no JavaScript), so the page works offline
and costs nothing beyond the dashboard's aggregate queries.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from console.onboarding import onboarding_steps, secrets_status
from console.selectors import DayPoint, dashboard_get, local_midnight
from nodes.admin import health_badge

register = template.Library()


def changelist_url(model_label: str, **params) -> str:
    """The admin changelist of `app_label.model`, filtered by `params` (datetimes as ISO)."""
    app_label, model = model_label.split(".")
    query = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in params.items()
    }
    url = reverse(f"admin:{app_label}_{model}_changelist")
    return f"{url}?{urlencode(query)}" if query else url


PERIOD_LABELS = {"today": "Today", "7d": "7 days", "30d": "30 days"}


@register.simple_tag(takes_context=True)
def console_dashboard(context) -> dict | None:
    """The dashboard for operators who may view customers; None for anyone else."""
    request = context.get("request")
    if request is None or not request.user.has_perm("accounts.view_customer"):
        return None
    dash = dashboard_get()
    now = dash.now
    periods = [
        {
            "key": key,
            "label": label,
            "customers": dash.customers_new[key],
            "customers_url": changelist_url("accounts.customer", created_at__gte=dash.starts[key]),
            "revenue": dash.revenue[dash.currency][key],
            "paid": dash.payments_paid[key],
            "revenue_url": changelist_url(
                "billing.payment", status__exact="paid", paid_at__gte=dash.starts[key]
            ),
        }
        for key, label in PERIOD_LABELS.items()
    ]
    other_currencies = [
        {"currency": code, **{key: totals[key] for key in PERIOD_LABELS}}
        for code, totals in dash.revenue.items()
        if code != dash.currency and any(totals.values())
    ]
    by_provider = [
        {
            "provider": provider,
            "status": status,
            "count": count,
            "amount": amount,
            "url": changelist_url(
                "billing.payment",
                provider=provider,
                status__exact=status,
                created_at__gte=dash.starts["30d"],
            ),
        }
        for provider, status, count, amount in dash.payments_by_provider
    ]
    nodes = [
        {
            "node": row.node,
            "load": row.load,
            "errors": row.errors,
            "stuck": row.stuck,
            "url": reverse("admin:nodes_node_change", args=[row.node.pk]),
            "errors_url": changelist_url(
                "nodes.nodeclient", node__id__exact=row.node.pk, sync_state__exact="error"
            ),
            "stuck_url": changelist_url(
                "nodes.nodeclient",
                node__id__exact=row.node.pk,
                sync_state__exact="pending",
                updated_at__lt=dash.stuck_before,
            ),
        }
        for row in dash.nodes
    ]
    revenue_links = [
        changelist_url(
            "billing.payment",
            status__exact="paid",
            paid_at__gte=local_midnight(point.day, dash.tz),
            paid_at__lt=local_midnight(point.day + timedelta(days=1), dash.tz),
        )
        for point in dash.revenue_chart
    ]
    steps = onboarding_steps(nodes=dash.nodes)
    return {
        "dash": dash,
        "onboarding": steps,
        "onboarding_left": sum(not step.done for step in steps),
        "secrets": secrets_status(),
        "periods": periods,
        "other_currencies": other_currencies,
        "by_provider": by_provider,
        "nodes": nodes,
        "revenue_chart": svg_bar_chart(
            dash.revenue_chart, links=revenue_links, unit=dash.currency, title="Revenue"
        ),
        "active_chart": svg_line_chart(dash.active_chart, title="Active subscriptions"),
        "active_url": changelist_url(
            "subscriptions.subscription", status__exact="active", expires_at__gt=now
        ),
        "expiring_url": changelist_url("subscriptions.subscription", expiring="3d"),
        "keys_error_url": changelist_url("nodes.nodeclient", sync_state__exact="error"),
        "keys_stuck_url": changelist_url(
            "nodes.nodeclient", sync_state__exact="pending", updated_at__lt=dash.stuck_before
        ),
        "webhooks_failed_url": changelist_url(
            "billing.webhookevent", status__exact="failed", dismissed_at__isnull="True"
        ),
        "webhooks_failed": [
            {
                "event": event,
                "url": reverse("admin:billing_webhookevent_change", args=[event.pk]),
            }
            for event in dash.webhooks_failed
        ],
        "customers_url": changelist_url("accounts.customer"),
        "payments_url": changelist_url("billing.payment", created_at__gte=dash.starts["30d"]),
        "nodes_url": changelist_url("nodes.node"),
    }


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


# The nodes admin's colour badge for a node's health.
register.simple_tag(health_badge, name="health_badge")
