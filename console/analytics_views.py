"""The analytics page of the console (``<admin>/analytics/``): a period form, figures from
``console.analytics.analytics_get`` kept in the cache (``console.analytics_cache``), inline
SVG charts beside their tables, and a "Recalculate" button (POST) that replaces the kept
figures."""

from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from billing.models import PromoKind
from console.analytics import Analytics, bucket_next
from console.analytics_cache import (
    ANALYTICS_CACHE_SECONDS,
    AnalyticsQuery,
    analytics_cached,
    analytics_compute,
)
from console.selectors import local_midnight
from console.templatetags.console import changelist_url
from core.charts import DayPoint, svg_bar_chart, svg_line_chart

# Revenue is the owner's and the operators' (docs/console.md "Groups and permissions"): the
# page asks what taking the payments list away asks, so support does not see it.
ANALYTICS_PERMISSIONS = ("billing.view_payment", "billing.export_payment")
MAX_DAYS = 731
DEFAULT_GROUPING = {"30": "day", "90": "week", "365": "month", "custom": "day"}


class AnalyticsForm(forms.Form):
    period = forms.ChoiceField(
        label=gettext_lazy("Period"),
        required=False,
        choices=[
            ("30", gettext_lazy("Last 30 days")),
            ("90", gettext_lazy("Last 90 days")),
            ("365", gettext_lazy("Last 365 days")),
            ("custom", gettext_lazy("From … to")),
        ],
    )
    date_from = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=gettext_lazy("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    group = forms.ChoiceField(
        label=gettext_lazy("Group by"),
        required=False,
        choices=[
            ("", gettext_lazy("Automatic")),
            ("day", gettext_lazy("Day")),
            ("week", gettext_lazy("Week")),
            ("month", gettext_lazy("Month")),
        ],
    )

    def clean(self):
        data = super().clean()
        first, last = data.get("date_from"), data.get("date_to")
        if self.errors:
            return data
        if first or last or data.get("period") == "custom":
            data["period"] = "custom"
            if not first or not last:
                raise forms.ValidationError(_("Give both dates: from and to."))
            if first > last:
                raise forms.ValidationError(_("The first date is after the last one."))
            if (last - first).days + 1 > MAX_DAYS:
                raise forms.ValidationError(
                    _("A period of at most %(days)s days, please.") % {"days": MAX_DAYS}
                )
            if first > timezone.localdate():
                raise forms.ValidationError(_("The period starts in the future."))
        data["period"] = data.get("period") or "30"
        data["group"] = data.get("group") or DEFAULT_GROUPING[data["period"]]
        return data

    def query_get(self) -> AnalyticsQuery:
        data = self.cleaned_data
        if data["period"] == "custom":
            return AnalyticsQuery(
                grouping=data["group"], first=data["date_from"], last=data["date_to"]
            )
        return AnalyticsQuery(grouping=data["group"], days=int(data["period"]))

    def params_get(self) -> dict[str, str]:
        """The cleaned choice as GET parameters (the page's address, the button's fields)."""
        data = self.cleaned_data
        params = {"period": data["period"], "group": data["group"]}
        if data["period"] == "custom":
            params.update(
                date_from=data["date_from"].isoformat(), date_to=data["date_to"].isoformat()
            )
        return params


def bucket_label(day: date, grouping: str) -> str:
    if grouping == "month":
        return date_format(day, "YEAR_MONTH_FORMAT")
    if grouping == "week":
        return _("week of %(day)s") % {"day": date_format(day, "SHORT_DATE_FORMAT")}
    return date_format(day, "SHORT_DATE_FORMAT")


def customer_ref(pk, username: str, telegram_id) -> dict:
    return {
        "label": f"@{username}" if username else f"tg:{telegram_id}",
        "url": reverse("admin:accounts_customer_change", args=[pk]),
    }


def _charts(data: Analytics) -> list[dict]:
    period = data.period
    links = [
        changelist_url(
            "billing.payment",
            status__exact="paid",
            paid_at__gte=max(local_midnight(day, period.tz), period.since),
            paid_at__lt=min(
                local_midnight(bucket_next(day, period.grouping), period.tz), period.until
            ),
        )
        for day, _amounts, _count in data.series
    ]
    charts = [
        {
            "id": f"chart-revenue-{currency.lower()}",
            "title": _("Revenue, %(currency)s") % {"currency": currency},
            "svg": svg_bar_chart(
                [
                    DayPoint(day, amounts.get(currency, Decimal("0.00")))
                    for day, amounts, _count in data.series
                ],
                links=links,
                unit=currency,
                title=_("Revenue, %(currency)s") % {"currency": currency},
            ),
        }
        for currency in data.currencies
        if currency == data.currencies[0] or data.revenue[currency]
    ]
    charts.append(
        {
            "id": "chart-payments",
            "title": _("Paid payments"),
            "svg": svg_line_chart(
                [DayPoint(day, count) for day, _amounts, count in data.series],
                title=_("Paid payments"),
            ),
        }
    )
    return charts


def _present(data: Analytics) -> dict:
    currencies = data.currencies
    cohort_rows = [
        {
            "month": date_format(month, "YEAR_MONTH_FORMAT"),
            "size": size,
            "cells": [pct for _later, _count, pct in cells],
            "blank": range(len(data.cohort_months) - len(cells)),
        }
        for month, size, cells in data.cohorts
    ]
    kinds = dict(PromoKind.choices)
    return {
        "a": data,
        "charts": _charts(data),
        "series_rows": [
            {
                "label": bucket_label(day, data.period.grouping),
                "amounts": [amounts.get(c, Decimal("0.00")) for c in currencies],
                "count": count,
            }
            for day, amounts, count in data.series
        ],
        "totals": [
            {
                "currency": c,
                "revenue": data.revenue[c],
                "refunds": data.refunds[c],
                "paying": data.paying[c],
                "arpu": data.arpu.get(c),
            }
            for c in currencies
        ],
        "by_provider": [
            {
                "label": row.label,
                "payments": row.payments,
                "amounts": [row.amounts.get(c) for c in currencies],
            }
            for row in data.by_provider
        ],
        "by_tariff": [
            {
                "label": row.label or _("Balance top-ups"),
                "payments": row.payments,
                "amounts": [row.amounts.get(c) for c in currencies],
            }
            for row in data.by_tariff
        ],
        "cohort_rows": cohort_rows,
        "cohort_offsets": range(len(data.cohort_months)),
        "referrers_by_customers": [
            {
                **customer_ref(
                    row["referred_by_id"],
                    row["referred_by__username"],
                    row["referred_by__telegram_id"],
                ),
                "invited": row["invited"],
            }
            for row in data.referrers_by_customers
        ],
        "referrers_by_rewards": [
            {
                **customer_ref(
                    row["inviter_id"], row["inviter__username"], row["inviter__telegram_id"]
                ),
                "rewards": row["rewards"],
                "amount": row["net_amount"],
                "days": row["net_days"],
            }
            for row in data.referrers_by_rewards
        ],
        "promos": [
            {
                "code": row["promo__code"],
                "url": reverse("admin:billing_promocode_change", args=[row["promo_id"]]),
                "kind": kinds.get(row["promo__kind"], row["promo__kind"]),
                "currency": row["payment__currency"] or "",
                "uses": row["uses"],
                "revenue": row["revenue"],
                "discount": row["discount_total"],
                "days": row["days_total"],
            }
            for row in data.promos
        ],
    }


@require_http_methods(["GET", "HEAD", "POST"])
def analytics_view(request: HttpRequest) -> HttpResponse:
    """The page; staff only (``admin.site.admin_view``), and ANALYTICS_PERMISSIONS, checked
    before any figure is read or recalculated.

    GET shows the kept figures (computed on this request when none are kept); POST (the
    "Recalculate" button, CSRF-checked) computes them now, keeps them and redirects back.
    """
    if not request.user.has_perms(ANALYTICS_PERMISSIONS):
        raise PermissionDenied
    data = request.POST if request.method == "POST" else request.GET
    form = AnalyticsForm(data or {"period": "30"})
    if request.method == "POST" and form.is_valid():
        entry = analytics_compute(form.query_get())
        messages.success(
            request,
            _("Figures recalculated in %(ms)s ms.") % {"ms": entry.compute_ms},
        )
        return HttpResponseRedirect(f"{request.path}?{urlencode(form.params_get())}")
    context = {
        **admin.site.each_context(request),
        "title": _("Analytics"),
        "form": form,
        "max_days": MAX_DAYS,
        "cache_minutes": ANALYTICS_CACHE_SECONDS // 60,
    }
    if form.is_valid():
        entry = analytics_cached(form.query_get())
        context.update(_present(entry.data))
        context.update(fresh=entry, recalculate=form.params_get())
    return TemplateResponse(request, "admin/console/analytics.html", context)
