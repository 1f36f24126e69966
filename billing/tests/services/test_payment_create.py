from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import Payment, PaymentStatus
from billing.services.payments import payment_checkout_url, payment_create
from billing.tests.factories import PaymentFactory
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def test_creates_a_pending_payment_from_the_tariff():
    customer = CustomerFactory()
    tariff = TariffFactory(price=Decimal("499.00"), duration_days=90, name="Квартал")
    now = timezone.now()
    payment = payment_create(customer=customer, tariff=tariff, provider="robokassa", now=now)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.amount == Decimal("499.00")
    assert payment.currency == "RUB"
    assert payment.provider == "robokassa"
    assert payment.subscription is None
    assert payment.expires_at == now + timedelta(minutes=60)
    assert "Квартал" in payment.description
    audit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_CREATED)
    assert audit.object_id == str(payment.pk)
    assert audit.customer_id == customer.pk
    assert audit.extra_data["amount"] == "499.00"


def test_renewal_keeps_its_target():
    subscription = SubscriptionFactory()
    payment = payment_create(
        customer=subscription.customer,
        tariff=subscription.tariff,
        provider="freekassa",
        subscription=subscription,
    )
    assert payment.subscription == subscription


@pytest.mark.parametrize(
    "change",
    ["banned", "inactive tariff", "trial tariff", "free tariff", "unknown provider", "foreign"],
)
def test_refusals(change):
    customer = CustomerFactory(is_banned=change == "banned")
    tariff = TariffFactory(
        is_active=change != "inactive tariff",
        is_trial=change == "trial tariff",
        price=Decimal("0.00") if change == "free tariff" else Decimal("299.00"),
    )
    subscription = SubscriptionFactory() if change == "foreign" else None
    with pytest.raises(ApplicationError):
        payment_create(
            customer=customer,
            tariff=tariff,
            provider="paypal" if change == "unknown provider" else "robokassa",
            subscription=subscription,
        )
    assert not Payment.objects.exists()
    assert not AuditLog.objects.exists()


def test_robokassa_checkout_url_in_the_customers_language():
    customer = CustomerFactory(language="en")
    tariff = TariffFactory(name="Месяц", name_en="Month", duration_days=30)
    payment = payment_create(customer=customer, tariff=tariff, provider="robokassa")
    url = payment_checkout_url(payment=payment)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://auth.robokassa.ru/Merchant/Index.aspx?")
    assert query["InvId"] == [str(payment.pk)]
    assert query["OutSum"] == ["299.00"]
    assert query["Culture"] == ["en"]
    assert query["Description"] == ["VPN subscription “Month”, 30 days"]


def test_freekassa_checkout_url():
    customer = CustomerFactory(language="ru")
    payment = payment_create(customer=customer, tariff=TariffFactory(), provider="freekassa")
    query = parse_qs(urlsplit(payment_checkout_url(payment=payment)).query)
    assert query["o"] == [str(payment.pk)]
    assert query["oa"] == ["299"]
    assert query["lang"] == ["ru"]
    assert query["currency"] == ["RUB"]


@pytest.mark.parametrize("state", ["paid", "expired"])
def test_no_checkout_url_for_a_payment_that_cannot_be_paid(state):
    payment = PaymentFactory(
        status=PaymentStatus.PAID if state == "paid" else PaymentStatus.PENDING,
        paid_at=timezone.now() if state == "paid" else None,
        expires_at=timezone.now() - timedelta(minutes=1 if state == "expired" else -60),
    )
    with pytest.raises(ApplicationError):
        payment_checkout_url(payment=payment)
