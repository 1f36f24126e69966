"""A banned customer's payment is credited (the money was taken), but the messages say the
account is blocked and how to reach support; no keys message."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import CustomerFactory, UserFactory
from billing.models import PaymentStatus
from billing.services.messages import KIND_PAYMENT_NEW_ADMIN, KIND_PAYMENT_PAID
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from nodes.tests.conftest import node_for
from notifications.models import OutboxMessage
from subscriptions.models import SubscriptionStatus
from subscriptions.services.customers import customer_unban

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]

BLOCKED = {"ru": "Ваш аккаунт заблокирован", "en": "Your account is blocked"}
SUPPORT = {"ru": "напишите в поддержку: @vpn_help", "en": "write to support: @vpn_help"}
NO_CONTACT = {"ru": "обратитесь в поддержку", "en": "please contact support"}
# What a paying customer in good standing is told; a banned one must never read it.
ACTIVE = {"ru": ("активна до", "Ключи для подключения"), "en": ("active until", "keys will follow")}


@pytest.fixture
def node(sim_factory):
    sim = sim_factory(generation="v3")
    return sim, node_for(sim)


def pay(customer, django_capture_on_commit_callbacks):
    payment = PaymentFactory(
        customer=customer, provider="robokassa", expires_at=timezone.now() + timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        reply = send(Client(), ROBOKASSA_URL, robokassa_params(payment.pk))
    assert (reply.status_code, reply.content) == (200, f"OK{payment.pk}".encode())
    payment.refresh_from_db()
    return payment


@pytest.mark.parametrize("language", ["ru", "en"])
def test_a_banned_customers_payment_is_credited_and_says_the_account_is_blocked(
    runtime_setting, language, settings, node, django_capture_on_commit_callbacks
):
    runtime_setting("SUPPORT_CONTACT", "@vpn_help")
    sim, _ = node
    customer = CustomerFactory(language=language, is_banned=True)
    payment = pay(customer, django_capture_on_commit_callbacks)

    # Credited: the money was taken.
    assert payment.status == PaymentStatus.PAID
    subscription = payment.subscription
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert payment.days_credited == payment.tariff.duration_days
    # Told the account is blocked and how to reach support, in their language.
    paid = OutboxMessage.objects.get(kind=KIND_PAYMENT_PAID, customer=customer)
    assert BLOCKED[language] in paid.text
    assert SUPPORT[language] in paid.text
    assert not any(phrase in paid.text for phrase in ACTIVE[language])
    assert paid.reply_markup["inline_keyboard"][0][0]["url"] == "https://t.me/vpn_help"
    # No keys message; the key on the panel stays disabled.
    assert not OutboxMessage.objects.filter(kind__in=["keys-ready", "keys-qr"]).exists()
    subscription.refresh_from_db()
    assert subscription.keys_notified_at is None
    keys = list(subscription.keys.all())
    assert keys
    for key in keys:
        assert sim.client(key.email)["enable"] is False
    # The admins know why.
    admin = OutboxMessage.objects.filter(kind=KIND_PAYMENT_NEW_ADMIN).first()
    assert "banned" in admin.text or "заблокирован" in admin.text

    # Lifting the ban sends the keys after all, once.
    with django_capture_on_commit_callbacks(execute=True):
        customer_unban(customer=customer, actor=UserFactory(), reason="paid, all clear")
    assert OutboxMessage.objects.filter(kind="keys-ready", customer=customer).count() == 1


@pytest.mark.parametrize("language", ["ru", "en"])
def test_a_banned_customer_without_a_support_contact_is_still_told_to_contact_support(
    runtime_setting, language, settings, django_capture_on_commit_callbacks
):
    runtime_setting("SUPPORT_CONTACT", "")
    customer = CustomerFactory(language=language, is_banned=True)
    payment = pay(customer, django_capture_on_commit_callbacks)
    assert payment.status == PaymentStatus.PAID
    paid = OutboxMessage.objects.get(kind=KIND_PAYMENT_PAID, customer=customer)
    assert BLOCKED[language] in paid.text
    assert NO_CONTACT[language] in paid.text
    assert paid.reply_markup is None
