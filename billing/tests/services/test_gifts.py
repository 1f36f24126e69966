"""Gift subscriptions: a gift payment's credit makes one code; the code is redeemed once,
by someone else, into a new subscription or an extension; refunds cancel or take back."""

import re
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from accounts.tests.factories import CustomerFactory, UserFactory
from billing.models import Gift, GiftStatus, Payment, PaymentPurpose, PaymentStatus
from billing.services.checkout import checkout_payment_get
from billing.services.gifts import (
    GIFT_CODE_ALPHABET,
    gift_code_normalize,
    gift_link,
    gift_redeem,
)
from billing.services.refunds import payment_refund
from billing.tests.factories import GiftFactory, PaymentFactory
from billing.tests.helpers import mark_paid
from core.exceptions import ApplicationError
from core.models import AuditLog
from notifications.models import OutboxAudience, OutboxMessage
from subscriptions.models import Subscription
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def gift_payment(**kwargs):
    return PaymentFactory(
        purpose=PaymentPurpose.GIFT, expires_at=timezone.now() + timedelta(hours=1), **kwargs
    )


def state():
    """Everything a refused redemption must leave as it was."""
    return (
        list(Gift.objects.order_by("pk").values()),
        list(Subscription.objects.order_by("pk").values()),
        AuditLog.objects.count(),
        OutboxMessage.objects.count(),
    )


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", ["Gift code:", "Forward this link"]), ("ru", ["Код подарка:", "Перешлите"])],
)
def test_credit_makes_one_gift_and_no_subscription(language, expected):
    payment = gift_payment(customer=CustomerFactory(language=language))
    first, second = mark_paid(payment), mark_paid(payment)
    assert (first.credited, second.credited) == (True, False)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.subscription is None
    assert payment.days_credited == 0
    assert not Subscription.objects.exists()
    gift = Gift.objects.get()
    assert gift.payment == payment
    assert gift.status == GiftStatus.ACTIVE
    assert re.fullmatch(f"[{GIFT_CODE_ALPHABET}]{{12}}", gift.code)
    assert timedelta(days=179) < gift.expires_at - timezone.now() <= timedelta(days=180)
    message = OutboxMessage.objects.get(audience=OutboxAudience.CUSTOMER)
    assert message.kind == "gift-created"
    assert f"<code>{gift.code}</code>" in message.text
    assert f"https://t.me/vpnsite_bot?start=gift_{gift.code}" in message.text
    assert all(part in message.text for part in expected)
    assert OutboxMessage.objects.filter(audience=OutboxAudience.ADMIN).count() == 2
    assert not OutboxMessage.objects.filter(kind="payment-paid").exists()


def test_codes_differ_between_gifts():
    codes = set()
    for _ in range(20):
        mark_paid(gift_payment())
    codes = set(Gift.objects.values_list("code", flat=True))
    assert len(codes) == 20


def test_without_a_bot_username_the_message_names_the_command(settings):
    settings.TELEGRAM_BOT_USERNAME = ""
    mark_paid(gift_payment(customer=CustomerFactory(language="en")))
    gift = Gift.objects.get()
    assert gift_link(gift.code) == ""
    text = OutboxMessage.objects.get(kind="gift-created").text
    assert f"/gift {gift.code}" in text
    assert "t.me" not in text


def test_gift_checkout_is_its_own_checkout():
    customer = CustomerFactory()
    tariff = TariffFactory()
    now = timezone.now()
    own = checkout_payment_get(customer=customer, tariff=tariff, provider="robokassa", now=now)
    gift = checkout_payment_get(
        customer=customer, tariff=tariff, provider="robokassa", now=now, gift=True
    )
    again = checkout_payment_get(
        customer=customer, tariff=tariff, provider="robokassa", now=now, gift=True
    )
    assert own.payment.pk != gift.payment.pk
    assert (again.payment.pk, again.reused) == (gift.payment.pk, True)
    assert gift.payment.purpose == PaymentPurpose.GIFT
    assert own.payment.purpose == PaymentPurpose.SUBSCRIPTION
    # Paying the gift leaves the purchase for oneself payable, and the other way round.
    mark_paid(gift.payment)
    own.payment.refresh_from_db()
    assert own.payment.status == PaymentStatus.PENDING


def test_redeem_makes_a_new_subscription_and_tells_the_buyer_once():
    gift = GiftFactory(payment__customer__language="ru", payment__tariff__duration_days=90)
    recipient = CustomerFactory(language="en")
    now = timezone.now()
    redeemed = gift_redeem(customer=recipient, code=gift.code.lower(), now=now)
    subscription = Subscription.objects.get()
    assert subscription.customer == recipient
    assert subscription.tariff == gift.payment.tariff
    assert subscription.expires_at == now + timedelta(days=90)
    assert (redeemed.status, redeemed.redeemed_by, redeemed.redeemed_at) == (
        GiftStatus.REDEEMED,
        recipient,
        now,
    )
    assert (redeemed.subscription, redeemed.days_credited) == (subscription, 90)
    told = OutboxMessage.objects.get(kind="gift-redeemed")
    assert told.chat_id == gift.payment.customer.telegram_id
    assert "подарок" in told.text
    assert gift.code[-4:] in told.text
    assert gift.code not in told.text
    # A second attempt, by anyone, is refused and changes nothing (no second notice either).
    before = state()
    with pytest.raises(ApplicationError) as refused:
        gift_redeem(customer=CustomerFactory(), code=gift.code, now=now)
    assert refused.value.extra["reason"] == "redeemed"
    assert state() == before


def test_redeem_extends_a_running_subscription_with_the_same_limits():
    gift = GiftFactory()
    tariff = gift.payment.tariff
    now = timezone.now()
    subscription = SubscriptionFactory(tariff=TariffFactory(), expires_at=now + timedelta(days=5))
    gift_redeem(customer=subscription.customer, code=gift.code, subscription_id=subscription.pk)
    subscription.refresh_from_db()
    assert subscription.expires_at > now + timedelta(days=5 + tariff.duration_days - 1)
    assert subscription.tariff == tariff
    assert Subscription.objects.count() == 1


@pytest.mark.parametrize("case", ["other_limits", "someone_elses", "ended"])
def test_redeem_refuses_a_subscription_it_cannot_extend(case):
    gift = GiftFactory()
    recipient = CustomerFactory()
    now = timezone.now()
    subscription = SubscriptionFactory(
        customer=recipient if case != "someone_elses" else CustomerFactory(),
        tariff=TariffFactory(device_limit=9) if case == "other_limits" else TariffFactory(),
        device_limit=9 if case == "other_limits" else 3,
        started_at=now - timedelta(days=40),
        expires_at=now + timedelta(days=-1 if case == "ended" else 5),
    )
    before = state()
    with pytest.raises(ApplicationError) as refused:
        gift_redeem(customer=recipient, code=gift.code, subscription_id=subscription.pk, now=now)
    assert refused.value.extra["reason"] == "subscription"
    assert state() == before


@pytest.mark.parametrize(
    ("case", "reason", "english"),
    [
        ("unknown", "unknown", "There is no gift with this code."),
        ("garbage", "unknown", "There is no gift with this code."),
        ("expired", "expired", "This gift code has expired."),
        ("cancelled", "cancelled", "This gift was cancelled and can no longer be redeemed."),
        ("own", "own", "You cannot redeem your own gift"),
        ("banned", "banned", "Your account is blocked."),
    ],
)
def test_refused_codes_change_nothing(case, reason, english):
    now = timezone.now()
    gift = GiftFactory(
        expires_at=now - timedelta(seconds=1) if case == "expired" else now + timedelta(days=1),
        status=GiftStatus.CANCELLED if case == "cancelled" else GiftStatus.ACTIVE,
    )
    code = {"unknown": "ABCDEFGHJKMN", "garbage": "0OIl'; --"}.get(case, gift.code)
    customer = (
        gift.payment.customer
        if case == "own"
        else CustomerFactory(language="en", is_banned=case == "banned")
    )
    customer.language = "en"
    before = state()
    with pytest.raises(ApplicationError) as refused:
        gift_redeem(customer=customer, code=code, now=now)
    assert refused.value.extra["reason"] == reason
    assert english in refused.value.message
    assert state() == before


def test_refusals_are_in_russian_for_a_russian_customer():
    with pytest.raises(ApplicationError) as refused:
        gift_redeem(customer=CustomerFactory(language="ru"), code="ABCDEFGHJKMN")
    assert refused.value.message == "Подарка с таким кодом нет."  # noqa: RUF001


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("gift_abcdefghjkmn", "ABCDEFGHJKMN"),
        (" ABCD-EFGH-JKMN ", "ABCDEFGHJKMN"),
        ("ABCDEFGHJKM", ""),
        ("ABCDEFGHJKM0", ""),
        ("", ""),
    ],
)
def test_code_normalize(typed, code):
    assert gift_code_normalize(typed) == code


def test_refund_of_an_unredeemed_gift_cancels_it():
    gift = GiftFactory()
    payment_refund(payment=gift.payment, actor=UserFactory(), reason="changed their mind")
    gift.refresh_from_db()
    assert (gift.status, gift.cancelled_at is not None) == (GiftStatus.CANCELLED, True)
    with pytest.raises(ApplicationError) as refused:
        gift_redeem(customer=CustomerFactory(), code=gift.code)
    assert refused.value.extra["reason"] == "cancelled"


def test_refund_of_a_redeemed_gift_takes_the_days_back_from_the_recipient():
    gift = GiftFactory()
    now = timezone.now()
    subscription = SubscriptionFactory(expires_at=now + timedelta(days=10))
    gift_redeem(customer=subscription.customer, code=gift.code, subscription_id=subscription.pk)
    subscription.refresh_from_db()
    assert subscription.expires_at > now + timedelta(days=39)
    refunded = payment_refund(payment=gift.payment, actor=UserFactory(), reason="chargeback")
    assert refunded.status == PaymentStatus.REFUNDED
    subscription.refresh_from_db()
    assert now + timedelta(days=9) < subscription.expires_at <= now + timedelta(days=11)
    gift.refresh_from_db()
    assert gift.status == GiftStatus.REDEEMED
    told = OutboxMessage.objects.get(kind="gift-refunded")
    assert told.chat_id == subscription.customer.telegram_id
    # The buyer hears of the refund, never of the recipient's subscription.
    to_buyer = OutboxMessage.objects.get(kind="payment-refunded")
    assert to_buyer.chat_id == gift.payment.customer.telegram_id
    assert "Subscription" not in to_buyer.text
    assert "Подписка" not in to_buyer.text


def test_constraints():
    gift = GiftFactory()
    with pytest.raises(IntegrityError):
        Gift.objects.create(payment=gift.payment, code="ZZZZZZZZZZZZ", expires_at=gift.expires_at)


def test_a_redeemed_gift_names_who_and_when():
    gift = GiftFactory()
    with pytest.raises(IntegrityError):
        Gift.objects.filter(pk=gift.pk).update(status=GiftStatus.REDEEMED)


def test_a_gift_payment_never_has_a_subscription():
    with pytest.raises(IntegrityError):
        gift_payment(subscription=SubscriptionFactory())


def test_one_pending_checkout_per_purpose():
    payment = gift_payment()
    Payment.objects.create(
        customer=payment.customer,
        number=2,
        tariff=payment.tariff,
        provider=payment.provider,
        amount=payment.amount,
    )
    with pytest.raises(IntegrityError):
        gift_payment(customer=payment.customer, tariff=payment.tariff)
