"""CSV export of customers, subscriptions and payments (core/exports.py): the chosen columns,
what the changelist's filters show, nothing secret, roles, an audit row, bounded queries."""

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.resources import CustomerResource
from accounts.tests.factories import CustomerFactory, UserFactory
from billing.models import PaymentStatus
from billing.resources import PaymentResource
from billing.tests.factories import PaymentFactory
from core.models import AuditEvent, AuditLog
from core.runtime_settings import runtime_settings
from subscriptions.models import SubscriptionStatus
from subscriptions.resources import SubscriptionResource
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

RESOURCES = {
    "accounts_customer": CustomerResource,
    "subscriptions_subscription": SubscriptionResource,
    "billing_payment": PaymentResource,
}


def export(client, model: str, query: str = ""):
    """POST the export form as the browser does (CSV, every column ticked)."""
    resource = RESOURCES[model]
    data = {"format": "0", "resource": "0"}
    for name in resource().get_export_order():
        data[f"{resource.__name__.lower()}_{name}"] = "on"
    return client.post(reverse(f"admin:{model}_export") + query, data)


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def header(response) -> list[str]:
    return next(csv.reader(io.StringIO(response.content.decode())))


def test_payments_csv_columns_values_and_filter(as_operator, operator_user):
    tariff = TariffFactory(name="Month", price=Decimal("199.00"))
    paid = PaymentFactory(
        tariff=tariff, status=PaymentStatus.PAID, paid_at=timezone.now(), provider_ref="inv-7"
    )
    PaymentFactory(tariff=tariff, status=PaymentStatus.PENDING)

    response = export(as_operator, "billing_payment", "?status__exact=paid")

    assert header(response) == [
        "id",
        "created_at",
        "customer_telegram_id",
        "customer_username",
        "purpose",
        "tariff",
        "subscription_id",
        "provider",
        "provider_ref",
        "amount",
        "currency",
        "price_before_promo",
        "promo_code",
        "status",
        "days_credited",
        "country",
        "paid_at",
        "refunded_at",
    ]
    [row] = rows(response)  # the pending payment is filtered out, as in the changelist
    assert row["id"] == str(paid.pk)
    assert row["amount"] == "199.00"
    assert row["tariff"] == "Month"
    assert row["customer_telegram_id"] == str(paid.customer.telegram_id)
    assert row["provider_ref"] == "inv-7"
    assert datetime.fromisoformat(row["paid_at"]) == paid.paid_at
    assert datetime.fromisoformat(row["paid_at"]).utcoffset() is not None
    assert "checkout_url" not in row


def test_subscriptions_csv_has_no_secret(as_operator):
    active = SubscriptionFactory(status=SubscriptionStatus.ACTIVE)
    SubscriptionFactory(status=SubscriptionStatus.EXPIRED)

    response = export(as_operator, "subscriptions_subscription", "?status__exact=active")

    [row] = rows(response)
    assert row["id"] == str(active.pk)
    assert row["customer_telegram_id"] == str(active.customer.telegram_id)
    text = response.content.decode()
    for secret in (str(active.client_uuid), active.sub_id, active.feed_token):
        assert secret not in text
    for column in ("client_uuid", "sub_id", "feed_token"):
        assert column not in row


def test_customers_csv_follows_the_search(as_operator):
    CustomerFactory(username="alice", balance=Decimal("12.50"))
    CustomerFactory(username="bob")

    [row] = rows(export(as_operator, "accounts_customer", "?q=alice"))

    assert row["username"] == "alice"
    assert row["balance"] == "12.50"
    assert "referral_code" not in row


def test_export_writes_an_audit_row_naming_the_operator(as_operator, operator_user):
    PaymentFactory(status=PaymentStatus.PAID, paid_at=timezone.now())
    PaymentFactory(status=PaymentStatus.PAID, paid_at=timezone.now())

    rows(export(as_operator, "billing_payment", "?status__exact=paid"))

    entry = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert entry.acting_user == operator_user
    assert entry.extra_data["action"] == "export"
    assert entry.extra_data["model"] == "billing.payment"
    assert entry.extra_data["format"] == "csv"
    assert entry.extra_data["rows"] == 2
    assert entry.extra_data["filters"] == {"status__exact": "paid"}


def test_changelists_link_to_the_export_with_their_filters(as_operator):
    for model in RESOURCES:
        page = as_operator.get(reverse(f"admin:{model}_changelist") + "?o=1").content.decode()
        assert reverse(f"admin:{model}_export") + "?o=1" in page, model
    # the payments' own changelist template (totals, manual payment) is kept
    PaymentFactory()
    page = as_operator.get(reverse("admin:billing_payment_changelist")).content.decode()
    assert 'id="payment-totals"' in page
    assert reverse("admin:billing_payment_manual") in page


def test_opening_the_form_is_not_audited(as_operator):
    response = as_operator.get(reverse("admin:billing_payment_export"))
    assert response.status_code == 200
    assert not AuditLog.objects.exists()


def test_support_exports_customers_and_subscriptions_not_payments(as_support):
    PaymentFactory()
    assert export(as_support, "billing_payment").status_code == 403
    assert as_support.get(reverse("admin:billing_payment_export")).status_code == 403
    changelist = as_support.get(reverse("admin:billing_payment_changelist"))
    assert reverse("admin:billing_payment_export") not in changelist.content.decode()
    assert not AuditLog.objects.exists()

    SubscriptionFactory()
    assert len(rows(export(as_support, "subscriptions_subscription"))) == 1
    assert len(rows(export(as_support, "accounts_customer"))) == 2  # the payer, the subscriber
    changelist = as_support.get(reverse("admin:accounts_customer_changelist"))
    assert reverse("admin:accounts_customer_export") in changelist.content.decode()


def _staff_with(client, *codenames):
    user = UserFactory(username="limited")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def test_view_permission_alone_does_not_export(client):
    PaymentFactory()
    limited = _staff_with(client, "view_payment")
    assert limited.get(reverse("admin:billing_payment_changelist")).status_code == 200
    assert export(limited, "billing_payment").status_code == 403


def test_export_permission_without_view_does_not_export(client):
    PaymentFactory()
    assert export(_staff_with(client, "export_payment"), "billing_payment").status_code == 403


def test_no_import_view(as_superuser):
    from django.urls import NoReverseMatch

    for model in RESOURCES:
        with pytest.raises(NoReverseMatch):
            reverse(f"admin:{model}_import")


def _fill(n: int) -> None:
    for _ in range(n):
        subscription = SubscriptionFactory(customer=CustomerFactory(referred_by=CustomerFactory()))
        PaymentFactory(subscription=subscription, status=PaymentStatus.PAID, paid_at=timezone.now())


@pytest.mark.parametrize("model", list(RESOURCES))
def test_export_queries_do_not_grow_with_rows(as_superuser, model):
    runtime_settings()  # warm the constance cache

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = export(as_superuser, model)
        return len(rows(response)), len(queries.captured_queries)

    _fill(5)
    export(as_superuser, model)  # warm Django's per-process caches (content types)
    small_rows, small = count()
    _fill(45)
    large_rows, large = count()
    assert large_rows >= 50 > small_rows
    assert large == small, f"{model}: {small} queries ({small_rows} rows), {large} ({large_rows})"
    assert large <= 15


def test_export_form_speaks_the_operators_language(as_operator):
    page = as_operator.get(
        reverse("admin:billing_payment_export"), HTTP_ACCEPT_LANGUAGE="ru"
    ).content.decode()
    assert "Цена до промокода (price_before_promo)" in page
    page = as_operator.get(
        reverse("admin:billing_payment_export"), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "Price before promo code (price_before_promo)" in page
