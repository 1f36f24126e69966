"""payment_mark_paid without HTTP: credit once, messages, flags."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.exceptions import WebhookError
from billing.models import PaymentStatus
from billing.providers import ProviderNotification
from billing.services.payments import amounts_equal, payment_mark_paid
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import mark_paid
from notifications.models import OutboxAudience, OutboxMessage

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def test_credit_then_duplicate():
    payment = PaymentFactory()
    first = mark_paid(payment)
    second = mark_paid(payment)
    assert (first.credited, second.credited) == (True, False)
    assert first.late is False
    assert first.payment.status == PaymentStatus.PAID
    assert OutboxMessage.objects.filter(kind="payment-paid").count() == 1


def test_customer_message_in_english_with_local_expiry():
    customer = CustomerFactory(language="en")
    payment = PaymentFactory(customer=customer, tariff__name="Месяц", tariff__name_en="Month")
    credit = mark_paid(payment)
    message = OutboxMessage.objects.get(audience=OutboxAudience.CUSTOMER)
    assert message.chat_id == customer.telegram_id
    assert message.kind == "payment-paid"
    assert f"Payment {payment.number} received" in message.text
    assert "299\xa0₽" in message.text
    assert f"Subscription {credit.payment.subscription.number} · Month is active" in message.text
    expiry = timezone.localtime(credit.payment.subscription.expires_at)
    assert str(expiry.year) in message.text
    assert "(MSK)" in message.text
    assert "keys" in message.text  # promises the keys, does not send them


def test_customer_message_in_russian_uses_russian_dates():
    customer = CustomerFactory(language="ru")
    payment = PaymentFactory(customer=customer)
    mark_paid(payment)
    text = OutboxMessage.objects.get(audience=OutboxAudience.CUSTOMER).text
    assert "299\xa0₽" in text
    month_names = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа")
    more = ("сентября", "октября", "ноября", "декабря")
    assert any(name in text for name in month_names + more)


def test_admins_are_told_amount_provider_and_customer():
    payment = PaymentFactory(customer__username="alice", provider="freekassa")
    mark_paid(payment)
    messages = OutboxMessage.objects.filter(audience=OutboxAudience.ADMIN, kind="payment-new")
    assert sorted(messages.values_list("chat_id", flat=True)) == [900001, 900002]
    text = messages.first().text
    assert "@alice" in text
    assert "freekassa" in text
    assert "299\xa0₽" in text


def test_html_in_names_is_escaped():
    payment = PaymentFactory(tariff__name="<b>x</b>", customer__username="<i>")
    mark_paid(payment)
    for message in OutboxMessage.objects.all():
        assert "<b>x</b>" not in message.text
        assert "<i>" not in message.text


def test_a_customer_who_blocked_the_bot_still_gets_credited():
    payment = PaymentFactory(customer__bot_blocked_at=timezone.now())
    assert mark_paid(payment).credited
    assert OutboxMessage.objects.get(audience=OutboxAudience.CUSTOMER).status == "skipped"


def test_provider_ref_taken_by_another_payment_is_not_reused():
    PaymentFactory(
        provider="freekassa",
        provider_ref="555",
        status=PaymentStatus.PAID,
        paid_at=timezone.now(),
    )
    payment = PaymentFactory(provider="freekassa")
    credit = mark_paid(payment, provider_ref="555")
    assert credit.credited
    assert credit.payment.provider_ref == ""


def test_unknown_payment():
    with pytest.raises(WebhookError) as excinfo:
        payment_mark_paid(
            payment_id=424242,
            provider="robokassa",
            notification=ProviderNotification(
                event_key="424242",
                payment_id=424242,
                amount=Decimal("1"),
                currency=None,
                provider_ref="",
                raw={},
            ),
        )
    assert excinfo.value.reason == "payment_unknown"


def test_currency_mismatch():
    payment = PaymentFactory()
    with pytest.raises(WebhookError) as excinfo:
        payment_mark_paid(
            payment_id=payment.pk,
            provider=payment.provider,
            notification=ProviderNotification(
                event_key=str(payment.pk),
                payment_id=payment.pk,
                amount=Decimal("299"),
                currency="USD",
                provider_ref="",
                raw={},
            ),
        )
    assert excinfo.value.reason == "currency_mismatch"


def test_expired_pending_is_flagged_late():
    payment = PaymentFactory(expires_at=timezone.now() - timedelta(seconds=1))
    assert mark_paid(payment).late is True


@pytest.mark.parametrize(
    ("received", "expected", "equal"),
    [
        ("299", "299.00", True),
        ("299.00", "299.00", True),
        ("299.000000", "299.00", True),
        ("299.001", "299.00", False),
        ("298.99", "299.00", False),
        ("0.1", "0.10", True),
    ],
)
def test_amounts_equal(received, expected, equal):
    assert amounts_equal(received=Decimal(received), expected=Decimal(expected)) is equal


def test_renewal_message_says_the_keys_stay_the_same():
    from subscriptions.tests.factories import SubscriptionFactory

    customer = CustomerFactory(language="en")
    subscription = SubscriptionFactory(customer=customer, keys_notified_at=timezone.now())
    payment = PaymentFactory(subscription=subscription)
    mark_paid(payment)
    text = OutboxMessage.objects.get(kind="payment-paid").text
    assert "extended until" in text
    assert "stay the same" in text
    assert "will follow" not in text


def _refused(payment, *, amount: str) -> str:
    with pytest.raises(WebhookError) as excinfo:
        mark_paid(payment, amount=amount)
    return excinfo.value.reason


@pytest.mark.django_db(transaction=True)
def test_a_refusal_is_raised_and_changes_nothing():
    from core.models import AuditLog

    payment = PaymentFactory(amount=Decimal("299.00"))
    assert _refused(payment, amount="199.00") == "amount_mismatch"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.subscription_id is None
    assert not OutboxMessage.objects.exists()
    assert not AuditLog.objects.exists()


def test_each_message_formats_amount_and_expiry_in_its_own_language():
    """An English customer's message and the admins' Russian one format the same facts
    differently; neither borrows the other's."""
    payment = PaymentFactory(
        customer__language="en", amount=Decimal("1299.50"), tariff__price=Decimal("1299.50")
    )
    mark_paid(payment, amount="1299.50")
    to_customer = OutboxMessage.objects.get(audience=OutboxAudience.CUSTOMER).text
    to_admin = OutboxMessage.objects.filter(audience=OutboxAudience.ADMIN).first().text
    assert "1,299.50\xa0₽" in to_customer
    assert "1\xa0299,50\xa0₽" in to_admin
    assert "299,50" not in to_customer
    assert "299.50" not in to_admin
