"""The operator console for money: payments (refund, manual payment, totals) and the raw
webhook log (read-only, reprocess). Every action calls a service."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.enums import ActionVariant

from accounts.models import Customer
from billing.models import (
    BalanceEntry,
    Gift,
    GiftStatus,
    Payment,
    PaymentStatus,
    ReferralReward,
    WebhookEvent,
)
from billing.resources import PaymentResource
from billing.selectors import payment_totals
from billing.services.gifts import gift_code_normalize
from billing.services.payments import payment_manual_create
from billing.services.refunds import payment_refund
from billing.services.webhook_events import webhook_event_dismiss
from billing.services.webhooks import webhook_event_reprocess
from core.admin import (
    ConsoleForm,
    ReadOnlyAdmin,
    detail_applies,
    detail_button,
    form_action,
    id_column,
)
from core.display import DANGER, INFO, NEUTRAL, SUCCESS, WARNING, badge, relative_time
from core.exceptions import ApplicationError
from core.exports import AuditedExportMixin
from notifications.formatting import money_format
from subscriptions.models import Subscription, Tariff

MONEY_FIELDS = (
    "customer",
    "purpose",
    "tariff",
    "subscription",
    "provider",
    "amount_shown",
    "status_badge",
    "provider_ref",
    "days_credited",
    "paid_at",
    "expires_at",
    "refunded_at",
    "promo",
    "price_before_promo",
    "created_at",
    "updated_at",
)


PAYMENT_STATUS_VARIANTS = {
    PaymentStatus.PAID: SUCCESS,
    PaymentStatus.PENDING: INFO,
    PaymentStatus.FAILED: DANGER,
    PaymentStatus.CANCELLED: NEUTRAL,
    PaymentStatus.REFUNDED: WARNING,
}


class RefundForm(ConsoleForm):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_(
            "Why the money was returned (kept in the audit log). "
            "YooKassa refunds through its API; for the other providers return the money itself "
            "in the provider's cabinet."
        ),
    )


class DismissForm(ConsoleForm):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_(
            "How the notification was settled (kept in the audit log), e.g. "
            "“no money was taken” or “credited by hand as payment #…”."
        ),
    )


class CustomerField(forms.CharField):
    """A customer by Telegram id or @username (what operators have at hand)."""

    def clean(self, value):
        text = super().clean(value).strip()
        if text.isdigit():
            customer = Customer.objects.filter(telegram_id=int(text)).first()
        else:
            customer = Customer.objects.filter(username__iexact=text.lstrip("@")).first()
        if customer is None:
            raise forms.ValidationError(_("No customer with this Telegram id or username."))
        return customer


class ManualPaymentForm(ConsoleForm):
    customer = CustomerField(label=_("Customer"), help_text=_("Telegram id or @username."))
    tariff = forms.ModelChoiceField(
        queryset=Tariff.objects.filter(is_trial=False), label=_("Tariff")
    )
    amount = forms.DecimalField(
        label=_("Amount"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0"),
        help_text=_("What the customer actually paid."),
    )
    subscription = forms.ModelChoiceField(
        queryset=Subscription.objects.all(),
        required=False,
        widget=forms.TextInput,
        label=_("Renew subscription #"),
        help_text=_("Optional: the id of the subscription to extend; empty = a new subscription."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("E.g. “cash at the office”, “bank transfer 12.03”."),
    )

    def clean(self):
        cleaned = super().clean()
        customer, subscription = cleaned.get("customer"), cleaned.get("subscription")
        if customer and subscription and subscription.customer_id != customer.pk:
            raise forms.ValidationError(_("That subscription belongs to another customer."))
        return cleaned


@admin.register(Payment)
class PaymentAdmin(AuditedExportMixin, ModelAdmin):
    resource_classes = [PaymentResource]
    # The library's changelist template shows the object tools only with the add permission,
    # which hides "Manual payment": this template adds the export link itself.
    import_export_change_list_template = None
    list_display = [
        "id",
        "created_shown",
        "customer",
        "tariff",
        "provider",
        "amount_shown",
        "status_label",
        "purpose",
        "paid_shown",
        "subscription_link",
    ]
    list_filter = ["provider", "purpose", "status", "created_at", "paid_at"]
    search_fields = ["customer__username", "provider_ref"]
    search_help_text = _("Payment id, customer Telegram id, @username or provider reference.")
    list_select_related = ["customer", "tariff", "subscription"]
    date_hierarchy = "created_at"
    readonly_fields = MONEY_FIELDS
    fields = (*MONEY_FIELDS, "description")
    ordering = ["-created_at"]
    actions = ["refund_selected"]
    # The button on the payment's page: the list's refund for this payment, once it is paid.
    actions_detail = ["refund_detail"]
    refund_detail = detail_button(
        "refund_detail",
        "refund_selected",
        description=_("Refund"),
        permission="refund_one",
        variant=ActionVariant.DANGER,
        icon="undo",
    )
    change_list_template = "billing/admin/payment_change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # payments come from checkout or from "Manual payment"

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # money records are never deleted

    def has_refund_permission(self, request: HttpRequest, object_id=None) -> bool:
        return request.user.has_perm("billing.change_payment")

    def has_refund_one_permission(self, request: HttpRequest, object_id=None) -> bool:
        """The page's Refund: the refund permission, and a paid payment."""
        return self.has_refund_permission(request) and detail_applies(
            self, request, object_id, lambda payment: payment.status == PaymentStatus.PAID
        )

    def has_manual_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.add_payment")

    @admin.display(description=_("Amount"), ordering="amount")
    def amount_shown(self, obj: Payment) -> str:
        return money_format(obj.amount, obj.currency)

    @display(description=_("Status"), ordering="status", label=PAYMENT_STATUS_VARIANTS)
    def status_label(self, obj: Payment):
        return obj.status, obj.get_status_display()

    @admin.display(description=_("Status"))
    def status_badge(self, obj: Payment) -> str:
        return badge(obj.get_status_display(), PAYMENT_STATUS_VARIANTS.get(obj.status, NEUTRAL))

    @admin.display(description=_("Created"), ordering="created_at")
    def created_shown(self, obj: Payment) -> str:
        return relative_time(obj.created_at)

    @admin.display(description=_("Paid"), ordering="paid_at")
    def paid_shown(self, obj: Payment) -> str:
        return relative_time(obj.paid_at)

    @admin.display(description=_("Subscription"), ordering="subscription")
    def subscription_link(self, obj: Payment) -> str:
        if not obj.subscription_id:
            return "—"
        return format_html("#{}", obj.subscription_id)

    def get_search_results(self, request, queryset, search_term):
        """Numbers match the payment id and the customer's Telegram id exactly (indexed)."""
        term = search_term.strip()
        if term.isdigit():
            return queryset.filter(Q(pk=int(term)) | Q(customer__telegram_id=int(term))), False
        return super().get_search_results(request, queryset, term.lstrip("@"))

    def get_urls(self):
        manual = self.admin_site.admin_view(self.manual_payment_view)
        return [path("manual/", manual, name="billing_payment_manual"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_add_manual": self.has_manual_permission(request),
        }
        response = super().changelist_view(request, extra_context=extra_context)
        context = getattr(response, "context_data", None)
        if context and context.get("cl") is not None:
            # The filtered changelist's queryset, totalled in one grouped query.
            context["payment_totals"] = payment_totals(queryset=context["cl"].queryset)
        return response

    @admin.action(description=_("Refund selected payments…"), permissions=["refund"])
    def refund_selected(self, request: HttpRequest, queryset):
        not_paid = queryset.exclude(status=PaymentStatus.PAID).count()
        return form_action(
            self,
            request,
            queryset.select_related("customer", "tariff"),
            form_class=RefundForm,
            call=lambda payment, data: payment_refund(
                payment=payment, actor=request.user, reason=data["reason"]
            ),
            done=_("Refunded {count} payment(s); their days were taken back."),
            action="refund_selected",
            title=_("Refund payments"),
            submit=_("Refund"),
            intro=_(
                "Refunding marks each payment refunded and takes the days it credited off its "
                "subscription (never below now; a subscription left with no time expires). The "
                "customer is told. Telegram Stars and YooKassa payments get their money back "
                "through Telegram or YooKassa's API first (nothing changes if it refuses); for the "
                "other providers return the money in the provider's cabinet. A gift's payment: an "
                "unredeemed gift is cancelled, a redeemed one's days leave the recipient's "
                "subscription and the recipient is told."
            ),
            extra={
                "info": _("%(count)s of the selected payment(s) are not paid and will be refused.")
                % {"count": not_paid}
                if not_paid
                else ""
            },
        )

    def manual_payment_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_manual_permission(request):
            raise PermissionDenied
        form = ManualPaymentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                payment = payment_manual_create(
                    customer=data["customer"],
                    tariff=data["tariff"],
                    amount=data["amount"],
                    subscription=data["subscription"],
                    actor=request.user,
                    reason=data["reason"],
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    _(
                        "Manual payment #%(payment)s recorded: %(amount)s %(currency)s, "
                        "+%(days)s days on subscription #%(subscription)s."
                    )
                    % {
                        "payment": payment.pk,
                        "amount": payment.amount,
                        "currency": payment.currency,
                        "days": payment.days_credited,
                        "subscription": payment.subscription_id,
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:billing_payment_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Manual payment"),
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "billing/admin/payment_manual.html", context)


class EventErrorFilter(admin.SimpleListFilter):
    """Events that recorded an error: every FAILED one, and a PROCESSED one whose failure came
    after its credit committed (an after-commit step), which the status filter cannot show."""

    title = _("error")
    parameter_name = "has_error"

    def lookups(self, request, model_admin):
        return [("yes", _("Has an error")), ("no", _("No error"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(error="")
        if self.value() == "no":
            return queryset.filter(error="")
        return queryset


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin, ModelAdmin):
    """The raw notification log: look, never touch; "Reprocess" re-verifies a stored request."""

    list_display = [
        "id",
        "created_at",
        "provider",
        "event_key",
        "method",
        "remote_ip",
        "verified",
        "status",
        "outcome",
        "payment_id_shown",
        "dismissed_at",
    ]
    list_filter = ["provider", "status", EventErrorFilter, "verified", "created_at"]
    search_fields = ["=event_key", "outcome", "=remote_ip"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    actions = ["reprocess_selected", "dismiss_selected"]
    payment_id_shown = id_column("payment", _("Payment"))

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            # The list never shows the heavy columns.
            queryset = queryset.defer("body", "headers", "traceback", "query_string")
        return queryset

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.change_webhookevent")

    @admin.action(description=_("Dismiss selected failed events…"), permissions=["reprocess"])
    def dismiss_selected(self, request: HttpRequest, queryset):
        """A FAILED event settled by hand leaves the dashboard (a reason is asked first)."""
        return form_action(
            self,
            request,
            queryset,
            form_class=DismissForm,
            call=lambda event, data: webhook_event_dismiss(
                event=event, actor=request.user, reason=data["reason"]
            ),
            done=_("Dismissed {count} failed event(s)."),
            action="dismiss_selected",
            title=_("Dismiss failed payment notifications"),
            submit=_("Dismiss"),
            intro=_(
                "Only for a failure settled by hand: the provider may have taken the money. "
                "A dismissed event leaves the dashboard and can still be reprocessed."
            ),
        )

    @admin.action(description=_("Reprocess selected events"), permissions=["reprocess"])
    def reprocess_selected(self, request: HttpRequest, queryset) -> None:
        counts: dict[str, int] = {}
        for selected in queryset.order_by("pk"):
            try:
                event = webhook_event_reprocess(event=selected, actor=request.user)
            except Exception as exc:  # noqa: BLE001 - the row keeps the error and traceback
                # (FAILED, or PROCESSED when the failure came after the credit committed)
                self.message_user(
                    request,
                    _("Event #%(event)s failed: %(error)s. Its row keeps the error and traceback.")
                    % {"event": selected.pk, "error": f"{type(exc).__name__}: {exc}"},
                    messages.ERROR,
                )
                continue
            status = event.get_status_display()
            key = f"{status} ({event.outcome})" if event.outcome else str(status)
            counts[key] = counts.get(key, 0) + 1
        if counts:
            summary = ", ".join(f"{count} {key}" for key, count in sorted(counts.items()))
            self.message_user(
                request, _("Reprocessed: %(summary)s.") % {"summary": summary}, messages.SUCCESS
            )


@admin.register(BalanceEntry)
class BalanceEntryAdmin(ReadOnlyAdmin, ModelAdmin):
    """The balance ledger: append-only, so read-only here; operators adjust a balance with
    the customer list's "Adjust the balance" action (``balance_adjust``)."""

    list_display = [
        "id",
        "created_at",
        "customer",
        "kind",
        "amount",
        "balance_after",
        "source_key",
        "payment_id_shown",
        "operator",
        "reason",
    ]
    list_filter = ["kind", "created_at"]
    search_fields = ["=source_key", "customer__username", "reason"]
    search_help_text = _("Customer Telegram id, @username, source key or reason.")
    list_select_related = ["customer", "operator"]
    payment_id_shown = id_column("payment", _("Payment"))
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-pk"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.isdigit():
            return queryset.filter(customer__telegram_id=int(term)), False
        return super().get_search_results(request, queryset, term.lstrip("@"))


def gift_code_masked(code: str) -> str:
    """Only the last 4 characters: the code is the gift itself, anyone who reads it can
    redeem it; the buyer has it in their chat."""
    return "…" + code[-4:]


@admin.register(Gift)
class GiftAdmin(ReadOnlyAdmin, ModelAdmin):
    """Gift codes (``billing.services.gifts``): read-only; refund the gift's payment to
    cancel an unredeemed gift."""

    list_display = [
        "id",
        "created_at",
        "code_masked",
        "buyer",
        "tariff",
        "status_shown",
        "expires_at",
        "redeemed_by",
        "redeemed_at",
        "payment_link",
    ]
    list_filter = ["status", "created_at", "redeemed_at"]
    search_help_text = _("A whole gift code, a payment id, the buyer's or recipient's Telegram id.")
    search_fields = ["=payment__id"]
    list_select_related = ["payment__customer", "payment__tariff", "redeemed_by"]
    fields = [
        "code_masked",
        "buyer",
        "tariff",
        "status_shown",
        "expires_at",
        "redeemed_by",
        "redeemed_at",
        "subscription",
        "days_credited",
        "cancelled_at",
        "payment_link",
        "created_at",
    ]
    readonly_fields = fields
    ordering = ["-created_at"]

    @admin.display(description=_("Code"))
    def code_masked(self, obj: Gift) -> str:
        return gift_code_masked(obj.code)

    @admin.display(description=_("Buyer"), ordering="payment__customer")
    def buyer(self, obj: Gift):
        return obj.payment.customer

    @admin.display(description=_("Tariff"), ordering="payment__tariff")
    def tariff(self, obj: Gift):
        return obj.payment.tariff

    @admin.display(description=_("Status"), ordering="status")
    def status_shown(self, obj: Gift) -> str:
        """The status, with what the table alone does not say: past its validity, refunded."""
        label = obj.get_status_display()
        if obj.status == GiftStatus.ACTIVE and obj.expires_at <= timezone.now():
            return _("Expired")
        if obj.status == GiftStatus.REDEEMED and obj.payment.status == PaymentStatus.REFUNDED:
            return _("%(status)s, refunded") % {"status": label}
        return label

    @admin.display(description=_("Payment"), ordering="payment")
    def payment_link(self, obj: Gift) -> str:
        url = reverse("admin:billing_payment_change", args=[obj.payment_id])
        return format_html('<a href="{}">#{}</a>', url, obj.payment_id)

    def get_search_results(self, request, queryset, search_term):
        """A whole code (a customer quotes it to support), or a number: the payment id, the
        buyer's or the recipient's Telegram id."""
        term = search_term.strip()
        if not term:
            return queryset, False
        found = Q(code=gift_code_normalize(term) or None)
        if term.isdigit() and len(term) <= 18:
            number = int(term)
            found |= (
                Q(payment_id=number)
                | Q(payment__customer__telegram_id=number)
                | Q(redeemed_by__telegram_id=number)
            )
        return queryset.filter(found), False


@admin.register(ReferralReward)
class ReferralRewardAdmin(ReadOnlyAdmin, ModelAdmin):
    """Referral rewards, one per invitee's payment (billing.services.referral): written by the
    credit and the refund only, so read-only here."""

    list_display = [
        "id",
        "created_at",
        "inviter",
        "invitee",
        "payment_id_shown",
        "amount",
        "days",
        "revoked_at",
        "amount_revoked",
        "days_revoked",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["inviter__username", "invitee__username"]
    search_help_text = _("Inviter's Telegram id, inviter's or invitee's @username.")
    list_select_related = ["inviter", "invitee"]
    payment_id_shown = id_column("payment", _("Payment"))
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-pk"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.isdigit():
            return queryset.filter(inviter__telegram_id=int(term)), False
        return super().get_search_results(request, queryset, term.lstrip("@"))


from billing import admin_promo  # noqa: E402, F401 - registers the promo code admins
