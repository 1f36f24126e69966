"""The promo code console: creation audited with the operator, usage statistics, a used
code's value locked, no deletes, redemptions read-only."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import PromoCode, PromoKind
from billing.services.checkout import checkout_payment_get
from billing.tests.factories import PromoCodeFactory, PromoRedemptionFactory
from billing.tests.helpers import mark_paid
from core.models import AuditEvent, AuditLog
from subscriptions.tests.factories import TariffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def form(**overrides):
    data = {
        "code": " spring-25 ",
        "kind": PromoKind.PERCENT,
        "days": "0",
        "percent": "25",
        "amount": "",
        "free_tariff": "",
        "max_uses": "100",
        "once_per_customer": "on",
        "valid_from": "",
        "valid_until": "",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_creating_a_code_is_audited_with_the_operator(as_superuser, superuser):
    tariff = TariffFactory()
    response = as_superuser.post(
        reverse("admin:billing_promocode_add"), form(tariffs=[str(tariff.pk)])
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    promo = PromoCode.objects.get()
    assert (promo.code, promo.percent, list(promo.tariffs.all())) == ("SPRING-25", 25, [tariff])
    entry = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert entry.acting_user == superuser
    assert entry.message == "promo code SPRING-25 created"
    assert entry.extra_data["percent"] == 25
    assert entry.extra_data["tariff_ids"] == [tariff.pk]


@pytest.mark.parametrize(
    "overrides",
    [
        {"code": "no spaces"},
        {"percent": "0"},
        {"percent": "101"},
        {"kind": PromoKind.AMOUNT, "percent": "", "amount": "-5"},
        {"kind": PromoKind.FREE_TARIFF, "percent": ""},
    ],
)
def test_a_bad_code_is_refused_with_nothing_saved(as_superuser, overrides):
    response = as_superuser.post(reverse("admin:billing_promocode_add"), form(**overrides))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not PromoCode.objects.exists()
    assert not AuditLog.objects.exists()


def test_changelist_shows_uses_revenue_and_discount(as_superuser):
    tariff = TariffFactory(price=Decimal("200.00"))
    promo = PromoCodeFactory(code="HALF", percent=50, max_uses=5, once_per_customer=False)
    for _ in range(2):
        payment = checkout_payment_get(
            customer=CustomerFactory(),
            tariff=tariff,
            provider="robokassa",
            now=timezone.now(),
            promo=promo,
        ).payment
        mark_paid(payment, amount="100.00")
    response = as_superuser.get(reverse("admin:billing_promocode_changelist"))
    row = next(r for r in response.context["cl"].result_list if r.pk == promo.pk)
    assert (row.uses, row.revenue, row.discount_given) == (2, Decimal("200.00"), Decimal("200.00"))
    assert "2 / 5" in response.content.decode()


def test_a_used_code_keeps_its_value_and_is_never_deleted(as_superuser):
    promo = PromoRedemptionFactory().promo
    url = reverse("admin:billing_promocode_change", args=[promo.pk])
    response = as_superuser.get(url)
    assert {"kind", "percent"} <= set(response.context["adminform"].readonly_fields)
    as_superuser.post(url, form(code=promo.code, percent="90", is_active=""))
    promo.refresh_from_db()
    assert (promo.percent, promo.is_active) == (10, False)
    assert AuditLog.objects.get().message == f"promo code {promo.code} changed"
    delete = reverse("admin:billing_promocode_delete", args=[promo.pk])
    assert as_superuser.post(delete, {"post": "yes"}).status_code == 403
    assert PromoCode.objects.filter(pk=promo.pk).exists()


def test_redemptions_are_listed_read_only(as_superuser):
    redemption = PromoRedemptionFactory()
    listing = as_superuser.get(
        reverse("admin:billing_promoredemption_changelist"),
        {"promo__id__exact": redemption.promo_id},
    )
    assert list(listing.context["cl"].result_list) == [redemption]
    assert as_superuser.get(reverse("admin:billing_promoredemption_add")).status_code == 403
