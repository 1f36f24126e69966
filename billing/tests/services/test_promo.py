"""Promo codes: the price, every rule, the use reserved at checkout, used on credit, released
when the payment is not paid, kept on refund; free grants; 50 parallel uses of a 10-use code."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.exceptions import WebhookError
from billing.models import (
    Payment,
    PaymentStatus,
    PromoCode,
    PromoKind,
    PromoRedemption,
    PromoRedemptionStatus,
)
from billing.selectors import promo_codes_with_usage
from billing.services.checkout import checkout_payment_get
from billing.services.checkout_settle import payments_expire_pending
from billing.services.payments import payment_create
from billing.services.promo import (
    PromoError,
    checkout_price,
    promo_find,
    promo_grant,
    promo_price,
)
from billing.services.refunds import payment_refund
from billing.tests.factories import PaymentFactory, PromoCodeFactory
from billing.tests.helpers import mark_paid
from core.exceptions import ApplicationError
from core.tests.helpers import run_concurrently
from subscriptions.models import Subscription, Tariff
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def checkout(customer, tariff, promo=None, provider="robokassa", *, subscription=None, now=None):
    return checkout_payment_get(
        customer=customer,
        tariff=tariff,
        provider=provider,
        subscription=subscription,
        now=now or timezone.now(),
        promo=promo,
    )


def refused(reason, call):
    with pytest.raises(PromoError) as exc:
        call()
    assert exc.value.reason == reason
    return exc.value.message


# --- the price ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "price"),
    [
        (PromoKind.PERCENT, {"percent": 10}, "269.10"),
        (PromoKind.PERCENT, {"percent": 33}, "200.33"),  # 98.67 off, rounded half up
        (PromoKind.PERCENT, {"percent": 100}, "0.00"),
        (PromoKind.AMOUNT, {"amount": Decimal("100")}, "199.00"),
        (PromoKind.AMOUNT, {"amount": Decimal("1000")}, "0.00"),  # never below 0
        (PromoKind.DAYS, {"days": 7}, "299.00"),
    ],
)
def test_checkout_price(kind, value, price):
    tariff = TariffFactory.build(price=Decimal("299.00"))
    promo = PromoCode(code="X", kind=kind, **value)
    assert checkout_price(tariff=tariff, promo=promo) == Decimal(price)
    assert checkout_price(tariff=tariff, promo=None) == Decimal("299.00")


@settings(max_examples=300, deadline=None)
@given(
    price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2),
    percent=st.integers(min_value=1, max_value=100),
    amount=st.decimals(min_value=Decimal("0"), max_value=Decimal("2000000"), places=2),
)
def test_a_discount_never_makes_a_price_negative_nor_higher(price, percent, amount):
    tariff = TariffFactory.build(price=price)
    by_percent = checkout_price(
        tariff=tariff, promo=PromoCode(kind=PromoKind.PERCENT, percent=percent)
    )
    by_amount = checkout_price(tariff=tariff, promo=PromoCode(kind=PromoKind.AMOUNT, amount=amount))
    for discounted in (by_percent, by_amount):
        assert Decimal("0") <= discounted <= price
        assert discounted == discounted.quantize(Decimal("0.01"))
    assert by_amount == max(price - amount, Decimal("0"))
    # The percentage of the price, to the nearest kopeck.
    assert abs((price - by_percent) - price * percent / 100) <= Decimal("0.005")
    if percent == 100:
        assert by_percent == 0


def test_promo_price_in_whole_units():
    promo = PromoCode(kind=PromoKind.PERCENT, percent=15)
    assert promo_price(price=Decimal("250"), promo=promo, quantum=Decimal("1")) == Decimal("212")
    assert promo_price(price=Decimal("250"), promo=None, quantum=Decimal("1")) == Decimal("250")


# --- checkout, credit, release, refund ----------------------------------------------------


def test_a_discounted_checkout_records_the_code_and_the_price_before_it():
    customer, tariff = CustomerFactory(), TariffFactory(price=Decimal("299.00"))
    promo = PromoCodeFactory(kind=PromoKind.AMOUNT, percent=None, amount=Decimal("99"))
    payment = checkout(customer, tariff, promo).payment
    assert (payment.amount, payment.price_before_promo, payment.promo) == (
        Decimal("200.00"),
        Decimal("299.00"),
        promo,
    )
    redemption = PromoRedemption.objects.get()
    assert (redemption.payment, redemption.status, redemption.discount) == (
        payment,
        PromoRedemptionStatus.RESERVED,
        Decimal("99.00"),
    )


def test_credit_marks_the_use_used_and_credits_exactly_the_discounted_amount():
    customer, tariff = CustomerFactory(), TariffFactory(price=Decimal("299.00"))
    promo = PromoCodeFactory(percent=10)
    payment = checkout(customer, tariff, promo).payment
    with pytest.raises(WebhookError):  # the full price is not this order's amount
        mark_paid(payment, amount="299.00")
    assert PromoRedemption.objects.get().status == PromoRedemptionStatus.RESERVED
    mark_paid(payment, amount="269.10")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.days_credited == 30
    assert PromoRedemption.objects.get().status == PromoRedemptionStatus.USED


def test_extra_days_code_adds_its_days_to_a_new_subscription_and_a_renewal():
    customer, tariff = CustomerFactory(), TariffFactory(duration_days=30)
    promo = PromoCodeFactory(kind=PromoKind.DAYS, percent=None, days=7, once_per_customer=False)
    now = timezone.now()
    payment = checkout(customer, tariff, promo).payment
    assert payment.amount == tariff.price
    mark_paid(payment, amount=str(payment.amount))
    payment.refresh_from_db()
    assert payment.days_credited == 37
    subscription = payment.subscription
    assert subscription.expires_at - now >= timedelta(days=37)
    expiry = subscription.expires_at
    renewal = checkout(customer, tariff, promo, subscription=subscription).payment
    mark_paid(renewal, amount=str(renewal.amount))
    subscription.refresh_from_db()
    assert subscription.expires_at == expiry + timedelta(days=37)
    # A refund takes back every day the payment gave, its extra days included.
    payment_refund(payment=renewal, actor=None, reason="test")
    subscription.refresh_from_db()
    assert subscription.expires_at == expiry


def test_a_refund_does_not_give_the_use_back():
    customer, tariff = CustomerFactory(), TariffFactory()
    promo = PromoCodeFactory(max_uses=1)
    payment = checkout(customer, tariff, promo).payment
    mark_paid(payment, amount=str(payment.amount))
    payment_refund(payment=payment, actor=None, reason="test")
    assert PromoRedemption.objects.get().status == PromoRedemptionStatus.USED
    refused("used_up", lambda: checkout(CustomerFactory(), tariff, promo))


def test_an_unpaid_payment_gives_its_use_back_when_it_expires():
    tariff = TariffFactory()
    promo = PromoCodeFactory(max_uses=1)
    now = timezone.now()
    payment = checkout(CustomerFactory(), tariff, promo, now=now).payment
    refused("used_up", lambda: checkout(CustomerFactory(), tariff, promo, now=now))
    assert payments_expire_pending(now=now + timedelta(days=1)) == 1
    assert PromoRedemption.objects.get(payment=payment).status == PromoRedemptionStatus.RELEASED
    other = checkout(CustomerFactory(), tariff, promo, now=now + timedelta(days=1)).payment
    assert other.promo == promo


def test_a_late_credit_of_a_released_use_takes_it_again():
    customer, tariff = CustomerFactory(), TariffFactory()
    promo = PromoCodeFactory()
    now = timezone.now()
    payment = checkout(customer, tariff, promo, now=now).payment
    payments_expire_pending(now=now + timedelta(days=1))
    mark_paid(payment, amount=str(payment.amount))  # the provider took the money after all
    assert PromoRedemption.objects.get().status == PromoRedemptionStatus.USED
    refused("used_by_you", lambda: checkout(customer, tariff, promo))


def test_checkout_reuse_considers_the_code():
    customer, tariff = CustomerFactory(), TariffFactory()
    promo = PromoCodeFactory(percent=20)
    plain = checkout(customer, tariff).payment
    with_promo = checkout(customer, tariff, promo)
    assert not with_promo.reused
    assert with_promo.payment.pk != plain.pk
    again = checkout(customer, tariff, promo)
    assert again.reused
    assert again.payment.pk == with_promo.payment.pk
    plain.refresh_from_db()
    assert plain.status == PaymentStatus.CANCELLED
    # Back to no code: the discounted payment goes and its use is released.
    without = checkout(customer, tariff)
    assert not without.reused
    assert without.payment.promo is None
    assert PromoRedemption.objects.get().status == PromoRedemptionStatus.RELEASED
    assert Payment.objects.filter(status=PaymentStatus.PENDING).count() == 1


def test_a_once_per_customer_code_holds_one_pending_payment_across_methods():
    customer, tariff = CustomerFactory(), TariffFactory()
    promo = PromoCodeFactory()
    robokassa = checkout(customer, tariff, promo, "robokassa").payment
    freekassa = checkout(customer, tariff, promo, "freekassa").payment
    robokassa.refresh_from_db()
    assert robokassa.status == PaymentStatus.CANCELLED
    assert freekassa.status == PaymentStatus.PENDING
    statuses = dict(PromoRedemption.objects.values_list("payment_id", "status"))
    assert statuses == {
        robokassa.pk: PromoRedemptionStatus.RELEASED,
        freekassa.pk: PromoRedemptionStatus.RESERVED,
    }


def test_tamper_a_code_that_lapsed_after_checkout_still_credits_what_was_paid():
    customer, tariff = CustomerFactory(), TariffFactory(price=Decimal("299.00"))
    promo = PromoCodeFactory(kind=PromoKind.DAYS, percent=None, days=5, max_uses=1)
    payment = checkout(customer, tariff, promo).payment
    PromoCode.objects.filter(pk=promo.pk).update(
        is_active=False, valid_until=timezone.now() - timedelta(seconds=1)
    )
    credit = mark_paid(payment, amount="299.00")
    assert credit.credited
    payment.refresh_from_db()
    assert (payment.amount, payment.days_credited) == (Decimal("299.00"), 35)
    assert PromoRedemption.objects.get().status == PromoRedemptionStatus.USED


def test_a_price_brought_to_zero_is_not_a_payment_but_a_free_grant():
    customer, tariff = CustomerFactory(), TariffFactory()
    promo = PromoCodeFactory(percent=100)
    refused("not_at_checkout", lambda: checkout(customer, tariff, promo))
    refused(
        "not_at_checkout",
        lambda: payment_create(customer=customer, tariff=tariff, provider="robokassa", promo=promo),
    )
    assert not Payment.objects.exists()
    grant = promo_grant(customer=customer, promo=promo, tariff=tariff)
    assert grant.created
    assert grant.subscription.tariff == tariff
    assert not Payment.objects.exists()
    redemption = PromoRedemption.objects.get()
    assert (redemption.status, redemption.discount, redemption.subscription) == (
        PromoRedemptionStatus.USED,
        tariff.price,
        grant.subscription,
    )
    refused("used_by_you", lambda: promo_grant(customer=customer, promo=promo, tariff=tariff))


def test_a_partial_discount_is_not_granted_for_free():
    promo = PromoCodeFactory(percent=50)
    refused(
        "not_at_checkout",
        lambda: promo_grant(customer=CustomerFactory(), promo=promo, tariff=TariffFactory()),
    )
    assert not Subscription.objects.exists()


def test_free_tariff_code_grants_a_new_subscription_once():
    customer, tariff = CustomerFactory(), TariffFactory(duration_days=14)
    promo = PromoCodeFactory(kind=PromoKind.FREE_TARIFF, percent=None, free_tariff=tariff)
    grant = promo_grant(customer=customer, promo=promo)
    assert (grant.subscription.tariff, grant.days, grant.created) == (tariff, 14, True)
    refused("used_by_you", lambda: promo_grant(customer=customer, promo=promo))
    assert Subscription.objects.count() == 1
    refused("not_at_checkout", lambda: checkout(CustomerFactory(), TariffFactory(), promo))


def test_free_days_code_extends_the_running_subscription():
    customer = CustomerFactory()
    promo = PromoCodeFactory(kind=PromoKind.FREE_DAYS, percent=None, days=10)
    refused("no_subscription", lambda: promo_grant(customer=customer, promo=promo))
    subscription = SubscriptionFactory(customer=customer)
    expiry = subscription.expires_at
    grant = promo_grant(customer=customer, promo=promo)
    subscription.refresh_from_db()
    assert grant.subscription == subscription
    assert subscription.expires_at == expiry + timedelta(days=10)
    assert PromoRedemption.objects.get().days == 10


# --- the rules ----------------------------------------------------------------------------


def test_unknown_code_in_both_languages():
    PromoCodeFactory(code="REAL")
    ru = refused("unknown", lambda: promo_find(code="nope", customer=CustomerFactory()))
    en = refused(
        "unknown", lambda: promo_find(code="nope", customer=CustomerFactory(language="en"))
    )
    assert (ru, en) == ("Такого промокода нет.", "There is no such promo code.")
    refused("unknown", lambda: promo_find(code="'; DROP", customer=CustomerFactory()))
    assert promo_find(code=" real ", customer=CustomerFactory()).code == "REAL"


@pytest.mark.parametrize(
    "fields",
    [
        {"is_active": False},
        {"valid_until": timezone.now() - timedelta(minutes=1)},
        {"valid_from": timezone.now() + timedelta(days=1)},
    ],
)
def test_expired_inactive_or_not_yet_valid(fields):
    promo = PromoCodeFactory(**fields)
    message = refused(
        "expired", lambda: checkout(CustomerFactory(language="en"), TariffFactory(), promo)
    )
    assert message == "This promo code has expired or is not active yet."
    assert not Payment.objects.exists()


def test_used_up():
    tariff = TariffFactory()
    promo = PromoCodeFactory(max_uses=2, once_per_customer=False)
    checkout(CustomerFactory(), tariff, promo)
    checkout(CustomerFactory(), tariff, promo)
    refused("used_up", lambda: checkout(CustomerFactory(), tariff, promo))
    assert Payment.objects.count() == 2


def test_once_per_customer_and_a_code_for_many_uses():
    tariff, customer = TariffFactory(), CustomerFactory()
    once = PromoCodeFactory()
    payment = checkout(customer, tariff, once).payment
    mark_paid(payment, amount=str(payment.amount))
    refused("used_by_you", lambda: checkout(customer, tariff, once))
    many = PromoCodeFactory(kind=PromoKind.DAYS, percent=None, days=3, once_per_customer=False)
    for _ in range(2):
        payment = checkout(customer, tariff, many).payment
        mark_paid(payment, amount=str(payment.amount))
    assert PromoRedemption.objects.filter(promo=many, status="used").count() == 2


def test_not_for_this_tariff():
    allowed, other = TariffFactory(), TariffFactory()
    promo = PromoCodeFactory()
    promo.tariffs.set([allowed])
    refused("not_for_tariff", lambda: checkout(CustomerFactory(), other, promo))
    assert checkout(CustomerFactory(), allowed, promo).payment.promo == promo


def test_new_customers_only():
    tariff = TariffFactory()
    promo = PromoCodeFactory(new_customers_only=True)
    old = CustomerFactory()
    paid = PaymentFactory(customer=old, tariff=tariff)
    mark_paid(paid, amount=str(paid.amount))
    refused("new_customers_only", lambda: checkout(old, tariff, promo))
    assert checkout(CustomerFactory(), tariff, promo).payment.promo == promo


# --- statistics ---------------------------------------------------------------------------


def test_usage_statistics():
    tariff = TariffFactory(price=Decimal("300.00"))
    promo = PromoCodeFactory(percent=10, once_per_customer=False)
    for _ in range(2):
        payment = checkout(CustomerFactory(), tariff, promo).payment
        mark_paid(payment, amount=str(payment.amount))
    checkout(CustomerFactory(), tariff, promo)  # reserved, not paid
    PromoCodeFactory()  # unused
    rows = {p.pk: p for p in promo_codes_with_usage(queryset=PromoCode.objects.all())}
    row = rows[promo.pk]
    assert (row.uses, row.revenue, row.discount_given) == (3, Decimal("540.00"), Decimal("60.00"))
    unused = next(p for p in rows.values() if p.pk != promo.pk)
    assert (unused.uses, unused.revenue, unused.discount_given) == (0, 0, 0)


# --- exactly once under concurrency -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_uses_of_a_ten_use_code_make_exactly_ten(on_postgres, billing_providers):
    tariff = TariffFactory()
    promo = PromoCodeFactory(max_uses=10, once_per_customer=False)
    customers = [CustomerFactory() for _ in range(50)]

    def use(customer_id):
        def call():
            checkout(
                Customer.objects.get(pk=customer_id),
                Tariff.objects.get(pk=tariff.pk),
                PromoCode.objects.get(pk=promo.pk),
            )

        return call

    errors = run_concurrently([use(c.pk) for c in customers], timeout=120)
    assert len(errors) == 40
    assert {getattr(e, "reason", repr(e)) for e in errors} == {"used_up"}
    assert PromoRedemption.objects.filter(status="reserved").count() == 10
    assert Payment.objects.filter(promo=promo).count() == 10


@pytest.mark.django_db(transaction=True)
def test_parallel_uses_by_one_customer_of_a_once_code_make_one(on_postgres, billing_providers):
    tariff = TariffFactory()
    promo = PromoCodeFactory(kind=PromoKind.FREE_TARIFF, percent=None, free_tariff=tariff)
    customer = CustomerFactory()

    def use():
        promo_grant(customer=Customer.objects.get(pk=customer.pk), promo=promo)

    errors = run_concurrently([use] * 8)
    assert {getattr(e, "reason", repr(e)) for e in errors} == {"used_by_you"}
    assert Subscription.objects.count() == 1
    assert PromoRedemption.objects.count() == 1


def test_a_refused_code_changes_nothing_not_even_the_pending_payment_it_would_replace():
    customer, tariff = CustomerFactory(), TariffFactory()
    pending = checkout(customer, tariff).payment
    promo = PromoCodeFactory(max_uses=0)
    refused("used_up", lambda: checkout(customer, tariff, promo))
    pending.refresh_from_db()
    assert pending.status == PaymentStatus.PENDING
    assert Payment.objects.count() == 1
    assert not PromoRedemption.objects.exists()


def test_a_late_credit_takes_the_use_back_from_the_pending_payment_holding_it():
    customer, tariff = CustomerFactory(), TariffFactory()
    promo = PromoCodeFactory(kind=PromoKind.DAYS, percent=None, days=3)
    first = checkout(customer, tariff, promo, "robokassa").payment
    second = checkout(customer, tariff, promo, "freekassa").payment  # cancels the first
    mark_paid(first, amount=str(first.amount))  # paid through the old link after all
    first.refresh_from_db()
    assert (first.status, first.days_credited) == (PaymentStatus.PAID, 33)
    statuses = dict(PromoRedemption.objects.values_list("payment_id", "status"))
    assert statuses == {
        first.pk: PromoRedemptionStatus.USED,
        second.pk: PromoRedemptionStatus.RELEASED,
    }
    # The second is paid too (both links were open): credited as priced, the use counted once.
    mark_paid(second, amount=str(second.amount))
    second.refresh_from_db()
    assert (second.status, second.days_credited) == (PaymentStatus.PAID, 33)
    assert PromoRedemption.objects.filter(status=PromoRedemptionStatus.USED).count() == 1


def test_free_days_respect_the_code_s_tariffs():
    customer = CustomerFactory()
    SubscriptionFactory(customer=customer)
    promo = PromoCodeFactory(kind=PromoKind.FREE_DAYS, percent=None, days=5)
    promo.tariffs.set([TariffFactory()])
    refused("not_for_tariff", lambda: promo_grant(customer=customer, promo=promo))


@pytest.mark.django_db(transaction=True)
def test_a_storm_of_deliveries_credits_a_promo_payment_and_its_days_once(
    on_postgres, billing_providers
):
    customer, tariff = CustomerFactory(), TariffFactory(duration_days=30)
    promo = PromoCodeFactory(kind=PromoKind.DAYS, percent=None, days=7)
    payment = checkout(customer, tariff, promo).payment

    def deliver():
        mark_paid(Payment.objects.get(pk=payment.pk), amount=str(payment.amount))

    assert run_concurrently([deliver] * 20) == []
    payment.refresh_from_db()
    assert payment.days_credited == 37
    assert Subscription.objects.count() == 1
    subscription = Subscription.objects.get()
    assert subscription.expires_at - payment.paid_at == timedelta(days=37)
    assert PromoRedemption.objects.get().status == PromoRedemptionStatus.USED


def test_a_banned_customer_gets_no_grant():
    tariff = TariffFactory()
    promo = PromoCodeFactory(kind=PromoKind.FREE_TARIFF, percent=None, free_tariff=tariff)
    with pytest.raises(ApplicationError):
        promo_grant(customer=CustomerFactory(is_banned=True), promo=promo)
    assert not Subscription.objects.exists()
    assert not PromoRedemption.objects.exists()
