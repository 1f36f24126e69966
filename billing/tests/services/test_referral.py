"""Referral rewards (billing.services.referral): once per payment, first-only or every payment,
real money only, refunds take them back."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import BalanceEntry, BalanceEntryKind, ReferralReward
from billing.selectors import referral_stats
from billing.services.balance import payment_pay_from_balance
from billing.services.ledger import balance_entry_add
from billing.services.payments import payment_manual_create
from billing.services.refunds import payment_refund
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import mark_paid
from notifications.models import OutboxAudience, OutboxMessage
from subscriptions.models import Subscription
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def balance(customer) -> Decimal:
    return Customer.objects.get(pk=customer.pk).balance


def referral_entries(customer) -> list[Decimal]:
    entries = BalanceEntry.objects.filter(customer=customer, kind=BalanceEntryKind.REFERRAL)
    return list(entries.order_by("pk").values_list("amount", flat=True))


@pytest.fixture
def rules(runtime_setting):
    def set_rules(*, percent=10, days=0, every=False):
        runtime_setting("REFERRAL_PERCENT", percent)
        runtime_setting("REFERRAL_DAYS", days)
        runtime_setting("REFERRAL_EVERY_PAYMENT", every)

    return set_rules


@pytest.fixture
def inviter(db):
    return CustomerFactory()


@pytest.fixture
def invitee(inviter):
    return CustomerFactory(referred_by=inviter)


def test_percentage_of_the_first_payment_goes_to_the_inviter_once(rules, inviter, invitee):
    rules(percent=10)
    payment = PaymentFactory(customer=invitee, amount=Decimal("299"))
    mark_paid(payment)
    mark_paid(payment)  # a repeated notification
    assert referral_entries(inviter) == [Decimal("29.90")]
    entry = BalanceEntry.objects.get(customer=inviter, kind=BalanceEntryKind.REFERRAL)
    assert entry.source_key == f"referral:{payment.pk}"
    assert entry.payment_id == payment.pk
    assert balance(inviter) == Decimal("29.90")
    assert ReferralReward.objects.get().amount == Decimal("29.90")
    assert (
        OutboxMessage.objects.filter(chat_id=inviter.telegram_id, kind="referral-reward").count()
        == 1
    )


TOLD = {
    "en": (
        (
            "🤝 A friend you invited has paid. Your reward: 29.90\xa0₽ on your balance, "
            "5 days on your subscription."
        ),
        (
            "↩️ A payment of a friend you invited was refunded, so the reward is taken back: "
            "29.90\xa0₽ on your balance, 5 days on your subscription."
        ),
    ),
    "ru": (
        "🤝 Приглашённый вами друг оплатил. Ваша награда: 29,90\xa0₽ на баланс, 5 дней к подписке.",
        (
            "↩️ Платёж приглашённого вами друга возвращён, награда отозвана: 29,90\xa0₽ на "
            "баланс, 5 дней к подписке."
        ),
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_inviter_is_told_once_in_their_language(rules, language):
    reward, revoked = TOLD[language]
    rules(percent=10, days=5)
    inviter = CustomerFactory(language=language)
    SubscriptionFactory(customer=inviter, expires_at=timezone.now() + timedelta(days=10))
    payment = PaymentFactory(customer=CustomerFactory(referred_by=inviter))
    mark_paid(payment)
    mark_paid(payment)
    told = OutboxMessage.objects.filter(chat_id=inviter.telegram_id)
    assert [m.text for m in told.filter(kind="referral-reward")] == [reward]
    payment.refresh_from_db()
    payment_refund(payment=payment, actor=None, reason="asked")
    assert [m.text for m in told.filter(kind="referral-revoked")] == [revoked]


def test_the_percentage_rounds_down_to_kopecks(rules, inviter, invitee):
    rules(percent=7)
    mark_paid(PaymentFactory(customer=invitee, amount=Decimal("299")), amount="299")
    assert referral_entries(inviter) == [Decimal("20.93")]


def test_first_payment_only_by_default(rules, inviter, invitee):
    rules(percent=10, every=False)
    mark_paid(PaymentFactory(customer=invitee))
    mark_paid(PaymentFactory(customer=invitee, tariff=TariffFactory(price=Decimal("299"))))
    assert referral_entries(inviter) == [Decimal("29.90")]
    assert ReferralReward.objects.count() == 1


def test_every_payment_when_configured(rules, inviter, invitee):
    rules(percent=10, every=True)
    mark_paid(PaymentFactory(customer=invitee))
    mark_paid(PaymentFactory(customer=invitee, tariff=TariffFactory(price=Decimal("299"))))
    assert referral_entries(inviter) == [Decimal("29.90"), Decimal("29.90")]
    assert balance(inviter) == Decimal("59.80")


def test_no_reward_without_a_referrer(rules):
    rules(percent=10, days=5)
    mark_paid(PaymentFactory())
    assert not BalanceEntry.objects.filter(kind=BalanceEntryKind.REFERRAL).exists()
    assert not ReferralReward.objects.exists()


def test_no_reward_when_switched_off(rules, inviter, invitee):
    rules(percent=0, days=0)
    mark_paid(PaymentFactory(customer=invitee))
    assert referral_entries(inviter) == []
    assert not ReferralReward.objects.exists()


def test_days_go_onto_the_inviters_running_subscription(rules, inviter, invitee):
    rules(percent=0, days=7)
    now = timezone.now()
    subscription = SubscriptionFactory(customer=inviter, expires_at=now + timedelta(days=3))
    before = subscription.expires_at
    payment = PaymentFactory(customer=invitee)
    mark_paid(payment)
    mark_paid(payment)
    subscription.refresh_from_db()
    assert subscription.expires_at == before + timedelta(days=7)
    reward = ReferralReward.objects.get()
    assert (reward.days, reward.subscription_id, reward.amount) == (7, subscription.pk, 0)
    assert referral_entries(inviter) == []


def test_days_need_a_running_subscription(rules, inviter, invitee):
    rules(percent=0, days=7)
    now = timezone.now()
    SubscriptionFactory(
        customer=inviter, started_at=now - timedelta(days=31), expires_at=now - timedelta(days=1)
    )
    mark_paid(PaymentFactory(customer=invitee))
    assert not ReferralReward.objects.exists()


def test_a_top_up_counts_and_a_purchase_from_it_does_not(rules, inviter, invitee):
    rules(percent=10, every=True)
    top_up = PaymentFactory(customer=invitee, top_up=True, amount=Decimal("500"))
    mark_paid(top_up, amount="500")
    assert referral_entries(inviter) == [Decimal("50.00")]
    tariff = TariffFactory(price=Decimal("299"))
    from billing.tests.services.test_balance import balance_checkout

    purchase = balance_checkout(invitee, tariff)
    payment_pay_from_balance(customer=invitee, payment_id=purchase.pk)
    assert referral_entries(inviter) == [Decimal("50.00")]  # the money was counted once
    assert ReferralReward.objects.count() == 1


def test_a_purchase_from_the_balance_is_not_the_first_payment(rules, inviter, invitee):
    """Money an operator put on the balance, spent: no real payment, nothing for the inviter;
    the first real payment afterwards is rewarded."""
    rules(percent=10, every=False)
    balance_entry_add(
        customer_id=invitee.pk, amount=Decimal("299"), kind="adjustment", source_key="gift"
    )
    from billing.tests.services.test_balance import balance_checkout

    purchase = balance_checkout(invitee, TariffFactory(price=Decimal("299")))
    payment_pay_from_balance(customer=invitee, payment_id=purchase.pk)
    assert referral_entries(inviter) == []
    mark_paid(PaymentFactory(customer=invitee))
    assert referral_entries(inviter) == [Decimal("29.90")]


def test_stars_give_days_but_no_rouble_percentage(rules, inviter, invitee):
    rules(percent=10, days=3)
    subscription = SubscriptionFactory(
        customer=inviter, expires_at=timezone.now() + timedelta(days=10)
    )
    payment = PaymentFactory(customer=invitee, provider="stars", currency="XTR", amount=100)
    from billing.services.referral import referral_reward_grant

    reward = referral_reward_grant(payment=payment, now=timezone.now())
    assert (reward.amount, reward.days, reward.subscription_id) == (0, 3, subscription.pk)
    assert referral_entries(inviter) == []


def test_a_manual_payment_counts(rules, inviter, invitee):
    rules(percent=10)
    payment_manual_create(
        customer=invitee,
        tariff=TariffFactory(price=Decimal("299")),
        amount=Decimal("299"),
        actor=None,
        reason="cash",
    )
    assert referral_entries(inviter) == [Decimal("29.90")]


def test_a_free_payment_does_not_count(rules, inviter, invitee):
    rules(percent=10, days=3)
    SubscriptionFactory(customer=inviter, expires_at=timezone.now() + timedelta(days=10))
    payment_manual_create(
        customer=invitee, tariff=TariffFactory(), amount=Decimal("0"), actor=None, reason="gift"
    )
    assert not ReferralReward.objects.exists()


# --- Refunds ---------------------------------------------------------------------------------


def test_a_refund_takes_the_reward_back_once(rules, inviter, invitee):
    rules(percent=10, days=5)
    subscription = SubscriptionFactory(
        customer=inviter, expires_at=timezone.now() + timedelta(days=10)
    )
    payment = PaymentFactory(customer=invitee)
    mark_paid(payment)
    subscription.refresh_from_db()
    extended = subscription.expires_at
    payment.refresh_from_db()
    payment_refund(payment=payment, actor=None, reason="asked")
    assert referral_entries(inviter) == [Decimal("29.90"), Decimal("-29.90")]
    entry = BalanceEntry.objects.filter(customer=inviter).order_by("pk").last()
    assert entry.source_key == f"referral-refund:{payment.pk}"
    assert balance(inviter) == 0
    subscription.refresh_from_db()
    assert subscription.expires_at == extended - timedelta(days=5)
    reward = ReferralReward.objects.get()
    assert (reward.amount_revoked, reward.days_revoked) == (Decimal("29.90"), 5)
    assert reward.revoked_at is not None
    stats = referral_stats(customer_id=inviter.pk)
    assert (stats.earned, stats.days) == (0, 0)


def test_a_spent_reward_is_taken_back_as_far_as_the_balance_goes(rules, inviter, invitee):
    """The balance never goes below zero: what is there is taken, the admins hear of the rest.
    (Whole roubles: SQLite adds decimals as floats, 29.90 - 20 - 9.90 is not 0 there.)"""
    rules(percent=10)
    payment = PaymentFactory(customer=invitee, tariff=TariffFactory(price=Decimal("300")))
    mark_paid(payment, amount="300")
    balance_entry_add(
        customer_id=inviter.pk, amount=Decimal("-20"), kind="purchase", source_key="spent"
    )
    payment.refresh_from_db()
    payment_refund(payment=payment, actor=None, reason="asked")
    assert referral_entries(inviter) == [Decimal("30.00"), Decimal("-10.00")]
    assert balance(inviter) == 0
    assert ReferralReward.objects.get().amount_revoked == Decimal("10.00")
    alerts = OutboxMessage.objects.filter(audience=OutboxAudience.ADMIN, kind="referral_shortfall")
    assert alerts.exists()
    assert all("20.00" in alert.text for alert in alerts)


def test_an_empty_balance_takes_nothing_back(rules, inviter, invitee):
    rules(percent=10)
    payment = PaymentFactory(customer=invitee)
    mark_paid(payment)
    balance_entry_add(
        customer_id=inviter.pk, amount=Decimal("-29.90"), kind="purchase", source_key="spent"
    )
    payment.refresh_from_db()
    payment_refund(payment=payment, actor=None, reason="asked")
    assert referral_entries(inviter) == [Decimal("29.90")]
    assert balance(inviter) == 0
    assert ReferralReward.objects.get().revoked_at is not None


def test_refund_of_a_payment_without_reward_changes_nothing_for_the_inviter(rules, inviter):
    rules(percent=10)
    payment = PaymentFactory(customer=CustomerFactory(referred_by=inviter))
    rules(percent=0)
    mark_paid(payment)
    payment.refresh_from_db()
    payment_refund(payment=payment, actor=None, reason="asked")
    assert referral_entries(inviter) == []


def test_stats(rules, inviter, invitee):
    rules(percent=10)
    CustomerFactory(referred_by=inviter)  # invited, never paid
    mark_paid(PaymentFactory(customer=invitee))
    stats = referral_stats(customer_id=inviter.pk)
    assert (stats.invited, stats.paid, stats.earned, stats.days) == (2, 1, Decimal("29.90"), 0)


# --- Storms (PostgreSQL) ---------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_duplicate_storm_rewards_once(on_postgres, rules):
    from core.tests.helpers import run_concurrently

    rules(percent=10, days=2, every=True)
    inviter = CustomerFactory()
    subscription = SubscriptionFactory(
        customer=inviter, expires_at=timezone.now() + timedelta(days=10)
    )
    before = subscription.expires_at
    payment = PaymentFactory(customer=CustomerFactory(referred_by=inviter))
    errors = run_concurrently([lambda: mark_paid(payment)] * 50)
    assert errors == []
    assert referral_entries(inviter) == [Decimal("29.90")]
    assert ReferralReward.objects.count() == 1
    assert Subscription.objects.get(pk=subscription.pk).expires_at == before + timedelta(days=2)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_first_payments_at_once_reward_one(on_postgres, rules):
    """First payment only: two payments of one invitee credited together, one reward."""
    from core.tests.helpers import run_concurrently

    rules(percent=10, every=False)
    inviter = CustomerFactory()
    invitee = CustomerFactory(referred_by=inviter)
    payments = [
        PaymentFactory(customer=invitee),
        PaymentFactory(customer=invitee, tariff=TariffFactory(price=Decimal("299"))),
    ]
    errors = run_concurrently([lambda p=p: mark_paid(p) for p in payments for _ in range(10)])
    assert errors == []
    assert referral_entries(inviter) == [Decimal("29.90")]
    assert ReferralReward.objects.count() == 1
