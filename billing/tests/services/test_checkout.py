"""A checkout is one pending payment per customer, tariff, renewed subscription (or a new
one) and provider; once paid, its message says so and the other methods' payments go."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import Payment, PaymentStatus
from billing.services.checkout import checkout_payment_get
from billing.tests.helpers import mark_paid
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from core.tests.helpers import run_concurrently
from notifications.models import OutboxMessage
from subscriptions.models import Tariff
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def checkout(customer, tariff, provider="robokassa", subscription=None, now=None, **kwargs):
    return checkout_payment_get(
        customer=customer,
        tariff=tariff,
        provider=provider,
        subscription=subscription,
        now=now or timezone.now(),
        **kwargs,
    )


def paid(payment):
    return mark_paid(payment, amount=str(payment.amount))


def test_the_same_method_pressed_twice_reuses_the_payment():
    customer, tariff = CustomerFactory(), TariffFactory()
    first = checkout(customer, tariff)
    second = checkout(customer, tariff)
    assert (first.reused, second.reused) == (False, True)
    assert second.payment.pk == first.payment.pk
    assert Payment.objects.count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_CREATED).count() == 1


def test_two_methods_are_two_checkouts_each_reused():
    customer, tariff = CustomerFactory(), TariffFactory()
    robokassa = checkout(customer, tariff, "robokassa").payment
    freekassa = checkout(customer, tariff, "freekassa").payment
    assert robokassa.pk != freekassa.pk
    assert checkout(customer, tariff, "robokassa").payment.pk == robokassa.pk
    assert checkout(customer, tariff, "freekassa").payment.pk == freekassa.pk
    assert Payment.objects.count() == 2


def test_a_renewal_a_new_subscription_another_tariff_are_other_checkouts():
    subscription = SubscriptionFactory()
    customer, tariff = subscription.customer, subscription.tariff
    new = checkout(customer, tariff).payment
    renewal = checkout(customer, tariff, subscription=subscription).payment
    other = checkout(customer, TariffFactory()).payment
    assert len({new.pk, renewal.pk, other.pk}) == 3
    assert renewal.subscription == subscription
    assert checkout(customer, tariff, subscription=subscription).payment.pk == renewal.pk


def test_another_customer_never_gets_the_payment():
    tariff = TariffFactory()
    mine = checkout(CustomerFactory(), tariff).payment
    theirs = checkout(CustomerFactory(), tariff).payment
    assert mine.pk != theirs.pk


@pytest.mark.parametrize("left", [timedelta(minutes=9), timedelta(0), -timedelta(hours=1)])
def test_a_payment_about_to_expire_or_expired_is_replaced(left):
    customer, tariff = CustomerFactory(), TariffFactory()
    now = timezone.now()
    old = checkout(customer, tariff, now=now).payment
    later = old.expires_at - left
    new = checkout(customer, tariff, now=later)
    assert new.reused is False
    assert new.payment.pk != old.pk
    old.refresh_from_db()
    assert old.status == PaymentStatus.CANCELLED
    assert new.payment.expires_at == later + timedelta(minutes=60)
    cancelled = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_CANCELLED)
    assert cancelled.extra_data["reason"] == "checkout_outdated"


def test_a_payment_with_enough_time_left_is_reused():
    customer, tariff = CustomerFactory(), TariffFactory()
    old = checkout(customer, tariff).payment
    again = checkout(customer, tariff, now=old.expires_at - timedelta(minutes=11))
    assert (again.reused, again.payment.pk) == (True, old.pk)


def test_a_price_change_makes_a_new_payment_at_the_new_price():
    customer, tariff = CustomerFactory(), TariffFactory(price=Decimal("299"))
    old = checkout(customer, tariff).payment
    Tariff.objects.filter(pk=tariff.pk).update(price=Decimal("349"))
    tariff.refresh_from_db()
    new = checkout(customer, tariff).payment
    assert (new.pk != old.pk, new.amount) == (True, Decimal("349.00"))


def test_a_reused_payment_is_refused_to_a_banned_customer():
    customer, tariff = CustomerFactory(language="en"), TariffFactory()
    checkout(customer, tariff)
    customer.is_banned = True
    customer.save()
    with pytest.raises(ApplicationError, match="Your account is blocked"):
        checkout(customer, tariff)


def test_the_message_of_the_checkout_is_remembered_and_follows_the_last_press():
    customer, tariff = CustomerFactory(), TariffFactory()
    payment = checkout(customer, tariff, chat_id=customer.telegram_id, message_id=10).payment
    checkout(customer, tariff, chat_id=customer.telegram_id, message_id=11)
    payment.refresh_from_db()
    assert (payment.checkout_chat_id, payment.checkout_message_id) == (customer.telegram_id, 11)


@pytest.mark.django_db(transaction=True)
def test_two_fast_presses_make_one_payment(on_postgres):
    customer, tariff = CustomerFactory(), TariffFactory()
    results = []

    def press():
        fresh = Customer.objects.get(pk=customer.pk)
        results.append(checkout(fresh, Tariff.objects.get(pk=tariff.pk)))

    errors = run_concurrently([press] * 4)
    assert errors == []
    assert Payment.objects.count() == 1
    assert sorted(r.reused for r in results) == [False, True, True, True]
    assert {r.payment.pk for r in results} == {Payment.objects.get().pk}


def test_paid_checkout_message_is_edited_once_and_loses_its_pay_button():
    customer = CustomerFactory(language="en")
    tariff = TariffFactory(name="Месяц", name_en="Month", price=Decimal("499"))
    payment = checkout(customer, tariff, chat_id=customer.telegram_id, message_id=77).payment
    paid(payment)
    paid(payment)  # the provider notifies again: nothing more
    edit = OutboxMessage.objects.get(kind="checkout-paid")
    assert (edit.chat_id, edit.telegram_message_id) == (customer.telegram_id, 77)
    assert edit.text == f"✅ Paid: Month — 499\xa0₽ (payment {payment.number})."
    assert edit.reply_markup is None  # no keyboard: the pay button goes


def test_paid_checkout_message_in_russian():
    customer = CustomerFactory(language="ru")
    tariff = TariffFactory(name="Месяц", price=Decimal("499"))
    payment = checkout(customer, tariff, chat_id=customer.telegram_id, message_id=77).payment
    paid(payment)
    text = OutboxMessage.objects.get(kind="checkout-paid").text
    assert text == f"✅ Оплачено: Месяц — 499\xa0₽ (платёж {payment.number})."


def test_a_payment_without_a_checkout_message_edits_nothing():
    payment = checkout(CustomerFactory(), TariffFactory()).payment
    paid(payment)
    assert not OutboxMessage.objects.filter(kind__startswith="checkout-").exists()


def test_paying_one_method_settles_the_other_methods_payment():
    customer = CustomerFactory(language="en")
    tariff = TariffFactory(name_en="Month", price=Decimal("499"))
    chat = customer.telegram_id
    robokassa = checkout(customer, tariff, "robokassa", chat_id=chat, message_id=5).payment
    freekassa = checkout(customer, tariff, "freekassa", chat_id=chat, message_id=6).payment
    other_tariff = checkout(customer, TariffFactory(), "freekassa").payment
    paid(robokassa)
    freekassa.refresh_from_db()
    other_tariff.refresh_from_db()
    assert freekassa.status == PaymentStatus.CANCELLED
    assert other_tariff.status == PaymentStatus.PENDING  # another purchase
    superseded = OutboxMessage.objects.get(kind="checkout-superseded")
    assert superseded.telegram_message_id == 6
    assert superseded.text.startswith("✅ This purchase is already paid: Month — 499\xa0₽")
    assert f"(payment {robokassa.number})" in superseded.text
    assert OutboxMessage.objects.get(kind="checkout-paid").telegram_message_id == 5
    # Its link was already open and gets paid too: credited (late), the admins are told.
    assert paid(freekassa).late is True


def test_paying_a_renewal_leaves_a_pending_new_purchase_alone():
    subscription = SubscriptionFactory()
    customer, tariff = subscription.customer, subscription.tariff
    new = checkout(customer, tariff).payment
    renewal = checkout(customer, tariff, subscription=subscription).payment
    paid(renewal)
    new.refresh_from_db()
    assert new.status == PaymentStatus.PENDING


def test_the_country_follows_the_latest_choice_and_renewals_carry_none():
    from nodes.models import NodeHealth
    from nodes.tests.factories import NodeFactory

    NodeFactory(country="DE", health=NodeHealth.UP)
    NodeFactory(country="NL", health=NodeHealth.UP)
    customer, tariff = CustomerFactory(language="en"), TariffFactory()
    payment = checkout(customer, tariff, country="de").payment
    assert payment.country == "DE"
    again = checkout(customer, tariff, country="NL")
    assert (again.reused, again.payment.country) == (True, "NL")
    payment.refresh_from_db()
    assert payment.country == "NL"
    with pytest.raises(ApplicationError, match="This country is not available"):
        checkout(customer, tariff, country="FI")
    subscription = SubscriptionFactory(customer=customer, tariff=tariff)
    assert checkout(customer, tariff, subscription=subscription, country="NL").payment.country == ""
    assert paid(payment).payment.subscription.country == "NL"


def test_settling_a_checkout_twice_queues_each_edit_once(django_capture_on_commit_callbacks):
    """A retried credit step settles the checkout again: the dedupe keys keep one edit each."""
    from billing.services.checkout_settle import checkout_settle

    customer = CustomerFactory(language="en")
    tariff = TariffFactory(name_en="Month", price=Decimal("499"))
    chat = customer.telegram_id
    robokassa = checkout(customer, tariff, "robokassa", chat_id=chat, message_id=5).payment
    checkout(customer, tariff, "freekassa", chat_id=chat, message_id=6)
    paid(robokassa)
    robokassa.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        checkout_settle(payment=robokassa, subscription_id=None)
    assert OutboxMessage.objects.filter(kind="checkout-paid").count() == 1
    assert OutboxMessage.objects.filter(kind="checkout-superseded").count() == 1
