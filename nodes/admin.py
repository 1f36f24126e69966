from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from core.admin import ConsoleModelForm
from core.display import relative_time
from core.exceptions import ApplicationError
from nodes.admin_pages import load_bar, node_page_context
from nodes.models import Node, NodeClient, NodeHealth, panel_url_normalize
from nodes.selectors import nodes_with_load
from nodes.services.health import node_health_check
from nodes.services.nodes import node_panel_check, node_panel_inbounds, node_save
from nodes.services.push import node_keys_retry
from nodes.services.reconcile import node_reconcile, node_reconcile_request
from nodes.x3ui import X3UIError
from nodes.x3ui.types import Inbound

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


class NodeForm(ConsoleModelForm):
    """Credentials are write-only: the form never shows a stored secret; blank keeps it.

    Saving logs in to the panel first (``nodes.services.nodes``, the same checks as
    ``manage.py node add``): wrong credentials, an unknown inbound or one that is not VLESS
    are refused with the panel's own message and nothing is saved. After a successful login
    the inbound field lists the panel's inbounds to pick from. "Test connection" (a submit
    button named ``TEST``) runs the same login and listing and saves nothing.
    """

    TEST = "_test_connection"

    panel_url = forms.URLField(
        max_length=300,
        assume_scheme="https",
        label=_("Panel URL"),
        help_text=_("Including webBasePath, e.g. https://panel.example.com:2053/Abc123/"),
    )
    panel_password = forms.CharField(
        required=False,
        label=_("Panel password"),
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave blank to keep the stored password."),
    )
    panel_api_token = forms.CharField(
        required=False,
        label=_("Panel API token"),
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Bearer API token (3x-ui v3.0+). Leave blank to keep the stored token."),
    )
    inbound_id = forms.IntegerField(
        required=False,
        min_value=1,
        label=_("Inbound"),
        help_text=_(
            "The VLESS inbound our keys go on. Test the connection to pick it from the panel's "
            "inbounds."
        ),
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.test_only = self.is_bound and self.TEST in self.data
        # The panel's inbounds after a successful login (None: no login tried or it failed).
        self.inbounds: list[Inbound] | None = None
        self.probe: Node | None = None
        self.original = {name: getattr(self.instance, name) for name in NodeForm.Meta.fields}

    def is_valid(self) -> bool:
        # A test validates everything (the login included) and never lets the admin save.
        return super().is_valid() and not self.test_only

    def clean(self):
        cleaned = super().clean()
        for name in ("panel_password", "panel_api_token"):
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        has_password = cleaned.get("panel_username") and cleaned.get("panel_password")
        if not has_password and not cleaned.get("panel_api_token"):
            raise forms.ValidationError(_("Give a username and password, or an API token."))
        if cleaned.get("panel_url") and not self.errors and self._reaches_the_panel(cleaned):
            self._panel_check(cleaned)
        return cleaned

    def _reaches_the_panel(self, cleaned: dict) -> bool:
        """Whether saving must log in: a new node, a test, or a change of how we reach the
        panel. Other edits (disabling a node whose panel is down, its weight) never wait on
        the panel."""
        if self.test_only or self.instance.pk is None:
            return True
        before = {
            "panel_url": self.instance.panel_url,
            "panel_username": self.instance.panel_username,
            "panel_password": self.instance.panel_password,
            "panel_api_token": self.instance.panel_api_token,
            "inbound_id": self.instance.inbound_id,
        }
        after = {
            **{name: cleaned.get(name) or "" for name in before},
            "panel_url": panel_url_normalize(cleaned["panel_url"]),
            "inbound_id": cleaned.get("inbound_id"),
        }
        return after != before

    def _panel_check(self, cleaned: dict) -> None:
        """Log in, list the inbounds, then check ours as the CLI does (before any save)."""
        inbound_id = cleaned.get("inbound_id")
        probe = Node(
            pk=self.instance.pk,
            name=cleaned.get("name") or "?",
            panel_url=panel_url_normalize(cleaned["panel_url"]),
            panel_username=cleaned.get("panel_username") or "",
            panel_password=cleaned.get("panel_password") or "",
            panel_api_token=cleaned.get("panel_api_token") or "",
            inbound_id=inbound_id or 0,
        )
        try:
            self.inbounds = node_panel_inbounds(node=probe)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None
        self._offer_inbounds()
        if not inbound_id:
            if not self.test_only:
                self.add_error("inbound_id", _("Pick the inbound our keys go on."))
            return
        if inbound_id not in {inbound.id for inbound in self.inbounds}:
            self.add_error(
                "inbound_id",
                _("The panel has no inbound %(id)s that this user can see.") % {"id": inbound_id},
            )
            return
        try:
            node_panel_check(node=probe)
        except ApplicationError as exc:
            self.add_error("inbound_id", exc.message)
            return
        self.probe = probe

    def _offer_inbounds(self) -> None:
        """The inbound field as a choice of the panel's inbounds; the secrets just typed stay
        typed (a blank one keeps the stored value and renders blank)."""
        choices = [("", "---------")] + [
            (inbound.id, inbound_label(inbound)) for inbound in self.inbounds or ()
        ]
        self.fields["inbound_id"].widget = forms.Select(choices=choices)
        for name in ("panel_password", "panel_api_token"):
            self.fields[name].widget.render_value = True

    def panel_apply(self, node: Node) -> None:
        """What the panel check learnt (API generation, our inbound) onto the node to save."""
        if self.probe is not None:
            node.panel_generation = self.probe.panel_generation
            node.inbound_cache = self.probe.inbound_cache
            node.inbound_cached_at = self.probe.inbound_cached_at

    def changed_fields(self, node: Node) -> list[str]:
        return [name for name, before in self.original.items() if getattr(node, name) != before]


def inbound_label(inbound: Inbound) -> str:
    remark = f" · {inbound.remark}" if inbound.remark else ""
    return f"{inbound.id}{remark} · {inbound.protocol or '?'}:{inbound.port}"


@admin.register(Node)
class NodeAdmin(ModelAdmin):
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
        "last_check_display",
        "last_error_short",
    ]
    list_filter = ["health", "is_enabled", "country", "panel_generation"]
    search_fields = ["name", "location", "public_host"]
    actions = ["check_now", "reconcile_now"]
    readonly_fields = ["credentials_display", *HEALTH_FIELDS]
    fieldsets = [
        (None, {"fields": ["name", "country", "location", "is_enabled", "weight", "max_clients"]}),
        (
            _("Panel"),
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
        (_("Links"), {"fields": ["public_host", "public_port"]}),
        (_("Health"), {"fields": HEALTH_FIELDS}),
    ]

    def save_model(self, request, obj, form, change):
        """Through the service: the audit row names the operator (the panel was checked by
        the form)."""
        form.panel_apply(obj)
        node_save(
            node=obj,
            actor=request.user,
            changed_fields=form.changed_fields(obj),
            created=not change,
        )

    # The node's page: load, keys, traffic, the checks' history and the last reconcile above
    # the form (nodes/admin_pages.py, templates/admin/nodes/node/change_form.html).
    class Media:
        css = {"all": ["nodes/node.css"]}

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None and obj.pk:
            context.update(
                node_page_context(node=obj, can_change=self.has_change_permission(request, obj)),
                health_badge=health_badge(obj.health),
            )
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def get_urls(self):
        reconcile = path(
            "<path:object_id>/reconcile/",
            self.admin_site.admin_view(self.reconcile_view),
            name="nodes_node_reconcile",
        )
        return [reconcile, *super().get_urls()]

    def reconcile_view(self, request, object_id):
        """POST: queue a reconcile of the node, audited with the operator
        (``node_reconcile_request``, as the operator API does); operators only."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        node = self.get_object(request, unquote(object_id))
        if node is None:
            raise Http404
        if not self.has_change_permission(request, node):
            raise PermissionDenied
        node_reconcile_request(node=node, actor=request.user)
        self.message_user(
            request,
            _("Reconcile of %(node)s queued; its result shows under “Last reconcile”.")
            % {"node": node.name},
            messages.SUCCESS,
        )
        return redirect("admin:nodes_node_change", node.pk)

    @admin.display(description=_("Last check"), ordering="last_check_at")
    def last_check_display(self, node):
        return relative_time(node.last_check_at)

    def get_queryset(self, request):
        nodes = super().get_queryset(request).defer("inbound_cache", "orphans_first_seen")
        return nodes_with_load(nodes=nodes)

    @admin.display(description=_("Location"), ordering="country")
    def location_display(self, node):
        return " · ".join(x for x in (node.country, node.location) if x)

    @admin.display(description=_("Health"), ordering="health")
    def health_display(self, node):
        return health_badge(node.health)

    @admin.display(description=_("Latency"), ordering="latency_ms")
    def latency_display(self, node):
        if node.latency_ms is None:
            return "—"
        return _("%(ms)s ms") % {"ms": node.latency_ms}

    @admin.display(description=_("Keys / capacity"), ordering="load")
    def clients_display(self, node):
        return load_bar(node.load, node.max_clients)

    @admin.display(description=_("Last error"))
    def last_error_short(self, node):
        return (node.last_error[:80] + "…") if len(node.last_error) > 80 else node.last_error

    @admin.display(description=_("Stored credentials"))
    def credentials_display(self, node):
        parts = []
        if node.panel_password:
            parts.append(_("password %(masked)s") % {"masked": node.panel_password_masked})
        if node.panel_api_token:
            parts.append(_("API token %(masked)s") % {"masked": node.panel_api_token_masked})
        return ", ".join(parts) or "—"

    @admin.action(description=_("Check now (login + status)"), permissions=["change"])
    def check_now(self, request, queryset):
        for node in queryset:
            health = node_health_check(node=node)
            level = messages.SUCCESS if health == NodeHealth.UP else messages.WARNING
            node.refresh_from_db(fields=["last_error", "latency_ms"])
            if health == NodeHealth.UP:
                detail = _("%(ms)s ms") % {"ms": node.latency_ms}
            else:
                detail = node.last_error
            label = NodeHealth(health).label
            self.message_user(request, f"{node.name}: {label} ({detail})", level)

    @admin.action(description=_("Reconcile now"), permissions=["change"])
    def reconcile_now(self, request, queryset):
        for node in queryset:
            try:
                result = node_reconcile(node=node)
            except X3UIError as exc:
                self.message_user(
                    request,
                    _("%(node)s: reconcile failed: %(error)s") % {"node": node.name, "error": exc},
                    messages.ERROR,
                )
                continue
            self.message_user(
                request,
                _(
                    "%(node)s: added %(added)s, updated %(updated)s, removed %(removed)s, "
                    "unchanged %(unchanged)s, orphans disabled %(orphans_disabled)s, "
                    "errors %(errors)s"
                )
                % {**result, "node": node.name},
                messages.SUCCESS if result["ok"] else messages.WARNING,
            )


@admin.register(NodeClient)
class NodeClientAdmin(ModelAdmin):
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

    @admin.display(description=_("Subscription"))
    def subscription_link(self, key):
        return format_html(
            '<a href="../../subscriptions/subscription/{}/change/">#{} {}</a>',
            key.subscription_id,
            key.subscription_id,
            key.subscription.customer,
        )

    @admin.display(description=_("Traffic"))
    def traffic_display(self, key):
        gib = f"{(key.traffic_up + key.traffic_down) / 1024**3:.2f}"
        return _("%(gib)s GiB") % {"gib": gib}

    @admin.display(description=_("Last error"))
    def last_error_short(self, key):
        return key.last_error[:80]

    @admin.action(description=_("Retry sync of selected keys"))
    def retry(self, request, queryset):
        count = node_keys_retry(key_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request, _("%(count)s key(s) queued for sync.") % {"count": count}, messages.SUCCESS
        )
