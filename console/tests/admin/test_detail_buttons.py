"""The buttons on a customer's, a subscription's and a payment's page (unfold's
``actions_detail``): each runs the list's action for that object (the same form, service,
audit row and message) and comes back to the page; it shows only to those allowed and where
it applies, and its URL refuses everyone else."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import BalanceEntry, PaymentStatus
from billing.tests.factories import PaymentFactory
from core.models import AuditEvent, AuditLog
from core.tests.helpers import levels, texts
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import OutboxMessage
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import DeviceFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def page_url(model: str, pk) -> str:
    return reverse(f"admin:{model}_change", args=[pk])


def button_url(model: str, pk, button: str) -> str:
    return reverse(f"admin:{model}_{button}", args=[pk])


def buttons(response) -> set[str]:
    """The names of the buttons the page shows (their URLs' last part)."""
    return {
        path.rstrip("/").rsplit("/", 1)[-1]
        for action in response.context["actions_detail"]
        for path in [action["path"]]
    }


# --- Customer -------------------------------------------------------------------------------

CUSTOMER = "accounts_customer"


def test_operator_bans_from_the_customer_page(as_operator, operator_user):
    customer = CustomerFactory()
    page = as_operator.get(page_url(CUSTOMER, customer.pk))
    assert buttons(page) == {"message", "adjust-balance", "ban"}  # no Unban: not banned
    form = as_operator.get(button_url(CUSTOMER, customer.pk, "ban_detail"))
    assert form.status_code == 200
    assert b'name="reason"' in form.content
    customer.refresh_from_db()
    assert not customer.is_banned  # showing the form changes nothing

    response = as_operator.post(
        button_url(CUSTOMER, customer.pk, "ban_detail"), {"apply": "yes", "reason": "fraud"}
    )
    assert response.status_code == 302
    assert response["Location"] == page_url(CUSTOMER, customer.pk)
    customer.refresh_from_db()
    assert (customer.is_banned, customer.banned_reason) == (True, "fraud")
    audit = AuditLog.objects.get(event_type=AuditEvent.CUSTOMER_BANNED)
    assert audit.acting_user == operator_user
    assert "Banned 1 customer(s)" in texts(response)[0]

    page = as_operator.get(page_url(CUSTOMER, customer.pk))
    assert buttons(page) == {"message", "adjust-balance", "unban"}  # no Ban: banned


def test_ban_button_is_refused_on_a_banned_customer(as_operator):
    customer = CustomerFactory(is_banned=True, banned_reason="x")
    url = button_url(CUSTOMER, customer.pk, "ban_detail")
    assert as_operator.get(url).status_code == 403
    assert as_operator.post(url, {"apply": "yes", "reason": "again"}).status_code == 403
    customer.refresh_from_db()
    assert customer.banned_reason == "x"


def test_operator_unbans_from_the_customer_page(as_operator, operator_user):
    customer = CustomerFactory(is_banned=True, banned_reason="spam")
    response = as_operator.post(
        button_url(CUSTOMER, customer.pk, "unban_detail"), {"apply": "yes", "reason": "appeal"}
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert not customer.is_banned
    assert AuditLog.objects.get(event_type=AuditEvent.CUSTOMER_UNBANNED).acting_user == (
        operator_user
    )
    # Not banned any more: the Unban URL is refused.
    again = button_url(CUSTOMER, customer.pk, "unban_detail")
    assert as_operator.post(again, {"apply": "yes"}).status_code == 403


def test_operator_adjusts_the_balance_from_the_customer_page(as_operator, operator_user):
    customer = CustomerFactory()
    url = button_url(CUSTOMER, customer.pk, "adjust_balance_detail")
    form = as_operator.get(url)
    key = form.context["form"]["key"].value()
    invalid = as_operator.post(url, {"apply": "yes", "amount": "0", "reason": "x", "key": key})
    assert invalid.status_code == 200
    assert b"errorlist" in invalid.content
    response = as_operator.post(
        url, {"apply": "yes", "amount": "150.50", "reason": "goodwill", "key": key}
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.balance == Decimal("150.50")
    assert BalanceEntry.objects.get(customer=customer).operator == operator_user
    assert AuditLog.objects.filter(acting_user=operator_user, customer=customer).exists()


def test_message_button_queues_a_message_and_hides_for_a_blocked_bot(as_support, support_user):
    customer = CustomerFactory()
    response = as_support.post(
        button_url(CUSTOMER, customer.pk, "message_detail"), {"apply": "yes", "text": "Hello"}
    )
    assert response.status_code == 302
    assert OutboxMessage.objects.get(customer=customer).text == "Hello"
    assert AuditLog.objects.filter(acting_user=support_user, customer=customer).exists()

    blocked = CustomerFactory(bot_blocked_at=timezone.now())
    page = as_support.get(page_url(CUSTOMER, blocked.pk))
    assert "message" not in buttons(page)
    url = button_url(CUSTOMER, blocked.pk, "message_detail")
    assert as_support.post(url, {"apply": "yes", "text": "x"}).status_code == 403


def test_support_sees_only_the_message_button_and_is_refused_the_others(as_support):
    customer = CustomerFactory()
    page = as_support.get(page_url(CUSTOMER, customer.pk))
    assert buttons(page) == {"message"}
    for button, data in [
        ("ban_detail", {"reason": "x"}),
        ("adjust_balance_detail", {"amount": "10", "reason": "x", "key": "k" * 32}),
    ]:
        url = button_url(CUSTOMER, customer.pk, button)
        assert as_support.get(url).status_code == 403
        assert as_support.post(url, {"apply": "yes", **data}).status_code == 403
    customer.refresh_from_db()
    assert not customer.is_banned
    assert customer.balance == 0
    assert not AuditLog.objects.exists()


def test_a_button_on_a_missing_customer_is_not_found(as_operator):
    assert as_operator.get(button_url(CUSTOMER, 999999, "message_detail")).status_code in (
        403,
        404,
    )


# --- Subscription ---------------------------------------------------------------------------

SUBSCRIPTION = "subscriptions_subscription"


def test_operator_extends_from_the_subscription_page(as_operator, operator_user):
    subscription = SubscriptionFactory()
    before = subscription.expires_at
    page = as_operator.get(page_url(SUBSCRIPTION, subscription.pk))
    # No devices recorded: no "Reset devices"; the factory's subscription is on one node.
    assert {"extend", "reprovision", "expire"} <= buttons(page)
    assert "reset-devices" not in buttons(page)
    url = button_url(SUBSCRIPTION, subscription.pk, "extend_detail")
    response = as_operator.post(url, {"apply": "yes", "days": "10", "reason": "outage"})
    assert response.status_code == 302
    assert response["Location"] == page_url(SUBSCRIPTION, subscription.pk)
    subscription.refresh_from_db()
    assert subscription.expires_at == before + timedelta(days=10)
    audit = AuditLog.objects.get(event_type=AuditEvent.SUBSCRIPTION_EXTENDED)
    assert (audit.acting_user, audit.message) == (operator_user, "outage")
    assert "Extended 1 subscription(s) by 10 day(s)" in texts(response)[0]


def test_operator_expires_from_the_page_then_expire_is_gone(as_operator, operator_user):
    subscription = SubscriptionFactory()
    url = button_url(SUBSCRIPTION, subscription.pk, "expire_detail")
    response = as_operator.post(url, {"apply": "yes", "reason": "abuse"})
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.EXPIRED
    audit = AuditLog.objects.get(event_type=AuditEvent.SUBSCRIPTION_EXPIRED)
    assert audit.acting_user == operator_user
    page = as_operator.get(page_url(SUBSCRIPTION, subscription.pk))
    assert {"expire", "reprovision", "move"}.isdisjoint(buttons(page))
    assert "extend" in buttons(page)  # an ended subscription can still be extended
    assert as_operator.post(url, {"apply": "yes", "reason": "again"}).status_code == 403


def test_reprovision_button_confirms_first_then_pushes_keys(as_operator, operator_user):
    node = NodeFactory(health=NodeHealth.UP)
    subscription = SubscriptionFactory()
    key = NodeClientFactory(subscription=subscription, node=node)
    NodeClient.objects.filter(pk=key.pk).update(sync_state=SyncState.ERROR, attempts=6)
    url = button_url(SUBSCRIPTION, subscription.pk, "reprovision_detail")
    confirm = as_operator.get(url)
    assert confirm.status_code == 200
    key.refresh_from_db()
    assert key.sync_state == SyncState.ERROR  # a GET changes nothing
    response = as_operator.post(url, {"apply": "yes"})
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.sync_state, key.attempts) == (SyncState.PENDING, 0)
    assert AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION).acting_user == operator_user


def test_move_button_moves_and_reports_errors_on_the_page(as_operator, operator_user):
    source = NodeFactory(name="src", health=NodeHealth.UP)
    target = NodeFactory(name="dst", health=NodeHealth.UP)
    subscription = SubscriptionFactory()
    NodeClientFactory(subscription=subscription, node=source)
    url = button_url(SUBSCRIPTION, subscription.pk, "move_detail")
    form = as_operator.get(url)
    assert b"dst" in form.content
    same = as_operator.post(url, {"apply": "yes", "node": str(source.pk)})
    assert same.status_code == 302
    assert levels(same) == ["error"]
    response = as_operator.post(url, {"apply": "yes", "node": str(target.pk)})
    assert "Moved 1 subscription(s) to dst" in texts(response)[-1]
    assert NodeClient.objects.get(subscription=subscription, node=target).sync_state == "pending"
    assert AuditLog.objects.get(event_type=AuditEvent.KEY_MOVED).acting_user == operator_user


def test_reset_devices_button_shows_with_devices_only(as_operator, operator_user):
    subscription = SubscriptionFactory()
    url = button_url(SUBSCRIPTION, subscription.pk, "reset_devices_detail")
    assert as_operator.post(url, {"apply": "yes", "reason": "x"}).status_code == 403
    DeviceFactory(subscription=subscription)
    page = as_operator.get(page_url(SUBSCRIPTION, subscription.pk))
    assert "reset-devices" in buttons(page)
    response = as_operator.post(url, {"apply": "yes", "reason": "new phone"})
    assert response.status_code == 302
    assert not subscription.devices.exists()
    assert AuditLog.objects.filter(acting_user=operator_user).exists()


def test_support_extends_but_sees_no_operator_buttons(as_support, support_user):
    subscription = SubscriptionFactory()
    DeviceFactory(subscription=subscription)
    page = as_support.get(page_url(SUBSCRIPTION, subscription.pk))
    assert buttons(page) == {"extend"}
    for button, data in [
        ("expire_detail", {"reason": "x"}),
        ("reprovision_detail", {}),
        ("move_detail", {"node": "1"}),
        ("reset_devices_detail", {"reason": "x"}),
    ]:
        url = button_url(SUBSCRIPTION, subscription.pk, button)
        assert as_support.get(url).status_code == 403
        assert as_support.post(url, {"apply": "yes", **data}).status_code == 403
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.devices.exists()
    assert not AuditLog.objects.exists()
    url = button_url(SUBSCRIPTION, subscription.pk, "extend_detail")
    assert as_support.post(url, {"apply": "yes", "days": "3", "reason": "x"}).status_code == 302
    assert AuditLog.objects.get().acting_user == support_user


# --- Payment --------------------------------------------------------------------------------

PAYMENT = "billing_payment"


def paid_payment():
    subscription = SubscriptionFactory(expires_at=timezone.now() + timedelta(days=40))
    return PaymentFactory(
        subscription=subscription,
        status=PaymentStatus.PAID,
        paid_at=timezone.now(),
        days_credited=30,
    )


def test_operator_refunds_from_the_payment_page(as_operator, operator_user):
    payment = paid_payment()
    expiry = payment.subscription.expires_at
    assert buttons(as_operator.get(page_url(PAYMENT, payment.pk))) == {"refund"}
    url = button_url(PAYMENT, payment.pk, "refund_detail")
    form = as_operator.get(url)
    assert b'name="reason"' in form.content
    response = as_operator.post(url, {"apply": "yes", "reason": "customer asked"})
    assert response.status_code == 302
    assert response["Location"] == page_url(PAYMENT, payment.pk)
    payment.refresh_from_db()
    payment.subscription.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.subscription.expires_at == expiry - timedelta(days=30)
    audit = AuditLog.objects.get(event_type=AuditEvent.PAYMENT_REFUNDED)
    assert audit.acting_user == operator_user
    # Refunded: no Refund button, and its URL is refused.
    assert buttons(as_operator.get(page_url(PAYMENT, payment.pk))) == set()
    assert as_operator.post(url, {"apply": "yes", "reason": "x"}).status_code == 403


@pytest.mark.parametrize("status", [PaymentStatus.PENDING, PaymentStatus.FAILED])
def test_no_refund_on_an_unpaid_payment(as_operator, status):
    payment = PaymentFactory(status=status)
    assert buttons(as_operator.get(page_url(PAYMENT, payment.pk))) == set()
    url = button_url(PAYMENT, payment.pk, "refund_detail")
    assert as_operator.post(url, {"apply": "yes", "reason": "x"}).status_code == 403


def test_support_gets_no_refund_button(as_support):
    payment = paid_payment()
    assert buttons(as_support.get(page_url(PAYMENT, payment.pk))) == set()
    url = button_url(PAYMENT, payment.pk, "refund_detail")
    assert as_support.get(url).status_code == 403
    assert as_support.post(url, {"apply": "yes", "reason": "x"}).status_code == 403
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
