"""The console for promo codes: the codes with their usage (uses, revenue, discount given)
and the redemptions, read-only. A new or changed code is audited with its operator; a code
that was used keeps what it gives (kind and value) and is never deleted: switch it off."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from billing.models import PromoCode, PromoRedemption
from billing.selectors import promo_codes_with_usage
from billing.services.promo import CODE_RE, promo_audit, promo_code_normalize
from core.admin import ConsoleModelForm, ReadOnlyAdmin

VALUE_FIELDS = ("kind", "days", "percent", "amount", "free_tariff")


class PromoCodeForm(ConsoleModelForm):
    class Meta:
        model = PromoCode
        fields = [
            "code",
            *VALUE_FIELDS,
            "tariffs",
            "max_uses",
            "once_per_customer",
            "new_customers_only",
            "valid_from",
            "valid_until",
            "is_active",
        ]

    def clean_code(self):
        code = promo_code_normalize(self.cleaned_data["code"])
        if not CODE_RE.match(code):
            raise forms.ValidationError(_("1 to 32 letters, digits, _ or -."))
        return code


@admin.register(PromoCode)
class PromoCodeAdmin(ModelAdmin):
    form = PromoCodeForm
    list_display = [
        "code",
        "kind",
        "value",
        "uses_of_max",
        "revenue",
        "discount_given",
        "valid_until",
        "is_active",
        "redemptions_link",
    ]
    list_filter = ["kind", "is_active", "new_customers_only", "once_per_customer"]
    search_fields = ["code"]
    filter_horizontal = ["tariffs"]
    readonly_fields = ["usage", "redemptions_link"]
    ordering = ["-created_at"]

    def get_queryset(self, request: HttpRequest):
        return promo_codes_with_usage(queryset=super().get_queryset(request))

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is not None and obj.redemptions.exists():
            return [*VALUE_FIELDS, *self.readonly_fields]
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # its redemptions and payments refer to it; switch it off instead

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        promo_audit(
            promo=form.instance, actor=request.user, action="changed" if change else "created"
        )

    @admin.display(description=_("Gives"))
    def value(self, obj: PromoCode) -> str:
        texts = {
            "days": _("+%(days)s days"),
            "free_days": _("%(days)s free days"),
            "percent": _("%(percent)s %% off"),
            "amount": _("%(amount)s off"),
            "free_tariff": _("free %(tariff)s"),
        }
        if obj.kind not in texts:
            return ""
        return texts[obj.kind] % {
            "days": obj.days,
            "percent": obj.percent,
            "amount": obj.amount,
            "tariff": obj.free_tariff,
        }

    @admin.display(description=_("Uses"), ordering="uses")
    def uses_of_max(self, obj: PromoCode) -> str:
        return f"{obj.uses} / {obj.max_uses}" if obj.max_uses is not None else str(obj.uses)

    @admin.display(description=_("Revenue with it"), ordering="revenue")
    def revenue(self, obj: PromoCode):
        return obj.revenue

    @admin.display(description=_("Discount given"), ordering="discount_given")
    def discount_given(self, obj: PromoCode):
        return obj.discount_given

    @admin.display(description=_("Usage"))
    def usage(self, obj: PromoCode) -> str:
        if obj.pk is None:
            return "—"
        return _(
            "%(uses)s uses (reserved by pending payments or used); revenue %(revenue)s; "
            "discount given %(discount)s."
        ) % {
            "uses": self.uses_of_max(obj),
            "revenue": obj.revenue,
            "discount": obj.discount_given,
        }

    @admin.display(description=_("Redemptions"))
    def redemptions_link(self, obj: PromoCode) -> str:
        if obj.pk is None:
            return "—"
        url = reverse("admin:billing_promoredemption_changelist") + f"?promo__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Redemptions →"))


@admin.register(PromoRedemption)
class PromoRedemptionAdmin(ReadOnlyAdmin, ModelAdmin):
    """Every use of a code: reserved by a pending payment, used, or released."""

    list_display = [
        "created_at",
        "promo",
        "customer",
        "status",
        "payment",
        "subscription",
        "discount",
        "days",
    ]
    list_filter = ["status", "promo"]
    search_fields = ["promo__code", "=customer__telegram_id", "customer__username"]
    list_select_related = ["promo", "customer", "payment", "subscription"]
    ordering = ["-created_at"]
