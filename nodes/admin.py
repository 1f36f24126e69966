from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from nodes.models import Node, NodeClient, NodeHealth
from nodes.selectors import nodes_with_load
from nodes.services.health import node_health_check
from nodes.services.push import node_keys_retry
from nodes.services.reconcile import node_reconcile
from nodes.x3ui import X3UIError

HEALTH_COLOURS = {
    NodeHealth.UP: "#12b76a",
    NodeHealth.DEGRADED: "#f79009",
    NodeHealth.DOWN: "#d92d20",
    NodeHealth.UNKNOWN: "#98a2b3",
}


def health_badge(health: str) -> str:
    return format_html(
        '<span style="background:{};color:#fff;padding:2px 8px;border-radius:10px">{}</span>',
        HEALTH_COLOURS.get(health, "#98a2b3"),
        NodeHealth(health).label,
    )


HEALTH_FIELDS = [
    "health",
    "consecutive_failures",
    "last_check_at",
    "last_ok_at",
    "latency_ms",
    "last_error",
    "panel_generation",
    "inbound_cached_at",
    "last_reconcile_at",
    "last_reconcile_result",
    "assigned_total",
]


class NodeForm(forms.ModelForm):
    """Credentials are write-only: the form never shows a stored secret; blank keeps it."""

    panel_url = forms.URLField(
        max_length=300,
        assume_scheme="https",
        help_text="Including webBasePath, e.g. https://panel.example.com:2053/Abc123/",
    )
    panel_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the stored password.",
    )
    panel_api_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Bearer API token (3x-ui v3.0+). Leave blank to keep the stored token.",
    )

    class Meta:
        model = Node
        fields = [
            "name",
            "country",
            "location",
            "panel_url",
            "panel_username",
            "panel_password",
            "panel_api_token",
            "inbound_id",
            "public_host",
            "public_port",
            "is_enabled",
            "weight",
            "max_clients",
        ]

    def clean(self):
        cleaned = super().clean()
        for name in ("panel_password", "panel_api_token"):
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        has_password = cleaned.get("panel_username") and cleaned.get("panel_password")
        if not has_password and not cleaned.get("panel_api_token"):
            raise forms.ValidationError("Give a username and password, or an API token.")
        return cleaned


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    form = NodeForm
    list_display = [
        "name",
        "location_display",
        "health_display",
        "latency_display",
        "clients_display",
        "weight",
        "is_enabled",
        "panel_generation",
        "last_check_at",
        "last_error_short",
    ]
    list_filter = ["health", "is_enabled", "country", "panel_generation"]
    search_fields = ["name", "location", "public_host"]
    actions = ["check_now", "reconcile_now"]
    readonly_fields = ["credentials_display", *HEALTH_FIELDS]
    fieldsets = [
        (None, {"fields": ["name", "country", "location", "is_enabled", "weight", "max_clients"]}),
        (
            "Panel",
            {
                "fields": [
                    "panel_url",
                    "panel_username",
                    "panel_password",
                    "panel_api_token",
                    "credentials_display",
                    "inbound_id",
                ]
            },
        ),
        ("Links", {"fields": ["public_host", "public_port"]}),
        ("Health", {"fields": HEALTH_FIELDS}),
    ]

    def get_queryset(self, request):
        nodes = super().get_queryset(request).defer("inbound_cache", "orphans_first_seen")
        return nodes_with_load(nodes=nodes)

    @admin.display(description="Location", ordering="country")
    def location_display(self, node):
        return " · ".join(x for x in (node.country, node.location) if x)

    @admin.display(description="Health", ordering="health")
    def health_display(self, node):
        return health_badge(node.health)

    @admin.display(description="Latency", ordering="latency_ms")
    def latency_display(self, node):
        return f"{node.latency_ms} ms" if node.latency_ms is not None else "—"

    @admin.display(description="Keys / capacity", ordering="load")
    def clients_display(self, node):
        return f"{node.load} / {node.max_clients or '∞'}"

    @admin.display(description="Last error")
    def last_error_short(self, node):
        return (node.last_error[:80] + "…") if len(node.last_error) > 80 else node.last_error

    @admin.display(description="Stored credentials")
    def credentials_display(self, node):
        parts = []
        if node.panel_password:
            parts.append(f"password {node.panel_password_masked}")
        if node.panel_api_token:
            parts.append(f"API token {node.panel_api_token_masked}")
        return ", ".join(parts) or "—"

    @admin.action(description="Check now (login + status)")
    def check_now(self, request, queryset):
        for node in queryset:
            health = node_health_check(node=node)
            level = messages.SUCCESS if health == NodeHealth.UP else messages.WARNING
            node.refresh_from_db(fields=["last_error", "latency_ms"])
            detail = f"{node.latency_ms} ms" if health == NodeHealth.UP else node.last_error
            self.message_user(request, f"{node.name}: {health} ({detail})", level)

    @admin.action(description="Reconcile now")
    def reconcile_now(self, request, queryset):
        for node in queryset:
            try:
                result = node_reconcile(node=node)
            except X3UIError as exc:
                self.message_user(request, f"{node.name}: reconcile failed: {exc}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{node.name}: added {result['added']}, updated {result['updated']}, "
                f"removed {result['removed']}, unchanged {result['unchanged']}, "
                f"orphans disabled {result['orphans_disabled']}, errors {result['errors']}",
                messages.SUCCESS if result["ok"] else messages.WARNING,
            )


@admin.register(NodeClient)
class NodeClientAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "node",
        "subscription_link",
        "sync_state",
        "enable",
        "attempts",
        "last_synced_at",
        "traffic_display",
        "last_error_short",
    ]
    list_filter = ["sync_state", "enable", "node"]
    search_fields = [
        "email",
        "subscription__customer__username",
        "subscription__customer__telegram_id",
    ]
    list_select_related = ["node", "subscription", "subscription__customer"]
    actions = ["retry"]
    readonly_fields = [f.name for f in NodeClient._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Subscription")
    def subscription_link(self, key):
        return format_html(
            '<a href="../../subscriptions/subscription/{}/change/">#{} {}</a>',
            key.subscription_id,
            key.subscription_id,
            key.subscription.customer,
        )

    @admin.display(description="Traffic")
    def traffic_display(self, key):
        return f"{(key.traffic_up + key.traffic_down) / 1024**3:.2f} GiB"

    @admin.display(description="Last error")
    def last_error_short(self, key):
        return key.last_error[:80]

    @admin.action(description="Retry sync of selected keys")
    def retry(self, request, queryset):
        count = node_keys_retry(key_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} key(s) queued for sync.", messages.SUCCESS)
