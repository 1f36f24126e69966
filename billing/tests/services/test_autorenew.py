"""Auto-renew from the balance (``billing.services.autorenew``): charged once per period
however often the task runs, a reminder before, a receipt after, one message when the
balance is short, nothing when switched off."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Customer
from billing.models import BalanceEntry, BalanceEntryKind, Payment, PaymentStatus
from billing.services.autorenew import (
    autorenew_source_key,
    subscription_autorenew,
    subscription_autorenew_set,
    subscriptions_autorenew_due,
)
from billing.services.ledger import BALANCE_PROVIDER, balance_entry_add
from billing.tasks import subscriptions_autorenew_due_task
from core.exceptions import ApplicationError
from notifications.models import OutboxMessage
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _days_before(settings):
    settings.AUTO_RENEW_DAYS_BEFORE = 1


def fund(customer, amount):
    balance_entry_add(
        customer_id=customer.pk,
        amount=Decimal(amount),
        kind=BalanceEntryKind.ADJUSTMENT,
        source_key=f"fund:{customer.pk}:{amount}",
    )


def ending_in(hours: float, *, auto_renew=True, **kwargs):
    now = timezone.now()
    return SubscriptionFactory(
        auto_renew=auto_renew,
        started_at=now - timedelta(days=29),
        expires_at=now + timedelta(hours=hours),
        customer__language="en",
        **kwargs,
    )


def balance(subscription) -> Decimal:
    return Customer.objects.get(pk=subscription.customer_id).balance


def kinds() -> list[str]:
    return sorted(OutboxMessage.objects.values_list("kind", flat=True))


def test_renewed_once_across_repeated_runs():
    subscription = ending_in(12)
    fund(subscription.customer, "1000")
    expiry = subscription.expires_at
    key = autorenew_source_key(subscription)
    assert subscriptions_autorenew_due() == 1
    for _ in range(3):
        assert subscriptions_autorenew_due() == 0
        subscriptions_autorenew_due_task.delay()
    subscription.refresh_from_db()
    assert subscription.expires_at == expiry + timedelta(days=30)
    entry = BalanceEntry.objects.get(kind=BalanceEntryKind.AUTO_RENEW)
    assert entry.source_key == key
    assert entry.amount == -subscription.tariff.price
    assert balance(subscription) == Decimal("1000") - subscription.tariff.price
    payment = Payment.objects.get(provider=BALANCE_PROVIDER)
    assert payment.status == PaymentStatus.PAID
    assert payment.days_credited == 30
    assert entry.payment == payment
    assert kinds() == ["autorenew-done"]
    receipt = OutboxMessage.objects.get().text
    assert "renewed automatically" in receipt


def test_the_same_period_is_never_charged_twice_even_when_asked_again():
    subscription = ending_in(12)
    fund(subscription.customer, "1000")
    now = timezone.now()
    assert subscription_autorenew(subscription_id=subscription.pk, now=now) == "renewed"
    # Retried with the original time: the expiry moved a period on, so it is not due.
    assert subscription_autorenew(subscription_id=subscription.pk, now=now) == "not due"
    assert BalanceEntry.objects.filter(kind=BalanceEntryKind.AUTO_RENEW).count() == 1


def test_reminder_before_then_renewal():
    subscription = ending_in(36)
    fund(subscription.customer, "1000")
    assert subscription_autorenew(subscription_id=subscription.pk) == "reminded"
    assert subscription_autorenew(subscription_id=subscription.pk) == "reminded"
    assert kinds() == ["autorenew-reminder"]
    assert "will be renewed" in OutboxMessage.objects.get().text
    assert BalanceEntry.objects.filter(kind=BalanceEntryKind.AUTO_RENEW).count() == 0
    later = timezone.now() + timedelta(hours=13)
    assert subscription_autorenew(subscription_id=subscription.pk, now=later) == "renewed"


def test_short_balance_told_once_per_period_and_nothing_charged():
    subscription = ending_in(12)
    fund(subscription.customer, "100")
    expiry = subscription.expires_at
    for _ in range(3):
        assert subscription_autorenew(subscription_id=subscription.pk) == "short"
    assert kinds() == ["autorenew-short"]
    assert "Top up your balance" in OutboxMessage.objects.get().text
    subscription.refresh_from_db()
    assert subscription.expires_at == expiry
    assert balance(subscription) == Decimal("100")
    assert Payment.objects.count() == 0
    # Topped up in time: renewed after all.
    fund(subscription.customer, "1000")
    assert subscription_autorenew(subscription_id=subscription.pk) == "renewed"


def test_switched_off_is_never_charged():
    subscription = ending_in(12)
    fund(subscription.customer, "1000")
    subscription_autorenew_set(
        customer=subscription.customer, subscription_id=subscription.pk, on=False
    )
    assert subscriptions_autorenew_due() == 0
    assert subscription_autorenew(subscription_id=subscription.pk) == "off"
    assert balance(subscription) == Decimal("1000")
    assert kinds() == []


def test_switch_only_the_customers_own_paid_subscription():
    subscription = ending_in(12, auto_renew=False)
    other = ending_in(12, auto_renew=False)
    assert (
        subscription_autorenew_set(
            customer=subscription.customer, subscription_id=subscription.pk, on=True
        )
        is True
    )
    subscription.refresh_from_db()
    assert subscription.auto_renew is True
    with pytest.raises(ApplicationError):
        subscription_autorenew_set(
            customer=subscription.customer, subscription_id=other.pk, on=True
        )
    trial = ending_in(12, auto_renew=False, is_trial=True)
    with pytest.raises(ApplicationError):
        subscription_autorenew_set(customer=trial.customer, subscription_id=trial.pk, on=True)


def test_not_due_ended_trial_banned_or_unsold_tariff():
    far = ending_in(24 * 5)
    ended = ending_in(-1)
    banned = ending_in(12, customer__is_banned=True)
    unsold = ending_in(12, tariff__is_active=False)
    for subscription in (far, ended, banned, unsold):
        fund(subscription.customer, "1000")
    assert subscription_autorenew(subscription_id=far.pk) == "not due"
    assert subscription_autorenew(subscription_id=ended.pk) == "off"
    assert subscription_autorenew(subscription_id=banned.pk) == "off"
    assert subscription_autorenew(subscription_id=unsold.pk) == "unavailable"
    assert subscription_autorenew(subscription_id=unsold.pk) == "unavailable"
    assert kinds() == ["autorenew-unavailable"]
    assert BalanceEntry.objects.filter(kind=BalanceEntryKind.AUTO_RENEW).count() == 0


def test_a_renewal_never_shortens_the_subscription(settings):
    # Renewing a week early (a large setting) still adds the whole period to the expiry.
    settings.AUTO_RENEW_DAYS_BEFORE = 10
    subscription = ending_in(24 * 7)
    fund(subscription.customer, "1000")
    expiry = subscription.expires_at
    assert subscription_autorenew(subscription_id=subscription.pk) == "renewed"
    subscription.refresh_from_db()
    assert subscription.expires_at == expiry + timedelta(days=30)


def test_renewal_cancels_open_checkouts_of_the_same_renewal(billing_providers):
    from billing.tests.factories import PaymentFactory

    subscription = ending_in(12)
    fund(subscription.customer, "1000")
    pending = PaymentFactory(subscription=subscription, expires_at=timezone.now() + timedelta(1))
    subscription_autorenew(subscription_id=subscription.pk)
    pending.refresh_from_db()
    assert pending.status == PaymentStatus.CANCELLED


def test_messages_in_russian():
    subscription = ending_in(12)
    subscription.customer.language = "ru"
    subscription.customer.save()
    fund(subscription.customer, "10")
    subscription_autorenew(subscription_id=subscription.pk)
    assert "Автопродление" in OutboxMessage.objects.get().text


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_runs_charge_once(on_postgres):
    """Ten workers run the task at the same moment (a retry storm): one renewal."""
    from core.tests.helpers import run_concurrently

    subscription = ending_in(12)
    fund(subscription.customer, "1000")
    expiry = subscription.expires_at
    now = timezone.now()
    errors = run_concurrently([lambda: subscriptions_autorenew_due(now=now)] * 10)
    assert errors == []
    assert BalanceEntry.objects.filter(kind=BalanceEntryKind.AUTO_RENEW).count() == 1
    subscription.refresh_from_db()
    assert subscription.expires_at == expiry + timedelta(days=30)
    assert balance(subscription) == Decimal("1000") - subscription.tariff.price
    assert kinds() == ["autorenew-done"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_switching_off_while_the_task_runs_neither_deadlocks_nor_tears(on_postgres):
    """The switch and the run queue on the subscription's row (no deadlock: both take the
    locks in the same order); the run either renewed before the switch or saw it off, and a
    renewal always has its payment. (A run after the switch never charges: the test above.)"""
    from core.tests.helpers import run_concurrently

    subscription = ending_in(12)
    fund(subscription.customer, "1000")

    def switch_off():
        subscription_autorenew_set(
            customer=subscription.customer, subscription_id=subscription.pk, on=False
        )

    errors = run_concurrently([switch_off, subscriptions_autorenew_due])
    assert errors == []
    subscription.refresh_from_db()
    assert subscription.auto_renew is False
    renewed = BalanceEntry.objects.filter(kind=BalanceEntryKind.AUTO_RENEW).exists()
    # Either the run came first (renewed, then switched off) or it saw "off": no other state.
    assert renewed == (Payment.objects.filter(provider=BALANCE_PROVIDER).count() == 1)
