"""The console dashboard: figures from `console.selectors.dashboard_get`, links, SVG charts.

The charts are inline SVG drawn by `core.charts` (no CDN, no JavaScript), so the page works
offline and costs nothing beyond the dashboard's aggregate queries.
"""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from billing.models import PaymentStatus
from console.onboarding import onboarding_steps, secrets_status
from console.selectors import dashboard_get, local_midnight
from core.charts import svg_bar_chart, svg_line_chart
from core.display import relative_time

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


PERIOD_LABELS = {"today": _("Today"), "7d": _("7 days"), "30d": _("30 days")}


@register.filter(name="relative_time")
def relative_time_filter(moment: datetime | None):
    """ "in 2 days" / "через 2 дня", the exact time in the title (core.display)."""
    return relative_time(moment)


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
            "status_label": PaymentStatus(status).label
            if status in PaymentStatus.values
            else status,
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
            dash.revenue_chart, links=revenue_links, unit=dash.currency, title=_("Revenue")
        ),
        "active_chart": svg_line_chart(dash.active_chart, title=_("Active subscriptions")),
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


@register.simple_tag(name="health_badge")
def health_badge(health: str) -> str:
    """The nodes admin's colour badge for a node's health.

    Imported when first used: django-unfold's admin module renders a widget while it is
    imported, which loads every template library, this one too; an admin module imported
    from here at module level would then be imported half-way through unfold's (a cycle)."""
    from nodes.admin import health_badge as nodes_health_badge

    return nodes_health_badge(health)
