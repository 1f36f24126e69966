"""The customer card: a customer with their subscriptions, keys and payments on one page,
and the operator's actions on them (ban, unban, message; docs/console.md)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display
from unfold.enums import ActionVariant

from accounts.models import Customer
from accounts.resources import CustomerResource
from billing.admin import PAYMENT_STATUS_VARIANTS
from billing.models import BalanceEntry, Payment
from billing.selectors import referral_stats
from billing.services.balance import balance_adjust, balance_adjust_key
from core.admin import ConsoleForm, ReadOnlyAdmin, detail_applies, detail_button, form_action
from core.display import DANGER, SUCCESS, WARNING, badge, relative_time
from core.exports import AuditedExportMixin
from nodes.display import sync_state_badge
from nodes.models import NodeClient, SyncState
from notifications.formatting import money_format
from notifications.models import OutboxStatus
from notifications.services import TELEGRAM_TEXT_LIMIT
from subscriptions.admin import STATUS_VARIANTS as SUBSCRIPTION_STATUS_VARIANTS
from subscriptions.admin import days_left_text
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.services.customers import customer_ban, customer_message_send, customer_unban

INLINE_LIMIT = 20


class LimitedInlineFormSet(BaseInlineFormSet):
    """Shows the newest INLINE_LIMIT rows only; the full list is one link away."""

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset()[:INLINE_LIMIT]
        return self._queryset


class ReadOnlyInline(ReadOnlyAdmin, TabularInline):
    formset = LimitedInlineFormSet
    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class SubscriptionInline(ReadOnlyInline):
    model = Subscription
    fields = ["tariff", "status_shown", "started_at", "left", "is_trial", "keys_notified_at"]
    ordering = ["-created_at"]
    verbose_name_plural = format_lazy(_("Subscriptions (newest {count})"), count=INLINE_LIMIT)

    def get_queryset(self, request):
        # The rows' titles (str) name the customer and the tariff.
        return super().get_queryset(request).select_related("customer", "tariff")

    @admin.display(description=_("Status"))
    def status_shown(self, subscription: Subscription) -> str:
        variant = SUBSCRIPTION_STATUS_VARIANTS.get(subscription.status, "")
        return badge(subscription.get_status_display(), variant)

    @admin.display(description=_("Left"))
    def left(self, subscription: Subscription) -> str:
        if subscription.status != SubscriptionStatus.ACTIVE:
            return relative_time(subscription.expires_at)
        return days_left_text(subscription.expires_at)


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["provider", "amount_shown", "status_shown", "tariff", "paid", "created"]
    ordering = ["-created_at"]
    verbose_name_plural = format_lazy(_("Payments (newest {count})"), count=INLINE_LIMIT)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tariff")

    @admin.display(description=_("Amount"))
    def amount_shown(self, payment: Payment) -> str:
        return money_format(payment.amount, payment.currency)

    @admin.display(description=_("Status"))
    def status_shown(self, payment: Payment) -> str:
        return badge(payment.get_status_display(), PAYMENT_STATUS_VARIANTS.get(payment.status, ""))

    @admin.display(description=_("Paid"))
    def paid(self, payment: Payment) -> str:
        return relative_time(payment.paid_at)

    @admin.display(description=_("Created"))
    def created(self, payment: Payment) -> str:
        return relative_time(payment.created_at)


class BalanceEntryInline(ReadOnlyInline):
    """The balance ledger, newest first (read-only: entries are only ever added)."""

    model = BalanceEntry
    fk_name = "customer"
    fields = ["created_at", "kind", "amount", "balance_after", "source_key", "operator", "reason"]
    ordering = ["-created_at", "-pk"]
    show_change_link = False
    verbose_name_plural = format_lazy(_("Balance ledger (newest {count})"), count=INLINE_LIMIT)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("operator")


class BalanceAdjustForm(ConsoleForm):
    amount = forms.DecimalField(
        label=_("Amount"),
        max_digits=12,
        decimal_places=2,
        help_text=_("Roubles to add; negative to take off (never below zero)."),
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=255, help_text=_("Kept on the ledger entry and audited.")
    )
    # One key per form shown: submitting the same form twice adjusts once.
    key = forms.CharField(widget=forms.HiddenInput, initial=balance_adjust_key, max_length=64)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("Enter a non-zero amount."))
        return amount


class BanForm(ConsoleForm):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Kept on the customer and in the audit log; the customer is not shown it."),
    )


class UnbanForm(ConsoleForm):
    reason = forms.CharField(label=_("Reason"), max_length=255, required=False)


class MessageForm(ConsoleForm):
    text = forms.CharField(
        label=_("Text"),
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        max_length=TELEGRAM_TEXT_LIMIT,
        help_text=_("Plain text, sent by the bot through the outbox."),
    )


class BlockedBotFilter(admin.SimpleListFilter):
    title = _("bot blocked")
    parameter_name = "bot_blocked"

    def lookups(self, request, model_admin):
        return [("yes", _("Blocked the bot")), ("no", _("Reachable"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(bot_blocked_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(bot_blocked_at__isnull=True)
        return queryset


STATE_VARIANTS = {"banned": DANGER, "blocked": WARNING, "active": SUCCESS}


def customer_state(customer: Customer) -> tuple[str, str]:
    """Banned by an operator, else blocked the bot, else active (reachable)."""
    if customer.is_banned:
        return "banned", _("Banned")
    if customer.bot_blocked_at is not None:
        return "blocked", _("Blocked the bot")
    return "active", _("Active")


@admin.register(Customer)
class CustomerAdmin(AuditedExportMixin, ModelAdmin):
    resource_classes = [CustomerResource]
    list_display = [
        "telegram_id",
        "who",
        "language",
        "state",
        "balance_shown",
        "created_shown",
        "last_seen_shown",
    ]
    list_filter = ["is_banned", BlockedBotFilter, "language", "created_at"]
    search_fields = ["username", "first_name", "last_name", "=referral_code"]
    search_help_text = _("Telegram id (exact), @username, name or referral code.")
    list_select_related = ["referred_by"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    show_full_result_count = False
    inlines = [SubscriptionInline, PaymentInline, BalanceEntryInline]
    actions = ["ban_selected", "unban_selected", "message_selected", "adjust_balance_selected"]
    # Buttons on the customer's page: the list's actions for this customer (core.admin).
    actions_detail = ["message_detail", "adjust_balance_detail", "unban_detail", "ban_detail"]
    message_detail = detail_button(
        "message_detail",
        "message_selected",
        description=_("Write a message"),
        permission="message_one",
        icon="chat",
    )
    adjust_balance_detail = detail_button(
        "adjust_balance_detail",
        "adjust_balance_selected",
        description=_("Adjust the balance"),
        permission="adjust_balance",
        icon="account_balance_wallet",
    )
    unban_detail = detail_button(
        "unban_detail",
        "unban_selected",
        description=_("Unban"),
        permission="unban_one",
        variant=ActionVariant.SUCCESS,
        icon="lock_open",
    )
    ban_detail = detail_button(
        "ban_detail",
        "ban_selected",
        description=_("Ban"),
        permission="ban_one",
        variant=ActionVariant.DANGER,
        icon="block",
    )
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "telegram_id",
                    "username",
                    "first_name",
                    "last_name",
                    "language",
                    "referral_code",
                    "referred_by",
                ]
            },
        ),
        (_("Balance"), {"fields": ["balance_shown"]}),
        (_("Referrals"), {"fields": ["referral_summary"]}),
        (
            _("Access"),
            {"fields": ["state_badge", "banned_reason", "bot_blocked_at", "trial_used_at"]},
        ),
        (
            _("Activity"),
            {"fields": ["created_shown", "last_seen_shown", "links", "keys_table"]},
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Everything comes from Telegram or from services (ban/unban are actions).
        return [
            *(f.name for f in Customer._meta.fields),
            "links",
            "keys_table",
            "referral_summary",
            "state_badge",
            "balance_shown",
            "created_shown",
            "last_seen_shown",
        ]

    def has_add_permission(self, request):
        return False  # customers register through the bot

    def has_delete_permission(self, request, obj=None):
        return False  # their payments and audit trail reference them

    def has_ban_permission(self, request: HttpRequest, object_id=None) -> bool:
        return request.user.has_perm("accounts.ban_customer")

    def has_message_permission(self, request: HttpRequest, object_id=None) -> bool:
        return request.user.has_perm("accounts.message_customer")

    def has_adjust_balance_permission(self, request: HttpRequest, object_id=None) -> bool:
        return request.user.has_perm("billing.add_balanceentry")

    # The page's buttons: the action's permission, and only where the action applies.
    def has_ban_one_permission(self, request: HttpRequest, object_id=None) -> bool:
        return self.has_ban_permission(request) and detail_applies(
            self, request, object_id, lambda customer: not customer.is_banned
        )

    def has_unban_one_permission(self, request: HttpRequest, object_id=None) -> bool:
        return self.has_ban_permission(request) and detail_applies(
            self, request, object_id, lambda customer: customer.is_banned
        )

    def has_message_one_permission(self, request: HttpRequest, object_id=None) -> bool:
        return self.has_message_permission(request) and detail_applies(
            self, request, object_id, lambda customer: customer.bot_blocked_at is None
        )

    def get_search_results(self, request, queryset, search_term):
        """A number is a Telegram id (exact, indexed); @name is a username."""
        term = search_term.strip()
        if term.lstrip("-").isdigit():
            return queryset.filter(Q(telegram_id=int(term)) | Q(pk=int(term))), False
        return super().get_search_results(request, queryset, term.lstrip("@"))

    @admin.display(description=_("Name"), ordering="username")
    def who(self, customer: Customer) -> str:
        """The name and the @username in one column."""
        name = " ".join(part for part in (customer.first_name, customer.last_name) if part)
        if customer.username and name:
            return format_html("{} <small>@{}</small>", name, customer.username)
        return f"@{customer.username}" if customer.username else (name or "—")

    @display(description=_("State"), label=STATE_VARIANTS)
    def state(self, customer: Customer):
        """Banned by an operator, blocked the bot, or reachable: a coloured label."""
        return customer_state(customer)

    @admin.display(description=_("State"))
    def state_badge(self, customer: Customer) -> str:
        key, text = customer_state(customer)
        return badge(text, STATE_VARIANTS[key])

    @admin.display(description=_("Balance"), ordering="balance")
    def balance_shown(self, customer: Customer) -> str:
        return money_format(customer.balance, "RUB")

    @admin.display(description=_("Joined"), ordering="created_at")
    def created_shown(self, customer: Customer) -> str:
        return relative_time(customer.created_at)

    @admin.display(description=_("Last seen"), ordering="last_seen_at")
    def last_seen_shown(self, customer: Customer) -> str:
        return relative_time(customer.last_seen_at)

    @admin.display(description=_("Everything of this customer"))
    def links(self, customer: Customer) -> str:
        pairs = [
            ("subscriptions.subscription", _("Subscriptions"), "customer__id__exact"),
            ("billing.payment", _("Payments"), "customer__id__exact"),
            ("billing.balanceentry", _("Balance ledger"), "customer__id__exact"),
            ("nodes.nodeclient", _("Keys"), "q"),
            ("notifications.outboxmessage", _("Messages"), "customer__id__exact"),
            ("core.auditlog", _("Audit"), "customer__id__exact"),
        ]
        items = []
        for label, title, param in pairs:
            app_label, model = label.split(".")
            url = reverse(f"admin:{app_label}_{model}_changelist")
            value = customer.telegram_id if param == "q" else customer.pk
            items.append((f"{url}?{param}={value}", title))
        return format_html_join(" · ", '<a href="{}">{}</a>', items)

    @admin.display(description=_("Invited"))
    def referral_summary(self, customer: Customer) -> str:
        stats = referral_stats(customer_id=customer.pk)
        invited = reverse("admin:accounts_customer_changelist")
        rewards = reverse("admin:billing_referralreward_changelist")
        return format_html(
            '<a href="{}?referred_by__id__exact={}">{}</a>, {} · '
            '<a href="{}?inviter__id__exact={}">{}</a>',
            invited,
            customer.pk,
            _("%(count)s invited") % {"count": stats.invited},
            _("%(paid)s paid · earned %(earned)s RUB, %(days)s days")
            % {"paid": stats.paid, "earned": stats.earned, "days": stats.days},
            rewards,
            customer.pk,
            _("rewards"),
        )

    @admin.display(description=format_lazy(_("Keys (newest {count})"), count=INLINE_LIMIT))
    def keys_table(self, customer: Customer) -> str:
        keys = list(
            NodeClient.objects.filter(subscription__customer=customer)
            .exclude(sync_state=SyncState.REMOVED)
            .select_related("node")
            .order_by("-created_at")[:INLINE_LIMIT]
        )
        if not keys:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>#{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:nodes_nodeclient_change", args=[key.pk]),
                    key.email,
                    key.node.name,
                    key.subscription_id,
                    sync_state_badge(key.sync_state, key.get_sync_state_display()),
                    _("enabled") if key.enable else _("disabled"),
                    key.last_error[:80],
                )
                for key in keys
            ),
        )
        head = format_html_join(
            "",
            "<th>{}</th>",
            (
                (title,)
                for title in (
                    _("Key"),
                    _("Node"),
                    _("Subscription"),
                    _("State"),
                    _("Enable"),
                    _("Last error"),
                )
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)

    @admin.action(
        description=_("Ban selected customers (disable their keys)…"), permissions=["ban"]
    )
    def ban_selected(self, request: HttpRequest, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=BanForm,
            call=lambda customer, data: customer_ban(
                customer=customer, reason=data["reason"], actor=request.user
            ),
            done=_("Banned {count} customer(s); their keys are being disabled."),
            action="ban_selected",
            title=_("Ban customers"),
            submit=_("Ban"),
            intro=_("Banned customers' keys are disabled on every panel and they are told."),
        )

    @admin.action(description=_("Unban selected customers…"), permissions=["ban"])
    def unban_selected(self, request: HttpRequest, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=UnbanForm,
            call=lambda customer, data: customer_unban(
                customer=customer, reason=data["reason"], actor=request.user
            ),
            done=_("Unbanned {count} customer(s); keys of running subscriptions come back."),
            action="unban_selected",
            title=_("Unban customers"),
            submit=_("Unban"),
        )

    @admin.action(description=_("Send a message to selected customers…"), permissions=["message"])
    def message_selected(self, request: HttpRequest, queryset):
        skipped = []

        def send(customer: Customer, data: dict) -> None:
            message = customer_message_send(
                customer=customer, text=data["text"], actor=request.user
            )
            if message is not None and message.status == OutboxStatus.SKIPPED:
                skipped.append(str(customer))

        page = form_action(
            self,
            request,
            queryset,
            form_class=MessageForm,
            call=send,
            done=_("Queued {count} message(s)."),
            action="message_selected",
            title=_("Send a message"),
            submit=_("Send"),
            intro=_(
                "The bot sends it through the outbox; you can follow it under Outbox messages."
            ),
        )
        if skipped:
            self.message_user(
                request,
                _("Not delivered (blocked the bot): %(customers)s")
                % {"customers": ", ".join(skipped[:20])},
                messages.WARNING,
            )
        return page

    @admin.action(
        description=_("Adjust the balance of selected customers…"), permissions=["adjust_balance"]
    )
    def adjust_balance_selected(self, request: HttpRequest, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=BalanceAdjustForm,
            call=lambda customer, data: balance_adjust(
                customer=customer,
                amount=data["amount"],
                reason=data["reason"],
                operator=request.user,
                key=data["key"],
            ),
            done=_("Adjusted the balance of {count} customer(s)."),
            action="adjust_balance_selected",
            title=_("Adjust balances"),
            submit=_("Adjust"),
            intro=_(
                "Adds the amount to each selected customer's balance (negative: takes it "
                "off; a balance never goes below zero). Each change is a ledger entry with your "
                "name and reason, and an audit row. The customer is not messaged."
            ),
        )
