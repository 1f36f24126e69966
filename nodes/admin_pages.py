"""The node's page and the node list in the console: what ``NodeAdmin`` shows beside the
form (load, keys by state, traffic, the checks' history, the last reconcile) and the list's
load bar and last check. Figures come from ``nodes.selectors.node_overview_get``; this module
only lays them out (links, charts, readable numbers)."""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.charts import TimePoint, svg_time_chart
from core.display import relative_time, traffic_format
from nodes.models import Node, SyncState
from nodes.selectors import CheckHour, node_overview_get

# What a reconcile result holds (nodes.services.reconcile.node_reconcile), in page order.
RECONCILE_COUNTS = {
    "added": gettext_lazy("added"),
    "updated": gettext_lazy("updated"),
    "removed": gettext_lazy("removed"),
    "unchanged": gettext_lazy("unchanged"),
    "errors": gettext_lazy("errors"),
    "orphans_disabled": gettext_lazy("orphans disabled"),
    "orphans_deleted": gettext_lazy("orphans deleted"),
    "orphans_pending": gettext_lazy("orphans waiting"),
    "requests": gettext_lazy("panel requests"),
}


def load_bar(load: int, max_clients: int) -> str:
    """Keys / capacity with a <meter> (no inline style: the console's CSP allows none)."""
    if not max_clients:
        return format_html('<span class="node-load">{} / {}</span>', load, _("unlimited"))
    return format_html(
        '<span class="node-load"><meter value="{}" min="0" max="{}" low="{}" high="{}" '
        'optimum="0">{}%</meter> {} / {}</span>',
        load,
        max_clients,
        round(max_clients * 0.7),
        round(max_clients * 0.9),
        round(load * 100 / max_clients),
        load,
        max_clients,
    )


def _changelist(model: str, **params) -> str:
    url = reverse(f"admin:{model}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def _latency_points(hours: list[CheckHour]) -> list[TimePoint]:
    return [
        TimePoint(
            hour.at,
            hour.latency_ms,
            _("%(failed)s of %(checks)s checks failed")
            % {"failed": hour.checks - hour.ok, "checks": hour.checks}
            if hour.ok < hour.checks
            else "",
        )
        for hour in hours
    ]


def node_page_context(*, node: Node, can_change: bool, now: datetime | None = None) -> dict:
    """The template's context for the node page (templates/admin/nodes/node/change_form.html)."""
    now = now or timezone.now()
    overview = node_overview_get(node=node, now=now)
    day_start = now - timedelta(days=1)
    day_hours = [hour for hour in overview.hours if hour.at > day_start - timedelta(hours=1)]
    states = [
        {
            "state": state,
            "label": label,
            "count": overview.keys_by_state[state],
            "url": _changelist(
                "nodes_nodeclient", node__id__exact=node.pk, sync_state__exact=state
            ),
        }
        for state, label in SyncState.choices
    ]
    result = node.last_reconcile_result or {}
    return {
        "overview": overview,
        "load_bar": load_bar(overview.load, node.max_clients),
        "key_states": states,
        "keys_url": _changelist("nodes_nodeclient", node__id__exact=node.pk),
        "subscriptions_url": _changelist("subscriptions_subscription", node=node.pk),
        "traffic_up": traffic_format(overview.traffic_up),
        "traffic_down": traffic_format(overview.traffic_down),
        "traffic_total": traffic_format(overview.traffic_up + overview.traffic_down),
        "top_keys": [
            {
                "key": key,
                "url": reverse("admin:nodes_nodeclient_change", args=[key.pk]),
                "subscription_url": reverse(
                    "admin:subscriptions_subscription_change", args=[key.subscription_id]
                ),
                "up": traffic_format(key.traffic_up),
                "down": traffic_format(key.traffic_down),
                "total": traffic_format(key.traffic_up + key.traffic_down),
            }
            for key in overview.top_keys
        ],
        "chart_day": svg_time_chart(
            _latency_points(day_hours),
            title=_("Latency, last 24 hours (ms, hourly mean)"),
            unit=_("ms"),
            label_format="%H:%M",
        ),
        "chart_week": svg_time_chart(
            _latency_points(overview.hours),
            title=_("Latency, last 7 days (ms, hourly mean)"),
            unit=_("ms"),
            label_format="%d.%m %H:%M",
        ),
        "windows": [(_("Last 24 hours"), overview.day), (_("Last 7 days"), overview.week)],
        "retention_days": settings.NODE_CHECK_RETENTION_DAYS,
        "last_check": relative_time(node.last_check_at),
        "last_failure_at": relative_time(overview.last_failure.checked_at)
        if overview.last_failure
        else None,
        "reconcile": {
            "at": relative_time(node.last_reconcile_at),
            "ok": result.get("ok"),
            "error": result.get("error", ""),
            "counts": [
                {"name": name, "label": label, "value": result[name]}
                for name, label in RECONCILE_COUNTS.items()
                if name in result
            ],
        },
        "can_reconcile": can_change,
        "reconcile_url": reverse("admin:nodes_node_reconcile", args=[node.pk]),
    }
