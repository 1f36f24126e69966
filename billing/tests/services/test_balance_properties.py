"""Property test (hypothesis) over random sequences of top-ups, purchases from the balance,
auto-renew runs (each run twice: a retry), refunds and the passing of time. After every
step: the balance is the sum of the ledger's entries and never below zero, the latest
entry's ``balance_after`` is the balance, no source key appears twice, and a purchase or a
renewal never shortens a subscription.

The customer was invited: with referral rewards drawn per example (a percentage, days, first
or every payment), the inviter's balance is the sum of their entries and never below zero
(the inviter spends some of it between steps), there is at most one reward per payment, only
for real-money payments (never a purchase from the balance), at most one when only the first
payment counts, and a refunded payment's reward is taken back."""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Sum
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import BalanceEntry, BalanceEntryKind, Payment, PaymentStatus, ReferralReward
from billing.providers import ProviderNotification
from billing.services.autorenew import subscription_autorenew_set, subscriptions_autorenew_due
from billing.services.balance import balance_top_up_create, payment_pay_from_balance
from billing.services.checkout import checkout_payment_get
from billing.services.ledger import BALANCE_PROVIDER, InsufficientBalanceError, balance_entry_add
from billing.services.payments import payment_mark_paid
from billing.services.refunds import payment_refund
from billing.tests.helpers import ROBOKASSA
from core.runtime_settings import runtime_settings_defaults, runtime_settings_pinned
from subscriptions.models import Subscription
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("top_up"), st.integers(1, 20).map(lambda n: n * 50)),
        st.tuples(st.just("buy"), st.integers(0, 1), st.integers(-1, 3), st.booleans()),
        st.tuples(st.just("auto_renew_on"), st.integers(0, 1), st.booleans()),
        st.tuples(st.just("auto_renew_run"), st.integers(0, 3), st.integers(1, 30)),
        st.tuples(st.just("refund"), st.integers(0, 10)),
        st.tuples(st.just("wait"), st.integers(1, 24 * 40)),
        st.tuples(st.just("inviter_spends"), st.integers(1, 100)),
    ),
    min_size=1,
    max_size=25,
)


@override_settings(
    BILLING_PROVIDERS={"robokassa": ROBOKASSA},
    AUTO_RENEW_DAYS_BEFORE=1,
    TELEGRAM_ADMIN_CHAT_IDS=[],
)
class BalanceProperties(TestCase):
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        first_top_up=st.integers(0, 30).map(lambda n: n * 100),
        steps=STEPS,
        referral=st.tuples(st.sampled_from([0, 10, 33]), st.sampled_from([0, 3]), st.booleans()),
    )
    # A renewal from the balance, then its refund: always tried.
    @example(
        first_top_up=0,
        steps=[
            ("top_up", 1000),
            ("buy", 0, -1, False),
            ("auto_renew_on", 0, True),
            ("auto_renew_run", 0, 30),
            ("auto_renew_run", 0, 12),
            ("refund", 2),
            ("auto_renew_run", 0, 12),
        ],
        referral=(10, 3, True),
    )
    def test_ledger_and_renewal_invariants(self, first_top_up, steps, referral):
        percent, days, every = referral
        rules = {
            **runtime_settings_defaults(),
            "REFERRAL_PERCENT": percent,
            "REFERRAL_DAYS": days,
            "REFERRAL_EVERY_PAYMENT": every,
        }
        with runtime_settings_pinned(rules):
            self.run_steps(first_top_up, steps, every=every)

    def run_steps(self, first_top_up, steps, *, every):
        self.now = timezone.now()
        self.every = every
        self.inviter = CustomerFactory(language="en")
        self.inviter_subscription = SubscriptionFactory(
            customer=self.inviter, expires_at=self.now + timedelta(days=365)
        )
        self.customer = CustomerFactory(language="en", referred_by=self.inviter)
        self.tariffs = [
            TariffFactory(price=Decimal("299"), duration_days=30),
            TariffFactory(price=Decimal("799"), duration_days=90),
        ]
        if first_top_up:
            self.top_up(first_top_up)
        for step in steps:
            before = dict(
                Subscription.objects.filter(customer=self.customer).values_list("pk", "expires_at")
            )
            paid_before = set(
                Payment.objects.filter(status=PaymentStatus.PAID).values_list("pk", flat=True)
            )
            getattr(self, step[0])(*step[1:])
            self.check_ledger()
            if step[0] in ("buy", "auto_renew_run"):
                self.check_renewals(step, before, paid_before)

    # --- steps -------------------------------------------------------------------------------

    def top_up(self, amount):
        payment = balance_top_up_create(
            customer=self.customer, amount=Decimal(amount), provider="robokassa", now=self.now
        )
        notification = ProviderNotification(
            event_key=str(payment.pk),
            payment_id=payment.pk,
            amount=payment.amount,
            currency=None,
            provider_ref="",
            raw={},
        )
        for _ in range(2):  # delivered twice: credited once
            payment_mark_paid(
                payment_id=payment.pk,
                provider="robokassa",
                notification=notification,
                now=self.now,
            )

    def buy(self, tariff_index, subscription_index, auto_renew):
        subscriptions = list(Subscription.objects.filter(customer=self.customer).order_by("pk"))
        target = None
        if 0 <= subscription_index < len(subscriptions):
            target = subscriptions[subscription_index]
        tariff = self.tariffs[tariff_index]
        if target is not None:
            tariff = target.tariff
        balance = self.balance()
        payment = checkout_payment_get(
            customer=self.customer,
            tariff=tariff,
            provider=BALANCE_PROVIDER,
            subscription=target,
            now=self.now,
        ).payment
        try:
            payment_pay_from_balance(customer=self.customer, payment_id=payment.pk, now=self.now)
        except InsufficientBalanceError:
            assert balance < payment.amount
            assert self.balance() == balance
            return
        assert self.balance() == balance - payment.amount
        # A second confirmation charges nothing.
        credit = payment_pay_from_balance(
            customer=self.customer, payment_id=payment.pk, now=self.now
        )
        assert self.balance() == balance - payment.amount
        if auto_renew:
            subscription_autorenew_set(
                customer=self.customer, subscription_id=credit.payment.subscription_id, on=True
            )

    def auto_renew_on(self, subscription_index, on):
        subscriptions = list(Subscription.objects.filter(customer=self.customer).order_by("pk"))
        if subscriptions:
            subscription = subscriptions[subscription_index % len(subscriptions)]
            subscription_autorenew_set(
                customer=self.customer, subscription_id=subscription.pk, on=on
            )

    def auto_renew_run(self, subscription_index, hours):
        """Time moves to `hours` before that subscription's expiry (where reminders and
        renewals happen; never back), then the task runs."""
        subscriptions = list(Subscription.objects.filter(customer=self.customer).order_by("pk"))
        if subscriptions:
            subscription = subscriptions[subscription_index % len(subscriptions)]
            moment = subscription.expires_at - timedelta(hours=hours)
            self.now = max(self.now, moment)
        subscriptions_autorenew_due(now=self.now)
        subscriptions_autorenew_due(now=self.now)  # a retry charges nothing more

    def refund(self, index):
        paid = list(Payment.objects.filter(status=PaymentStatus.PAID).order_by("pk"))
        if not paid:
            return
        payment = paid[index % len(paid)]
        balance = self.balance()
        try:
            payment_refund(payment=payment, actor=None, reason="property", now=self.now)
        except InsufficientBalanceError:
            assert balance < payment.amount
            assert self.balance() == balance

    def wait(self, hours):
        self.now += timedelta(hours=hours)

    def inviter_spends(self, amount):
        """The inviter spends part of their rewards (a refund may then find less there)."""
        balance = Customer.objects.get(pk=self.inviter.pk).balance
        amount = min(Decimal(amount), balance)
        if amount > 0:
            balance_entry_add(
                customer_id=self.inviter.pk,
                amount=-amount,
                kind=BalanceEntryKind.PURCHASE,
                source_key=f"spend:{BalanceEntry.objects.count()}",
            )

    # --- invariants --------------------------------------------------------------------------

    def balance(self) -> Decimal:
        return Customer.objects.get(pk=self.customer.pk).balance

    def check_renewals(self, step, before, paid_before):
        """No subscription got shorter; one renewed while running got exactly the days
        paid for added to its expiry (never "now + days": the days left are kept)."""
        after = dict(
            Subscription.objects.filter(customer=self.customer).values_list("pk", "expires_at")
        )
        for pk, expiry in before.items():
            assert after[pk] >= expiry, f"{step} shortened subscription #{pk}"
        paid = Payment.objects.filter(status=PaymentStatus.PAID).exclude(pk__in=paid_before)
        for subscription_id, days in paid.values_list("subscription_id", "days_credited"):
            if subscription_id in before and before[subscription_id] > self.now:
                expected = before[subscription_id] + timedelta(days=days)
                assert after[subscription_id] == expected, f"{step} lost days of #{subscription_id}"

    def check_ledger(self):
        for customer in (self.customer, self.inviter):
            self.check_ledger_of(customer)
        self.check_referral()

    def check_referral(self):
        rewards = ReferralReward.objects.select_related("payment")
        assert all(r.payment.provider != BALANCE_PROVIDER for r in rewards)
        assert all(r.payment.status != PaymentStatus.PENDING for r in rewards)
        if not self.every:
            assert rewards.count() <= 1
        entries = BalanceEntry.objects.filter(customer=self.inviter, kind=BalanceEntryKind.REFERRAL)
        for reward in rewards:
            paid = entries.filter(source_key=f"referral:{reward.payment_id}")
            assert paid.count() == (1 if reward.amount else 0)
            taken = entries.filter(source_key=f"referral-refund:{reward.payment_id}")
            if reward.payment.status == PaymentStatus.REFUNDED:
                assert reward.revoked_at is not None
                assert -sum(e.amount for e in taken) == reward.amount_revoked
            else:
                assert reward.revoked_at is None
                assert not taken.exists()
        assert entries.count() <= 2 * rewards.count()

    def check_ledger_of(self, customer):
        balance = Customer.objects.get(pk=customer.pk).balance
        entries = BalanceEntry.objects.filter(customer=customer)
        total = entries.aggregate(total=Sum("amount"))["total"] or Decimal("0")
        assert balance == total
        assert balance >= 0
        latest = entries.order_by("-pk").first()
        assert (latest.balance_after if latest else Decimal("0")) == balance
        assert not entries.filter(balance_after__lt=0).exists()
        repeated = entries.values("source_key").annotate(n=Count("pk")).filter(n__gt=1)
        assert not repeated.exists()
