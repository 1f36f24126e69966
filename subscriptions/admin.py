"""Console: tariffs (editable, ordered, enable/disable) and subscriptions (extend, expire,
re-provision, move to another node, reset devices). Every action calls a service and is
audited."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.db.models import Prefetch, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display
from unfold.enums import ActionVariant

from core.admin import (
    ConsoleForm,
    ReadOnlyAdmin,
    action_form_page,
    detail_applies,
    detail_button,
    form_action,
    run_for_each,
)
from core.display import (
    DANGER,
    NEUTRAL,
    SUCCESS,
    WARNING,
    badge,
    moment_exact,
    relative_time,
    traffic_format,
)
from core.exports import AuditedExportMixin
from nodes.admin import health_badge
from nodes.display import sync_state_badge
from nodes.models import Node, NodeClient, NodeHealth
from nodes.selectors import LIVE_KEY_STATES
from notifications.formatting import time_left
from subscriptions.models import Device, Subscription, SubscriptionStatus, Tariff
from subscriptions.resources import SubscriptionResource
from subscriptions.services.devices import subscription_devices_reset
from subscriptions.services.lifecycle import (
    subscription_expire,
    subscription_extend,
    subscription_reprovision,
)
from subscriptions.services.moves import subscription_move
from subscriptions.services.tariffs import tariff_save, tariff_set_active


@admin.register(Tariff)
class TariffAdmin(ModelAdmin):
    list_display = [
        "name",
        "duration_days",
        "price",
        "currency",
        "price_stars",
        "device_limit",
        "hwid_device_limit",
        "traffic_limit_gb",
        "traffic_reset",
        "node_count",
        "is_trial",
        "is_active",
        "sort_order",
    ]
    list_editable = ["sort_order"]
    list_filter = ["is_active", "is_trial", "currency", "traffic_reset"]
    search_fields = ["name", "name_en"]
    ordering = ["sort_order", "price", "id"]
    filter_horizontal = ["eligible_nodes"]
    actions = ["enable_selected", "disable_selected"]
    readonly_fields = ["created_at", "updated_at"]

    def has_delete_permission(self, request, obj=None):
        return False  # subscriptions and payments reference tariffs: disable instead

    def save_model(self, request, obj, form, change):
        """Validated by the form (price ≥ 0, duration > 0, constraints); saved by a service."""
        tariff_save(tariff=obj, changed_fields=form.changed_data, actor=request.user)

    def _set_active(self, request: HttpRequest, queryset, active: bool) -> None:
        run_for_each(
            self,
            request,
            queryset.order_by("pk"),
            lambda tariff: tariff_set_active(tariff=tariff, active=active, actor=request.user),
            done=_("{count} tariff(s) enabled.") if active else _("{count} tariff(s) disabled."),
        )

    @admin.action(
        description=_("Enable selected tariffs (offered in the bot)"), permissions=["change"]
    )
    def enable_selected(self, request: HttpRequest, queryset) -> None:
        self._set_active(request, queryset, True)

    @admin.action(
        description=_("Disable selected tariffs (no longer sold)"), permissions=["change"]
    )
    def disable_selected(self, request: HttpRequest, queryset) -> None:
        self._set_active(request, queryset, False)


class ExpiringFilter(admin.SimpleListFilter):
    title = _("expiring soon")
    parameter_name = "expiring"

    def lookups(self, request, model_admin):
        return [("3d", _("In 3 days")), ("7d", _("In 7 days")), ("expired", _("Already ended"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() in ("3d", "7d"):
            return queryset.filter(
                Subscription.objects.running_q(now),
                expires_at__lte=now + timedelta(days=int(self.value()[0])),
            )
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now).exclude(status=SubscriptionStatus.CANCELLED)
        return queryset


class NodeFilter(admin.SimpleListFilter):
    """Subscriptions with a live key on a node."""

    title = _("node")
    parameter_name = "node"

    def lookups(self, request, model_admin):
        return [
            (str(pk), name) for pk, name in Node.objects.order_by("name").values_list("pk", "name")
        ]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(
                keys__node_id=int(self.value()), keys__sync_state__in=LIVE_KEY_STATES
            )
        return queryset


class KeyInline(ReadOnlyAdmin, TabularInline):
    model = NodeClient
    fields = [
        "node",
        "email",
        "sync_state_shown",
        "enable",
        "attempts",
        "last_synced_at",
        "last_error",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("Keys")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("node")

    @admin.display(description=_("Sync state"))
    def sync_state_shown(self, key: NodeClient) -> str:
        return sync_state_badge(key.sync_state, key.get_sync_state_display())


class DeviceInline(ReadOnlyAdmin, TabularInline):
    """The devices (hardware ids) that fetched the feed, last seen first."""

    model = Device
    fields = ["model", "os", "os_version", "user_agent", "hwid", "created_at", "last_seen_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-last_seen_at", "-id"]
    verbose_name_plural = _("Devices (reset them all with the action “Reset devices”)")


STATUS_VARIANTS = {
    SubscriptionStatus.ACTIVE: SUCCESS,
    SubscriptionStatus.EXPIRED: NEUTRAL,
    SubscriptionStatus.SUSPENDED: WARNING,
    SubscriptionStatus.CANCELLED: DANGER,
}


def days_left_text(expires_at) -> str:
    """What is left until `expires_at`, as the bot tells customers (``time_left``: "30 days",
    rounded, from a day on; "5 hours" under one), the exact moment in the title; once past,
    when it ended ("3 hours ago")."""
    left = expires_at - timezone.now()
    if left.total_seconds() <= 0:
        return relative_time(expires_at)
    return format_html('<span title="{}">{}</span>', moment_exact(expires_at), time_left(left))


class ExtendForm(ConsoleForm):
    days = forms.IntegerField(label=_("Days"), min_value=1, max_value=3650, initial=7)
    reason = forms.CharField(
        label=_("Reason"), max_length=255, help_text=_("Kept in the audit log.")
    )


class ExpireForm(ConsoleForm):
    reason = forms.CharField(
        label=_("Reason"), max_length=255, help_text=_("Kept in the audit log.")
    )


class DevicesResetForm(ConsoleForm):
    reason = forms.CharField(
        label=_("Reason"), max_length=255, help_text=_("Kept in the audit log.")
    )


class MoveForm(ConsoleForm):
    node = forms.ModelChoiceField(
        label=_("Node"),
        queryset=Node.objects.filter(is_enabled=True).exclude(health=NodeHealth.DOWN),
        help_text=_("Enabled nodes that are not down."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=255, required=False)


@admin.register(Subscription)
class SubscriptionAdmin(AuditedExportMixin, ModelAdmin):
    resource_classes = [SubscriptionResource]
    list_display = [
        "id",
        "customer_link",
        "tariff",
        "status_label",
        "days_left",
        "nodes_display",
        "is_trial",
        "created_shown",
    ]
    list_filter = ["status", ExpiringFilter, "tariff", NodeFilter, "is_trial"]
    list_select_related = ["customer", "tariff"]
    search_fields = ["customer__username", "=sub_id"]
    search_help_text = _("Subscription id or customer Telegram id (exact), @username, or sub id.")
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    show_full_result_count = False
    inlines = [KeyInline, DeviceInline]
    actions = [
        "extend_selected",
        "expire_selected",
        "reprovision_selected",
        "move_selected",
        "reset_devices_selected",
    ]
    # Buttons on the subscription's page: the list's actions for this subscription.
    actions_detail = [
        "extend_detail",
        "reprovision_detail",
        "move_detail",
        "reset_devices_detail",
        "expire_detail",
    ]
    extend_detail = detail_button(
        "extend_detail",
        "extend_selected",
        description=_("Extend"),
        permission="extend",
        variant=ActionVariant.PRIMARY,
        icon="more_time",
    )
    reprovision_detail = detail_button(
        "reprovision_detail",
        "reprovision_selected",
        description=_("Re-provision keys"),
        permission="change_running",
        icon="sync",
        confirm={
            "title": _("Re-provision keys"),
            "submit": _("Re-provision"),
            "intro": _("Every key of the subscription is pushed to its panel again."),
        },
    )
    move_detail = detail_button(
        "move_detail",
        "move_selected",
        description=_("Move to a node"),
        permission="move",
        icon="swap_horiz",
    )
    reset_devices_detail = detail_button(
        "reset_devices_detail",
        "reset_devices_selected",
        description=_("Reset devices"),
        permission="reset_devices",
        icon="devices_off",
    )
    expire_detail = detail_button(
        "expire_detail",
        "expire_selected",
        description=_("Expire now"),
        permission="change_running",
        variant=ActionVariant.DANGER,
        icon="event_busy",
    )
    readonly_fields = [
        "customer",
        "tariff",
        "status_badge",
        "started_at",
        "expires_shown",
        "client_uuid",
        "sub_id",
        "device_limit",
        "hwid_device_limit",
        "traffic_limit_shown",
        "node_count",
        "traffic_used_shown",
        "traffic_reset",
        "traffic_reset_next_at",
        "traffic_reset_last_at",
        "is_trial",
        "reminders_sent",
        "keys_notified_at",
        "created_at",
        "updated_at",
        "feed_link",
    ]
    fields = readonly_fields

    def get_queryset(self, request):
        live_keys = (
            NodeClient.objects.filter(sync_state__in=LIVE_KEY_STATES)
            .select_related("node")
            .only("id", "subscription_id", "sync_state", "node__name", "node__health")
            .order_by("node__name")
        )
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("keys", queryset=live_keys, to_attr="live_keys"))
        )

    def has_add_permission(self, request):
        return False  # purchases, trials and manual payments create subscriptions

    def has_delete_permission(self, request, obj=None):
        return False

    def has_extend_permission(self, request: HttpRequest, object_id=None) -> bool:
        return request.user.has_perm("subscriptions.extend_subscription")

    # The page's buttons: the action's permission, and only where the action applies.
    def _running(self, request: HttpRequest, object_id) -> bool:
        return self.has_change_permission(request) and detail_applies(
            self, request, object_id, lambda subscription: subscription.is_running()
        )

    def has_change_running_permission(self, request: HttpRequest, object_id=None) -> bool:
        """Expire, re-provision: a running subscription."""
        return self._running(request, object_id)

    def has_move_permission(self, request: HttpRequest, object_id=None) -> bool:
        """A running subscription placed on one node (not on every eligible one)."""
        return self._running(request, object_id) and detail_applies(
            self, request, object_id, lambda subscription: subscription.node_count != 0
        )

    def has_reset_devices_permission(self, request: HttpRequest, object_id=None) -> bool:
        """A subscription with recorded devices."""
        return self.has_change_permission(request) and detail_applies(
            self, request, object_id, lambda subscription: subscription.devices.exists()
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.isdigit():
            return queryset.filter(Q(pk=int(term)) | Q(customer__telegram_id=int(term))), False
        return super().get_search_results(request, queryset, term.lstrip("@"))

    @admin.display(description=_("Customer"), ordering="customer")
    def customer_link(self, subscription: Subscription) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:accounts_customer_change", args=[subscription.customer_id]),
            subscription.customer,
        )

    @display(description=_("Status"), ordering="status", label=STATUS_VARIANTS)
    def status_label(self, subscription: Subscription):
        return subscription.status, subscription.get_status_display()

    @admin.display(description=_("Status"))
    def status_badge(self, subscription: Subscription) -> str:
        return badge(
            subscription.get_status_display(), STATUS_VARIANTS.get(subscription.status, NEUTRAL)
        )

    @admin.display(description=_("Left"), ordering="expires_at")
    def days_left(self, subscription: Subscription) -> str:
        """What is left of an active subscription ("30 days", "5 hours"), the exact end in
        the title; an ended one: when it ended."""
        if subscription.status != SubscriptionStatus.ACTIVE:
            return relative_time(subscription.expires_at)
        return days_left_text(subscription.expires_at)

    @admin.display(description=_("Expires at"))
    def expires_shown(self, subscription: Subscription) -> str:
        return format_html(
            "{} ({})", moment_exact(subscription.expires_at), self.days_left(subscription)
        )

    @admin.display(description=_("Created"), ordering="created_at")
    def created_shown(self, subscription: Subscription) -> str:
        return relative_time(subscription.created_at)

    @admin.display(description=_("Traffic used"))
    def traffic_used_shown(self, subscription: Subscription) -> str:
        return traffic_format(subscription.traffic_used_bytes)

    @admin.display(description=_("Traffic limit"))
    def traffic_limit_shown(self, subscription: Subscription) -> str:
        if not subscription.traffic_limit_bytes:
            return _("Unlimited")
        return traffic_format(subscription.traffic_limit_bytes)

    @admin.display(description=_("Nodes"))
    def nodes_display(self, subscription: Subscription) -> str:
        keys = getattr(subscription, "live_keys", [])
        if not keys:
            return "—"
        return format_html_join(
            " ",
            "{} {}",
            (
                (k.node.name, sync_state_badge(k.sync_state, k.get_sync_state_display()))
                for k in keys
            ),
        )

    @admin.display(description=_("Subscription page"))
    def feed_link(self, subscription: Subscription) -> str:
        url = reverse("subscription-feed", args=[subscription.feed_token])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, _("open"))

    @admin.action(description=_("Extend selected subscriptions by N days…"), permissions=["extend"])
    def extend_selected(self, request: HttpRequest, queryset):
        return form_action(
            self,
            request,
            queryset.select_related("customer", "tariff"),
            form_class=ExtendForm,
            call=lambda subscription, data: subscription_extend(
                subscription=subscription,
                days=data["days"],
                actor=request.user,
                reason=data["reason"],
                tell_customer=True,
            ),
            done=lambda data: _("Extended {count} subscription(s) by {days} day(s).").replace(
                "{days}", str(data["days"])
            ),
            action="extend_selected",
            title=_("Extend subscriptions"),
            submit=_("Extend"),
            intro=_("A running subscription gets the days added; an ended one restarts from now."),
        )

    @admin.action(description=_("Expire selected subscriptions now…"), permissions=["change"])
    def expire_selected(self, request: HttpRequest, queryset):
        return form_action(
            self,
            request,
            queryset.select_related("customer", "tariff"),
            form_class=ExpireForm,
            call=lambda subscription, data: subscription_expire(
                subscription=subscription,
                actor=request.user,
                reason=data["reason"],
                tell_customer=True,
            ),
            done=_("Expired {count} subscription(s); their keys are being disabled."),
            action="expire_selected",
            title=_("Expire subscriptions now"),
            submit=_("Expire now"),
            intro=_("The subscriptions end now and their keys are disabled on every panel."),
        )

    @admin.action(
        description=_("Re-provision keys of selected subscriptions"), permissions=["change"]
    )
    def reprovision_selected(self, request: HttpRequest, queryset) -> None:
        run_for_each(
            self,
            request,
            queryset.order_by("pk"),
            lambda subscription: subscription_reprovision(
                subscription=subscription, actor=request.user
            ),
            done=_("Re-provisioning {count} subscription(s): their keys are pushed again."),
        )

    @admin.action(
        description=_("Move selected subscriptions to another node…"), permissions=["change"]
    )
    def move_selected(self, request: HttpRequest, queryset):
        form = MoveForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            node, reason = form.cleaned_data["node"], form.cleaned_data["reason"]
            run_for_each(
                self,
                request,
                queryset.order_by("pk"),
                lambda subscription: subscription_move(
                    subscription=subscription, node=node, actor=request.user, reason=reason
                ),
                done=_("Moved {count} subscription(s) to {node}.").replace(
                    "{node}", node.name.replace("{", "{{").replace("}", "}}")
                ),
            )
            return None
        nodes = list(form.fields["node"].queryset)
        info = format_html_join(
            ", ", "{} {}", ((node.name, health_badge(node.health)) for node in nodes)
        )
        return action_form_page(
            self,
            request,
            queryset.select_related("customer", "tariff"),
            form=form,
            action="move_selected",
            title=_("Move to another node"),
            submit=_("Move"),
            intro=_(
                "Keys on other nodes are removed from their panels; the customer gets new "
                "links (the subscription URL follows by itself)."
            ),
            extra={"info": info},
        )

    @admin.action(
        description=_("Reset devices (hardware ids) of selected subscriptions…"),
        permissions=["change"],
    )
    def reset_devices_selected(self, request: HttpRequest, queryset):
        return form_action(
            self,
            request,
            queryset.select_related("customer", "tariff"),
            form_class=DevicesResetForm,
            call=lambda subscription, data: subscription_devices_reset(
                subscription=subscription, actor=request.user, reason=data["reason"]
            ),
            done=_("Reset the devices of {count} subscription(s)."),
            action="reset_devices_selected",
            title=_("Reset devices"),
            submit=_("Reset devices"),
            intro=_(
                "Every recorded device is removed; each app is recorded again at its next "
                "update, up to the device limit. The subscriber's own removals in the bot are not "
                "affected."
            ),
        )
