"""Renewal and money invariants as one stateful property test (hypothesis
``RuleBasedStateMachine``, issue 20 "Renewal invariants").

Two customers and a shop with three tariffs of the same limits (so a renewal may move onto
another tariff) and four promo codes go through random sequences of the real services:
checkouts with and without promo codes (``checkout_payment_get`` -> ``payment_create``),
credits delivered as Robokassa delivers them -- a signed ResultURL notification POSTed to
the webhook URL, one to three times, sometimes tampered --, purchases from the balance
(confirmed twice), top-ups, refunds, gift purchases and redemptions (twice), expiry of
unpaid payments, auto-renew runs (each run twice: a retry) and the passing of time. The
clock is the machine's: ``django.utils.timezone.now`` returns it, so the webhook path,
which takes no ``now``, credits at the same moment as the services the test calls.

After every step (``check_*`` invariants):

- expiries: every subscription's ``expires_at`` is exactly where the step's credits and
  refunds put it -- a credit on a running subscription adds its days to the old expiry
  (never "now + days"), one on an ended subscription restarts from now, a refund takes back
  exactly the days its payment (or its redeemed gift) credited and never goes below now;
  nothing else moves an expiry, and every new subscription comes from exactly one credit;
- orders: every payment is the order it was made for (customer, purpose, tariff, the
  renewed subscription or a new one, amount = the price at checkout with its promo code,
  currency, provider) and credits its tariff's days plus its code's extra days, once: one
  "paid" audit row and at most one processed notification, however often it was delivered;
- the ledger: ``Customer.balance`` is the sum of the customer's entries, never below zero,
  no entry's ``balance_after`` below zero, the latest entry's equals the balance, no source
  key twice;
- promo codes: reserved + used uses never exceed ``max_uses``, a once-per-customer code is
  held at most once per customer, no price or discount is negative;
- gifts: a gift is redeemed at most once (the second attempt is refused and changes
  nothing), never by its buyer, and its payment made exactly one gift.

Extending it (e.g. referral rewards): write the operations as a mixin of ``@rule`` methods
that call the real services and record what they ordered in ``self.orders`` (see
``ShopOperations``), add it to ``MoneyMachine``'s bases, and add its invariants as
``@invariant`` methods -- every existing invariant keeps running after the new steps.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import transaction
from django.db.models import Count, Sum
from django.test import TestCase, override_settings
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    INVARIANT_MARKER,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import (
    BalanceEntry,
    Gift,
    GiftStatus,
    Payment,
    PaymentPurpose,
    PaymentStatus,
    PromoKind,
    PromoRedemption,
    PromoRedemptionStatus,
    WebhookEvent,
    WebhookEventStatus,
)
from billing.services.autorenew import subscription_autorenew_set, subscriptions_autorenew_due
from billing.services.balance import balance_top_up_create, payment_pay_from_balance
from billing.services.checkout import checkout_payment_get
from billing.services.checkout_settle import payments_expire_pending
from billing.services.gifts import gift_redeem, gift_targets
from billing.services.ledger import BALANCE_PROVIDER, InsufficientBalanceError
from billing.services.payments import payment_price
from billing.services.promo import PromoError
from billing.services.refunds import payment_refund
from billing.tests.factories import PromoCodeFactory
from billing.tests.helpers import ROBOKASSA, ROBOKASSA_URL, is_success, robokassa_params, send
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.tests.factories import TariffFactory

CREDITED = (PaymentStatus.PAID, PaymentStatus.REFUNDED)
COUNTED = (PromoRedemptionStatus.RESERVED, PromoRedemptionStatus.USED)

customers = st.integers(0, 1)
tariffs = st.integers(0, 2)
# An index into the customer's subscriptions; -1 (or out of range): a new subscription.
targets = st.integers(-1, 2)
promos = st.one_of(st.none(), st.integers(0, 3))
indexes = st.integers(0, 20)


@dataclass(frozen=True)
class Order:
    """What a payment was made for, as the test asked for it at checkout."""

    customer_id: int
    purpose: str
    tariff_id: int | None
    subscription_id: int | None  # the renewed subscription; None: a new one (or none)
    subscriptions_before: frozenset  # the subscriptions that existed at checkout
    amount: Decimal
    currency: str
    provider: str
    promo_id: int | None


@dataclass(frozen=True)
class Snapshot:
    """The state an invariant compares the next step's outcome with."""

    subscriptions: dict  # pk -> (expires_at, status, started_at)
    payments: dict  # pk -> status
    gifts: dict  # pk -> status


def snapshot_take() -> Snapshot:
    return Snapshot(
        subscriptions={
            pk: (expires_at, status, started_at)
            for pk, expires_at, status, started_at in Subscription.objects.values_list(
                "pk", "expires_at", "status", "started_at"
            )
        },
        payments=dict(Payment.objects.values_list("pk", "status")),
        gifts=dict(Gift.objects.values_list("pk", "status")),
    )


class MachineBase(RuleBasedStateMachine):
    """The shop, the clock and the per-example transaction (rolled back in ``teardown``)."""

    def __init__(self):
        super().__init__()
        # Each example runs in a savepoint of the test's transaction, rolled back after it:
        # the same database for every example, on SQLite and PostgreSQL alike.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.now: datetime = timezone.now().replace(microsecond=0)
        self._clock = mock.patch("django.utils.timezone.now", new=self.clock)
        self._clock.start()
        self.customers = [CustomerFactory(language="en"), CustomerFactory(language="ru")]
        self.tariffs = [
            TariffFactory(price=Decimal("299.00"), duration_days=30),
            TariffFactory(price=Decimal("799.00"), duration_days=90),
            TariffFactory(price=Decimal("149.50"), duration_days=7),
        ]
        self.promos = [
            PromoCodeFactory(
                code="PCT30",
                kind=PromoKind.PERCENT,
                percent=30,
                max_uses=3,
                once_per_customer=False,
            ),
            PromoCodeFactory(
                code="MINUS100",
                kind=PromoKind.AMOUNT,
                percent=None,
                amount=Decimal("100"),
                once_per_customer=True,
            ),
            PromoCodeFactory(
                code="DAYS7",
                kind=PromoKind.DAYS,
                percent=None,
                days=7,
                max_uses=2,
                once_per_customer=True,
            ),
            # Brings 299 and 149.50 to 0: never a payment (a free grant), refused at checkout.
            PromoCodeFactory(code="MINUS300", kind=PromoKind.AMOUNT, percent=None, amount=300),
        ]
        self.orders: dict[int, Order] = {}
        self.snapshot = snapshot_take()
        self.client = None  # set by the test case

    def clock(self) -> datetime:
        """``timezone.now()`` for every service while an example runs."""
        return self.now

    def teardown(self):
        self._clock.stop()
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers for the operations ------------------------------------------------------

    def customer(self, index: int) -> Customer:
        return Customer.objects.get(pk=self.customers[index].pk)

    def subscriptions_of(self, customer: Customer) -> list[Subscription]:
        return list(Subscription.objects.filter(customer=customer).order_by("pk"))

    def pick(self, items: list, index: int):
        return items[index % len(items)] if items else None

    def record_order(self, payment: Payment, *, subscription: Subscription | None, promo) -> None:
        """The order a checkout made; a payment handed out again must still be that order."""
        order = Order(
            customer_id=payment.customer_id,
            purpose=payment.purpose,
            tariff_id=payment.tariff_id,
            subscription_id=subscription.pk if subscription is not None else None,
            subscriptions_before=frozenset(self.snapshot.subscriptions),
            amount=payment.amount,
            currency=payment.currency,
            provider=payment.provider,
            promo_id=promo.pk if promo is not None else None,
        )
        known = self.orders.get(payment.pk)
        if known is not None:  # reused: the same order, made when it was first handed out
            assert (known.tariff_id, known.subscription_id, known.amount, known.promo_id) == (
                order.tariff_id,
                order.subscription_id,
                order.amount,
                order.promo_id,
            )
            return
        self.orders[payment.pk] = order

    def deliver(self, payment_pk: int, *, times: int, tamper: bool = False) -> None:
        """Robokassa's ResultURL notification for the payment, signed, POSTed `times` times
        (the webhook view -> ``webhook_event_process`` -> ``payment_mark_paid``). Tampered
        (another sum, validly signed with it): refused, nothing changes."""
        payment = Payment.objects.get(pk=payment_pk)
        amount = payment.amount + (Decimal("1.00") if tamper else 0)
        params = robokassa_params(payment.pk, out_sum=f"{amount:.2f}")
        for _ in range(times):
            response = send(self.client, ROBOKASSA_URL, params)
            assert is_success(response) != tamper, response.content


class ShopOperations(MachineBase):
    """Purchases, renewals (onto another tariff too), promo codes, refunds, gifts, the
    balance, auto-renew and time: every step goes through the services the bot, the
    webhooks, the console and the beat call."""

    @initialize(
        balances=st.tuples(*[st.integers(0, 40).map(lambda n: Decimal(n * 50))] * 2),
        tariff=tariffs,
        auto_renew=st.booleans(),
    )
    def open_shop(self, balances, tariff, auto_renew):
        """Each customer may start with money on the balance, the first one with a
        subscription bought from it (auto-renew on or off) when the money is enough."""
        for who, amount in enumerate(balances):
            if amount:
                self.top_up(who, amount)
        self.buy_from_balance(who=0, tariff=tariff, renew=-1, promo=None, auto_renew=auto_renew)

    @rule(
        who=customers,
        tariff=tariffs,
        renew=targets,
        promo=promos,
        times=st.integers(0, 3),
        tamper=st.booleans(),
    )
    def buy_through_provider(self, *, who, tariff, renew, promo, times, tamper):
        """A checkout (a renewal when `renew` names a subscription, onto `tariff`, which
        may differ from its own) with or without a code; delivered `times` times."""
        customer = self.customer(who)
        subscription = self.pick(self.subscriptions_of(customer), renew) if renew >= 0 else None
        self.checkout_and_pay(customer, tariff, subscription, promo, times=times, tamper=tamper)

    @rule(who=customers, tariff=tariffs, renew=targets, promo=promos, auto_renew=st.booleans())
    def buy_from_balance(self, *, who, tariff, renew, promo, auto_renew):
        """A tariff paid from the balance, confirmed twice (a double press); then auto-renew
        switched on for it, or not."""
        customer = self.customer(who)
        subscription = self.pick(self.subscriptions_of(customer), renew) if renew >= 0 else None
        payment = self.checkout(customer, tariff, subscription, promo, provider=BALANCE_PROVIDER)
        if payment is None:
            return
        balance = customer.balance
        try:
            payment_pay_from_balance(customer=customer, payment_id=payment.pk, now=self.now)
        except InsufficientBalanceError:
            assert balance < payment.amount
            return
        again = payment_pay_from_balance(customer=customer, payment_id=payment.pk, now=self.now)
        assert not again.credited
        assert self.customer(who).balance == balance - payment.amount
        if auto_renew:
            subscription_autorenew_set(
                customer=customer, subscription_id=again.payment.subscription_id, on=True
            )

    @rule(who=customers, amount=st.integers(1, 40).map(lambda n: Decimal(n * 50)))
    def top_up(self, who, amount):
        payment = balance_top_up_create(
            customer=self.customer(who), amount=amount, provider="robokassa", now=self.now
        )
        self.record_order(payment, subscription=None, promo=None)
        self.deliver(payment.pk, times=2)

    @rule(index=indexes, times=st.integers(1, 3))
    def deliver_again(self, index, times):
        """A notification for an earlier payment, maybe credited or cancelled since."""
        provider_payments = sorted(pk for pk, o in self.orders.items() if o.provider == "robokassa")
        if provider_payments:
            self.deliver(self.pick(provider_payments, index), times=times)

    @rule(index=indexes)
    def refund(self, index):
        """An operator refunds a paid payment (a top-up already spent is refused)."""
        paid = list(Payment.objects.filter(status=PaymentStatus.PAID).order_by("pk"))
        payment = self.pick(paid, index)
        if payment is None:
            return
        try:
            payment_refund(payment=payment, actor=None, reason="property", now=self.now)
        except InsufficientBalanceError:
            assert payment.purpose == PaymentPurpose.TOP_UP
            assert Customer.objects.get(pk=payment.customer_id).balance < payment.amount

    @rule(buyer=customers, tariff=tariffs, times=st.integers(0, 2))
    def buy_gift(self, buyer, tariff, times):
        customer = self.customer(buyer)
        payment = checkout_payment_get(
            customer=customer,
            tariff=self.tariffs[tariff],
            provider="robokassa",
            now=self.now,
            gift=True,
        ).payment
        self.record_order(payment, subscription=None, promo=None)
        self.deliver(payment.pk, times=times)

    @rule(index=indexes, own=st.integers(0, 3).map(lambda n: n == 0), extend=st.booleans())
    def redeem_gift(self, index, own, extend):
        """The other customer (or, `own`, the buyer: refused) redeems a gift as a new
        subscription or onto a running one, then tries the same code again: refused,
        nothing changes."""
        gift = self.pick(list(Gift.objects.select_related("payment").order_by("pk")), index)
        if gift is None:
            return
        buyer = [c.pk for c in self.customers].index(gift.payment.customer_id)
        customer = self.customer(buyer if own else 1 - buyer)
        status = gift.status
        subscription_id = None
        if extend:
            running = gift_targets(customer=customer, tariff=gift.payment.tariff, now=self.now)
            subscription_id = running[0].pk if running else None
        try:
            gift_redeem(
                customer=customer, code=gift.code, subscription_id=subscription_id, now=self.now
            )
        except ApplicationError as exc:
            refused = exc.extra["reason"]
            assert status != GiftStatus.ACTIVE or refused in ("own", "expired"), refused
            return
        assert status == GiftStatus.ACTIVE
        assert gift.payment.customer_id != customer.pk
        before = snapshot_take()
        with pytest.raises(ApplicationError) as again:
            gift_redeem(customer=customer, code=gift.code, now=self.now)
        assert again.value.extra["reason"] == "redeemed"
        assert snapshot_take() == before

    @rule(index=indexes, on=st.booleans())
    def auto_renew_switch(self, index, on):
        subscription = self.pick(
            list(Subscription.objects.filter(is_trial=False).order_by("pk")), index
        )
        if subscription is not None:
            subscription_autorenew_set(
                customer=subscription.customer, subscription_id=subscription.pk, on=on
            )

    @rule(index=indexes, hours=st.integers(1, 30))
    def auto_renew_run(self, index, hours):
        """Time moves to `hours` before a subscription ends (where auto-renew reminds or
        renews; never back), then the beat task runs, and a retry of it at that moment."""
        subscription = self.pick(list(Subscription.objects.order_by("pk")), index)
        if subscription is not None:
            self.now = max(self.now, subscription.expires_at - timedelta(hours=hours))
        subscriptions_autorenew_due(now=self.now)
        subscriptions_autorenew_due(now=self.now)

    @rule()
    def expire_unpaid(self):
        payments_expire_pending(now=self.now)

    @rule(hours=st.integers(1, 24 * 40))
    def wait(self, hours):
        self.now += timedelta(hours=hours)

    # --- shared by the operations ----------------------------------------------------------

    def checkout(self, customer, tariff, subscription, promo, *, provider) -> Payment | None:
        """``checkout_payment_get``; a refused code changes nothing and makes no payment."""
        promo = self.promos[promo] if promo is not None else None
        tariff = self.tariffs[tariff]
        before = snapshot_take()
        try:
            payment = checkout_payment_get(
                customer=customer,
                tariff=tariff,
                provider=provider,
                subscription=subscription,
                now=self.now,
                promo=promo,
            ).payment
        except PromoError:
            assert snapshot_take() == before
            return None
        assert payment.amount > 0
        assert (payment.amount, payment.currency) == payment_price(
            tariff=tariff, provider=provider, promo=promo
        )
        self.record_order(payment, subscription=subscription, promo=promo)
        return payment

    def checkout_and_pay(self, customer, tariff, subscription, promo, *, times, tamper):
        payment = self.checkout(customer, tariff, subscription, promo, provider="robokassa")
        if payment is None:
            return
        if tamper:
            before = snapshot_take()
            self.deliver(payment.pk, times=1, tamper=True)
            assert snapshot_take() == before
        self.deliver(payment.pk, times=times)


class MoneyInvariants(MachineBase):
    """Checked after every step."""

    @invariant()
    def check_expiries(self):
        """Each subscription's expiry is exactly where this step's credits and refunds put
        it; then the snapshot moves on."""
        before, after = self.snapshot, snapshot_take()
        now = self.now
        changes: dict[int, list[tuple[str, int]]] = {}
        newly_paid = [
            pk
            for pk, status in after.payments.items()
            if status in CREDITED and before.payments.get(pk) not in CREDITED
        ]
        newly_refunded = [
            pk
            for pk, status in after.payments.items()
            if status == PaymentStatus.REFUNDED
            and before.payments.get(pk) != PaymentStatus.REFUNDED
        ]
        for payment in Payment.objects.filter(pk__in=newly_paid).order_by("pk"):
            if payment.subscription_id is not None:
                changes.setdefault(payment.subscription_id, []).append(
                    ("credit", payment.days_credited)
                )
        for gift in Gift.objects.filter(status=GiftStatus.REDEEMED):
            if before.gifts.get(gift.pk) != GiftStatus.REDEEMED:
                changes.setdefault(gift.subscription_id, []).append(("credit", gift.days_credited))
        for payment in Payment.objects.filter(pk__in=newly_refunded).order_by("pk"):
            gift = Gift.objects.filter(payment=payment).first()
            if payment.subscription_id is not None and payment.days_credited > 0:
                changes.setdefault(payment.subscription_id, []).append(
                    ("refund", payment.days_credited)
                )
            elif gift is not None and gift.status == GiftStatus.REDEEMED:
                changes.setdefault(gift.subscription_id, []).append(("refund", gift.days_credited))

        for pk, (expires_at, _status, started_at) in after.subscriptions.items():
            events = changes.get(pk, [])
            if pk not in before.subscriptions:
                # New: made by exactly one credit, for its days from now.
                assert [kind for kind, _ in events] == ["credit"], (pk, events)
                expected = now + timedelta(days=events[0][1])
            else:
                expected, status, _ = before.subscriptions[pk]
                for kind, days in events:
                    if kind == "credit":
                        running = status == SubscriptionStatus.ACTIVE and expected > now
                        expected = (expected if running else now) + timedelta(days=days)
                        status = SubscriptionStatus.ACTIVE
                    else:
                        expected = max(expected - timedelta(days=days), now, started_at)
                        assert expected >= now
                if not any(kind == "refund" for kind, _ in events):
                    old = before.subscriptions[pk][0]
                    assert expires_at >= old, f"subscription #{pk} shortened without a refund"
            assert expires_at == expected, (
                f"subscription #{pk}: expires {expires_at}, expected {expected} after {events}"
            )
        self.snapshot = after

    @invariant()
    def check_orders(self):
        """Every payment is its order, credited once with its days."""
        paid_audits = Counter(
            AuditLog.objects.filter(
                event_type=AuditEvent.PAYMENT_PAID, object_type="billing.payment"
            ).values_list("object_id", flat=True)
        )
        processed = Counter(
            WebhookEvent.objects.filter(status=WebhookEventStatus.PROCESSED).values_list(
                "payment_id", flat=True
            )
        )
        redemptions = {r.payment_id: r for r in PromoRedemption.objects.exclude(payment=None)}
        for payment in Payment.objects.select_related("tariff"):
            credited = payment.status in CREDITED
            assert paid_audits[str(payment.pk)] == (1 if credited else 0), payment.pk
            assert processed[payment.pk] <= 1
            assert payment.amount >= 0
            order = self.orders.get(payment.pk)
            if order is None:
                self.check_auto_renewal(payment)
                continue
            assert (
                payment.customer_id,
                payment.purpose,
                payment.tariff_id,
                payment.amount,
                payment.currency,
                payment.provider,
                payment.promo_id,
            ) == (
                order.customer_id,
                order.purpose,
                order.tariff_id,
                order.amount,
                order.currency,
                order.provider,
                order.promo_id,
            ), payment.pk
            if order.subscription_id is not None:
                assert payment.subscription_id == order.subscription_id
            elif not credited or order.purpose != PaymentPurpose.SUBSCRIPTION:
                assert payment.subscription_id is None
            else:  # a new purchase: a subscription of its own, made when it was credited
                assert payment.subscription_id not in order.subscriptions_before
                assert payment.subscription.customer_id == order.customer_id
            if credited and order.purpose == PaymentPurpose.SUBSCRIPTION:
                redemption = redemptions.get(payment.pk)
                bonus = redemption.days if redemption is not None else 0
                assert payment.days_credited == payment.tariff.duration_days + bonus
            elif credited:
                assert payment.days_credited == 0
            gifts = Gift.objects.filter(payment=payment).count()
            assert gifts == (1 if credited and order.purpose == PaymentPurpose.GIFT else 0)

    def check_auto_renewal(self, payment: Payment) -> None:
        """A payment the test did not order: an auto-renewal, made paid, from the balance,
        for the renewed subscription's tariff at its price, once per expiry (ledger key)."""
        assert payment.provider == BALANCE_PROVIDER, payment.pk
        assert payment.promo_id is None
        assert payment.status in CREDITED
        assert payment.subscription_id is not None
        assert payment.amount == payment.tariff.price
        assert payment.currency == "RUB"
        assert payment.days_credited == payment.tariff.duration_days
        assert BalanceEntry.objects.filter(
            payment=payment, source_key__startswith=f"autorenew:{payment.subscription_id}:"
        ).exists()

    @invariant()
    def check_ledger(self):
        for customer in Customer.objects.filter(pk__in=[c.pk for c in self.customers]):
            entries = BalanceEntry.objects.filter(customer=customer)
            total = entries.aggregate(total=Sum("amount"))["total"] or Decimal("0")
            assert customer.balance == total >= 0
            latest = entries.order_by("-pk").first()
            assert (latest.balance_after if latest else Decimal("0")) == customer.balance
            assert not entries.filter(balance_after__lt=0).exists()
        repeated = BalanceEntry.objects.values("source_key").annotate(n=Count("pk"))
        assert not repeated.filter(n__gt=1).exists()

    @invariant()
    def check_promo_codes(self):
        # A payment credited late (cancelled or expired first, its reserved use released, then
        # paid at the provider after all) still gets the price it was offered and takes its
        # use again even past ``max_uses`` (``promo_credit``): the customer paid it.
        late = AuditLog.objects.filter(
            event_type=AuditEvent.PAYMENT_PAID, object_type="billing.payment", extra_data__late=True
        ).values_list("object_id", flat=True)
        late_ids = [int(pk) for pk in late]
        for promo in self.promos:
            counted = PromoRedemption.objects.filter(promo=promo, status__in=COUNTED)
            if promo.max_uses is not None:
                on_time = counted.exclude(payment_id__in=late_ids)
                assert on_time.count() <= promo.max_uses, promo.code
            if promo.once_per_customer:
                per_customer = counted.values("customer").annotate(n=Count("pk"))
                assert not per_customer.filter(n__gt=1).exists(), promo.code
        assert not PromoRedemption.objects.filter(discount__lt=0).exists()
        assert not Payment.objects.filter(amount__lt=0).exists()
        assert not Payment.objects.filter(price_before_promo__lt=0).exists()

    @invariant()
    def check_gifts(self):
        for gift in Gift.objects.select_related("payment"):
            if gift.status == GiftStatus.REDEEMED or gift.redeemed_at is not None:
                assert gift.redeemed_by_id not in (None, gift.payment.customer_id)
                assert gift.subscription_id is not None
                made = AuditLog.objects.filter(
                    event_type__in=(
                        AuditEvent.SUBSCRIPTION_CREATED,
                        AuditEvent.SUBSCRIPTION_EXTENDED,
                    ),
                    message__startswith=f"gift #{gift.pk} ",
                )
                assert made.count() == 1, f"gift #{gift.pk} redeemed {made.count()} times"


class MoneyMachine(ShopOperations, MoneyInvariants):
    """The operations and the invariants; a new kind of operation is one more mixin."""

    def run_steps(self, steps: list[tuple[str, dict]], then=None) -> None:
        """Fixed steps, every invariant checked after each (as hypothesis does); `then`
        runs before the example's rollback."""
        checks = [
            getattr(self, name)
            for name in dir(type(self))
            if hasattr(getattr(type(self), name), INVARIANT_MARKER)
        ]
        try:
            for name, kwargs in steps:
                getattr(self, name)(**kwargs)
                for check in checks:
                    check()
            if then is not None:
                then()
        finally:
            self.teardown()


@override_settings(
    BILLING_PROVIDERS={"robokassa": ROBOKASSA},
    AUTO_RENEW_DAYS_BEFORE=1,
    PAYMENT_PENDING_TTL_MINUTES=60,
    TELEGRAM_ADMIN_CHAT_IDS=[],
    TRUSTED_PROXY_IPS=[],
    WEBHOOK_REJECTS_PER_MINUTE=0,
    TELEGRAM_BOT_USERNAME="vpnsite_bot",
)
class MoneyProperties(TestCase):
    def test_renewal_and_money_invariants(self):
        client = self.client

        class Machine(MoneyMachine):
            def __init__(self):
                super().__init__()
                self.client = client

        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=30,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )

    def machine(self) -> MoneyMachine:
        machine = MoneyMachine()
        machine.client = self.client
        return machine

    def test_always_tried_auto_renewal_gift_and_refunds(self):
        """The deep paths a random run may miss, in one fixed sequence: a purchase from the
        balance with auto-renew, its renewal (run twice), a renewal onto another tariff
        delivered three times, a gift redeemed onto that subscription and refunded, the
        auto-renewal refunded."""
        self.machine().run_steps(
            [
                ("top_up", {"who": 0, "amount": Decimal(1000)}),
                (
                    "buy_from_balance",
                    {"who": 0, "tariff": 0, "renew": -1, "promo": None, "auto_renew": True},
                ),
                ("auto_renew_run", {"index": 0, "hours": 12}),
                (
                    "buy_through_provider",
                    {"who": 0, "tariff": 1, "renew": 0, "promo": 2, "times": 3, "tamper": True},
                ),
                ("buy_gift", {"buyer": 1, "tariff": 1, "times": 2}),
                ("redeem_gift", {"index": 0, "own": False, "extend": True}),
                ("refund", {"index": 4}),  # the gift: its days leave the recipient
                ("refund", {"index": 2}),  # the auto-renewal: its money back to the balance
                ("wait", {"hours": 24 * 200}),
                (
                    "buy_through_provider",
                    {"who": 0, "tariff": 2, "renew": 0, "promo": 0, "times": 1, "tamper": False},
                ),
            ],
            then=self.each_path_taken,
        )

    @staticmethod
    def each_path_taken():
        refunded = Payment.objects.filter(status=PaymentStatus.REFUNDED)
        assert refunded.filter(purpose=PaymentPurpose.GIFT).exists()
        assert refunded.filter(provider=BALANCE_PROVIDER, promo=None, number=3).exists()
        assert BalanceEntry.objects.filter(source_key__startswith="autorenew:").count() == 1
        assert Gift.objects.get().redeemed_at is not None
        renewed = Payment.objects.filter(tariff__duration_days=90, days_credited=97)
        assert renewed.get().subscription.tariff.duration_days == 7  # then onto a third
        assert WebhookEvent.objects.filter(status=WebhookEventStatus.REJECTED).count() == 1

    def test_only_a_late_credit_takes_a_use_past_max_uses(self):
        """A payment whose reserved use lapsed (unpaid past its expiry) and that is paid
        after the code was used up still gets its price and its use (``promo_credit``); no
        on-time use ever goes past ``max_uses``."""
        buy = {"renew": -1, "promo": 0, "tamper": False}
        self.machine().run_steps(
            [
                ("buy_through_provider", {**buy, "who": 0, "tariff": 0, "times": 0}),
                ("wait", {"hours": 2}),
                ("expire_unpaid", {}),
                ("buy_through_provider", {**buy, "who": 0, "tariff": 0, "times": 1}),
                ("buy_through_provider", {**buy, "who": 1, "tariff": 1, "times": 1}),
                ("buy_through_provider", {**buy, "who": 0, "tariff": 2, "times": 1}),
                ("buy_through_provider", {**buy, "who": 1, "tariff": 2, "times": 1}),  # used up
                ("deliver_again", {"index": 0, "times": 2}),  # the lapsed one, paid late
            ],
            then=self.four_uses_of_a_three_use_code,
        )

    @staticmethod
    def four_uses_of_a_three_use_code():
        uses = PromoRedemption.objects.filter(promo__code="PCT30", status__in=COUNTED)
        assert uses.count() == 4
