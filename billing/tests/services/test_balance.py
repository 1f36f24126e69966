"""Top-ups, paying a tariff from the balance, refunds and operators' adjustments
(``billing.services.balance``)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import BalanceEntry, BalanceEntryKind, Payment, PaymentPurpose, PaymentStatus
from billing.services.balance import (
    balance_adjust,
    balance_top_up_create,
    payment_pay_from_balance,
)
from billing.services.checkout import checkout_payment_get
from billing.services.ledger import BALANCE_PROVIDER, InsufficientBalanceError, balance_entry_add
from billing.services.payments import payment_checkout_url
from billing.services.refunds import payment_refund
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import mark_paid
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from notifications.models import OutboxAudience, OutboxMessage
from subscriptions.models import Subscription
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def balance(customer) -> Decimal:
    return Customer.objects.get(pk=customer.pk).balance


def fund(customer, amount="1000"):
    balance_entry_add(
        customer_id=customer.pk,
        amount=Decimal(amount),
        kind=BalanceEntryKind.ADJUSTMENT,
        source_key=f"fund:{customer.pk}:{amount}",
    )


def balance_checkout(customer, tariff, subscription=None):
    return checkout_payment_get(
        customer=customer,
        tariff=tariff,
        provider=BALANCE_PROVIDER,
        subscription=subscription,
        now=timezone.now(),
    ).payment


# --- Top-ups ---------------------------------------------------------------------------------


def test_top_up_is_a_payment_without_tariff_with_a_provider_link():
    customer = CustomerFactory()
    payment = balance_top_up_create(customer=customer, amount=Decimal("300"), provider="robokassa")
    assert (payment.purpose, payment.tariff, payment.amount) == (
        PaymentPurpose.TOP_UP,
        None,
        Decimal("300"),
    )
    assert payment.status == PaymentStatus.PENDING
    assert "OutSum=300.00" in payment_checkout_url(payment=payment)


@pytest.mark.parametrize("amount", ["49.99", "50000.01", "100.001"])
def test_top_up_outside_the_bounds_is_refused(amount):
    customer = CustomerFactory(language="en")
    with pytest.raises(ApplicationError, match="between 50 and 50000"):
        balance_top_up_create(customer=customer, amount=Decimal(amount), provider="robokassa")
    assert Payment.objects.count() == 0


def test_top_up_refused_for_banned_customer_and_unknown_provider():
    with pytest.raises(ApplicationError):
        balance_top_up_create(
            customer=CustomerFactory(is_banned=True), amount=Decimal("100"), provider="robokassa"
        )
    with pytest.raises(ApplicationError):
        balance_top_up_create(customer=CustomerFactory(), amount=Decimal("100"), provider="balance")
    assert Payment.objects.count() == 0


def test_top_up_notification_credits_the_balance_once():
    customer = CustomerFactory(language="en")
    payment = balance_top_up_create(customer=customer, amount=Decimal("300"), provider="robokassa")
    first = mark_paid(payment, amount="300.00")
    second = mark_paid(payment, amount="300.00")
    assert (first.credited, second.credited) == (True, False)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.subscription is None
    assert payment.days_credited == 0
    assert balance(customer) == Decimal("300")
    entry = BalanceEntry.objects.get()
    assert (entry.kind, entry.source_key, entry.payment_id) == (
        BalanceEntryKind.TOP_UP,
        f"payment:{payment.pk}",
        payment.pk,
    )
    assert Subscription.objects.count() == 0
    text = OutboxMessage.objects.get(audience=OutboxAudience.CUSTOMER).text
    assert "added to your balance" in text
    assert "300" in text
    assert AuditLog.objects.filter(event_type=AuditEvent.PAYMENT_PAID).count() == 1


def test_top_up_credit_does_not_cancel_other_pending_top_ups():
    customer = CustomerFactory()
    one = balance_top_up_create(customer=customer, amount=Decimal("100"), provider="robokassa")
    other = balance_top_up_create(customer=customer, amount=Decimal("200"), provider="robokassa")
    mark_paid(one, amount="100.00")
    other.refresh_from_db()
    assert other.status == PaymentStatus.PENDING


def test_refund_of_a_top_up_takes_the_money_back_or_is_refused_when_spent():
    customer = CustomerFactory()
    payment = balance_top_up_create(customer=customer, amount=Decimal("300"), provider="robokassa")
    mark_paid(payment, amount="300.00")
    payment_refund(payment=payment, actor=None, reason="asked")
    assert balance(customer) == 0
    assert BalanceEntry.objects.filter(kind=BalanceEntryKind.REFUND).count() == 1

    spent = balance_top_up_create(customer=customer, amount=Decimal("300"), provider="robokassa")
    mark_paid(spent, amount="300.00")
    payment_pay_from_balance(
        customer=customer, payment_id=balance_checkout(customer, TariffFactory(price=299)).pk
    )
    with pytest.raises(InsufficientBalanceError):
        payment_refund(payment=spent, actor=None, reason="asked")
    spent.refresh_from_db()
    assert spent.status == PaymentStatus.PAID
    assert balance(customer) == Decimal("1")


# --- Paying from the balance -----------------------------------------------------------------


def test_pay_from_balance_debits_once_and_creates_the_subscription():
    customer = CustomerFactory()
    fund(customer)
    tariff = TariffFactory(price=Decimal("299"))
    payment = balance_checkout(customer, tariff)
    first = payment_pay_from_balance(customer=customer, payment_id=payment.pk)
    second = payment_pay_from_balance(customer=customer, payment_id=payment.pk)
    assert (first.credited, second.credited) == (True, False)
    assert balance(customer) == Decimal("701")
    entry = BalanceEntry.objects.get(kind=BalanceEntryKind.PURCHASE)
    assert (entry.amount, entry.source_key) == (Decimal("-299"), f"purchase:{payment.pk}")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    subscription = Subscription.objects.get()
    assert payment.subscription == subscription
    assert subscription.tariff == tariff
    assert OutboxMessage.objects.filter(kind="payment-paid").count() == 1


def test_pay_from_balance_renews_by_adding_days():
    subscription = SubscriptionFactory()
    fund(subscription.customer)
    expiry = subscription.expires_at
    payment = balance_checkout(subscription.customer, subscription.tariff, subscription)
    payment_pay_from_balance(customer=subscription.customer, payment_id=payment.pk)
    subscription.refresh_from_db()
    assert subscription.expires_at == expiry + timedelta(days=subscription.tariff.duration_days)


def test_short_balance_changes_nothing():
    customer = CustomerFactory(language="en")
    fund(customer, "298.99")
    payment = balance_checkout(customer, TariffFactory(price=Decimal("299")))
    with pytest.raises(InsufficientBalanceError, match="Not enough money"):
        payment_pay_from_balance(customer=customer, payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert balance(customer) == Decimal("298.99")
    assert Subscription.objects.count() == 0
    assert BalanceEntry.objects.count() == 1


def test_expired_or_foreign_balance_payment_is_refused():
    customer = CustomerFactory(language="en")
    fund(customer)
    payment = balance_checkout(customer, TariffFactory())
    with pytest.raises(ApplicationError):
        payment_pay_from_balance(customer=CustomerFactory(), payment_id=payment.pk)
    Payment.objects.filter(pk=payment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ApplicationError, match="no longer be paid"):
        payment_pay_from_balance(customer=customer, payment_id=payment.pk)
    assert balance(customer) == Decimal("1000")


def test_a_provider_payment_cannot_be_paid_from_the_balance():
    customer = CustomerFactory()
    fund(customer)
    payment = PaymentFactory(customer=customer)
    with pytest.raises(ApplicationError):
        payment_pay_from_balance(customer=customer, payment_id=payment.pk)
    assert balance(customer) == Decimal("1000")


def test_refund_of_a_balance_purchase_returns_the_money_to_the_balance():
    customer = CustomerFactory()
    fund(customer)
    payment = balance_checkout(customer, TariffFactory(price=Decimal("299")))
    payment_pay_from_balance(customer=customer, payment_id=payment.pk)
    payment.refresh_from_db()
    payment_refund(payment=payment, actor=None, reason="mistake")
    assert balance(customer) == Decimal("1000")
    assert BalanceEntry.objects.filter(kind=BalanceEntryKind.REFUND).get().amount == Decimal("299")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_confirmations_pay_once(on_postgres):
    from core.tests.helpers import run_concurrently

    customer = CustomerFactory()
    fund(customer)
    payment = balance_checkout(customer, TariffFactory(price=Decimal("299")))
    errors = run_concurrently(
        [lambda: payment_pay_from_balance(customer=customer, payment_id=payment.pk)] * 10
    )
    assert errors == []
    assert balance(customer) == Decimal("701")
    assert Subscription.objects.count() == 1


# --- Operators -------------------------------------------------------------------------------


def test_operator_adjustment_is_audited_and_once_per_form(superuser):
    customer = CustomerFactory()
    entry = balance_adjust(
        customer=customer,
        amount=Decimal("150"),
        reason="compensation",
        operator=superuser,
        key="k1",
    )
    again = balance_adjust(
        customer=customer,
        amount=Decimal("150"),
        reason="compensation",
        operator=superuser,
        key="k1",
    )
    assert again.pk == entry.pk
    assert (entry.kind, entry.operator, entry.reason) == (
        BalanceEntryKind.ADJUSTMENT,
        superuser,
        "compensation",
    )
    assert balance(customer) == Decimal("150")
    audit = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert audit.acting_user == superuser
    assert audit.customer_id == customer.pk
    assert "compensation" in audit.message
    assert audit.extra_data["action"] == "balance_adjust"


def test_operator_cannot_take_more_than_the_balance_nor_without_reason(superuser):
    customer = CustomerFactory()
    with pytest.raises(InsufficientBalanceError):
        balance_adjust(
            customer=customer, amount=Decimal("-1"), reason="oops", operator=superuser, key="k"
        )
    with pytest.raises(ApplicationError, match="reason"):
        balance_adjust(
            customer=customer, amount=Decimal("10"), reason=" ", operator=superuser, key="k2"
        )
    assert BalanceEntry.objects.count() == 0
    assert AuditLog.objects.filter(event_type=AuditEvent.ADMIN_ACTION).count() == 0
