"""Every console action through the test client: as a superuser, and as "support"
(allowed to extend and to message; refused everything else)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from console.tests.admin.conftest import action
from core.models import AuditEvent, AuditLog
from core.tests.helpers import levels, texts
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import OutboxMessage, OutboxStatus
from notifications.tests.factories import OutboxMessageFactory
from subscriptions.models import Subscription, SubscriptionStatus, Tariff
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


CUSTOMERS = url("accounts_customer_changelist")
SUBSCRIPTIONS = url("subscriptions_subscription_changelist")


def test_ban_asks_for_a_reason_then_bans_and_audits(as_superuser, superuser):
    customer = CustomerFactory()
    page = action(as_superuser, CUSTOMERS, "ban_selected", [customer.pk])
    assert page.status_code == 200
    assert b'name="reason"' in page.content
    assert b"Ban customers" in page.content

    response = action(as_superuser, CUSTOMERS, "ban_selected", [customer.pk], reason="fraud")
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.is_banned
    assert customer.banned_reason == "fraud"
    assert AuditLog.objects.get(event_type=AuditEvent.CUSTOMER_BANNED).acting_user == superuser
    assert "Banned 1 customer(s)" in texts(response)[0]


def test_ban_errors_are_reported_per_customer(as_superuser):
    customer = CustomerFactory(is_banned=True)
    response = action(as_superuser, CUSTOMERS, "ban_selected", [customer.pk], reason="x")
    assert levels(response) == ["error"]
    assert "already banned" in texts(response)[0]


def test_unban(as_superuser, superuser):
    customer = CustomerFactory(is_banned=True, banned_reason="spam")
    response = action(
        as_superuser,
        CUSTOMERS,
        "unban_selected",
        [customer.pk],
        reason="appeal",
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert not customer.is_banned
    assert AuditLog.objects.get(event_type=AuditEvent.CUSTOMER_UNBANNED).acting_user == superuser


@pytest.mark.parametrize("client_fixture", ["as_superuser", "as_support"])
def test_send_a_message_through_the_outbox(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    customers = [CustomerFactory(), CustomerFactory(bot_blocked_at=timezone.now())]
    response = action(
        client,
        CUSTOMERS,
        "message_selected",
        [c.pk for c in customers],
        text="Maintenance tonight",
    )
    assert response.status_code == 302
    rows = OutboxMessage.objects.filter(kind="operator-message")
    assert rows.count() == 2
    assert set(rows.values_list("status", flat=True)) == {"pending", "skipped"}
    assert AuditLog.objects.filter(event_type=AuditEvent.ADMIN_ACTION).count() == 2
    assert any("Not delivered" in text for text in texts(response))


def test_support_cannot_ban(as_support):
    customer = CustomerFactory()
    page = as_support.get(CUSTOMERS)
    assert b"ban_selected" not in page.content
    assert b"unban_selected" not in page.content
    assert b"message_selected" in page.content
    response = action(as_support, CUSTOMERS, "ban_selected", [customer.pk], reason="x")
    customer.refresh_from_db()
    assert not customer.is_banned
    assert response.status_code in (200, 302)
    assert not AuditLog.objects.exists()


def test_support_cannot_unban(as_support):
    customer = CustomerFactory(is_banned=True, banned_reason="spam")
    action(as_support, CUSTOMERS, "unban_selected", [customer.pk], reason="x")
    customer.refresh_from_db()
    assert customer.is_banned


def test_customer_change_page_shows_inlines_and_keys(as_superuser):
    subscription = SubscriptionFactory()
    NodeClientFactory(subscription=subscription, node=NodeFactory(name="fra-1"))
    PaymentFactory(customer=subscription.customer, tariff=subscription.tariff)
    page = as_superuser.get(url("accounts_customer_change", subscription.customer_id))
    assert page.status_code == 200
    html = page.content.decode()
    assert "fra-1" in html
    assert f"s{subscription.pk}n" in html
    assert "Payments (newest 20)" in html
    assert "Subscriptions (newest 20)" in html


def test_customer_search_by_telegram_id_and_username(as_superuser):
    alice = CustomerFactory(telegram_id=555001, username="alice")
    CustomerFactory(telegram_id=555002, username="bob")
    by_id = as_superuser.get(CUSTOMERS, {"q": "555001"})
    assert list(by_id.context["cl"].result_list) == [alice]
    by_name = as_superuser.get(CUSTOMERS, {"q": "@alice"})
    assert list(by_name.context["cl"].result_list) == [alice]


@pytest.mark.parametrize("client_fixture", ["as_superuser", "as_support"])
def test_extend_through_the_form(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    subscription = SubscriptionFactory()
    before = subscription.expires_at
    form = action(client, SUBSCRIPTIONS, "extend_selected", [subscription.pk])
    assert form.status_code == 200
    assert b'name="days"' in form.content
    invalid = action(
        client, SUBSCRIPTIONS, "extend_selected", [subscription.pk], days="0", reason="x"
    )
    assert invalid.status_code == 200  # the form again, with its error
    assert b"errorlist" in invalid.content

    response = action(
        client, SUBSCRIPTIONS, "extend_selected", [subscription.pk], days="10", reason="outage"
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.expires_at == before + timedelta(days=10)
    audit = AuditLog.objects.get(event_type=AuditEvent.SUBSCRIPTION_EXTENDED)
    assert audit.acting_user == response.wsgi_request.user
    assert audit.message == "outage"
    # The customer is told (issue 19), once.
    assert OutboxMessage.objects.filter(kind="subscription-extended").count() == 1


def test_expire_now(as_superuser, superuser):
    subscription = SubscriptionFactory()
    response = action(
        as_superuser,
        SUBSCRIPTIONS,
        "expire_selected",
        [subscription.pk],
        reason="abuse",
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.EXPIRED
    audit = AuditLog.objects.get(event_type=AuditEvent.SUBSCRIPTION_EXPIRED)
    assert audit.acting_user == superuser
    assert OutboxMessage.objects.filter(kind="subscription-ended-by-operator").count() == 1


def test_reprovision_pushes_keys_again_and_audits(as_superuser, superuser):
    node = NodeFactory(health=NodeHealth.UP)
    subscription = SubscriptionFactory()
    key = NodeClientFactory(subscription=subscription, node=node)
    NodeClient.objects.filter(pk=key.pk).update(sync_state=SyncState.ERROR, attempts=6)
    response = action(
        as_superuser,
        SUBSCRIPTIONS,
        "reprovision_selected",
        [subscription.pk],
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.sync_state, key.attempts) == (SyncState.PENDING, 0)
    audit = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert audit.acting_user == superuser
    assert audit.extra_data["retried_key_ids"] == [key.pk]


def test_move_to_another_node(as_superuser, superuser):
    source = NodeFactory(name="src", health=NodeHealth.UP)
    target = NodeFactory(name="dst", health=NodeHealth.UP)
    subscription = SubscriptionFactory()
    NodeClientFactory(subscription=subscription, node=source)
    form = action(as_superuser, SUBSCRIPTIONS, "move_selected", [subscription.pk])
    assert b"dst" in form.content
    response = action(
        as_superuser, SUBSCRIPTIONS, "move_selected", [subscription.pk], node=str(target.pk)
    )
    assert response.status_code == 302
    assert "Moved 1 subscription(s) to dst" in texts(response)[0]
    assert NodeClient.objects.get(subscription=subscription, node=target).sync_state == "pending"
    assert AuditLog.objects.get(event_type=AuditEvent.KEY_MOVED).acting_user == superuser


def test_move_error_is_reported(as_superuser):
    node = NodeFactory(name="same", health=NodeHealth.UP)
    subscription = SubscriptionFactory()
    NodeClientFactory(subscription=subscription, node=node)
    response = action(
        as_superuser,
        SUBSCRIPTIONS,
        "move_selected",
        [subscription.pk],
        node=str(node.pk),
    )
    assert levels(response) == ["error"]
    assert "already on same" in texts(response)[0]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("expire_selected", {"reason": "x"}),
        ("reprovision_selected", {}),
        ("move_selected", {"node": "1"}),
    ],
)
def test_support_is_refused_everything_but_extend(as_support, name, data):
    subscription = SubscriptionFactory()
    page = as_support.get(SUBSCRIPTIONS)
    assert b"extend_selected" in page.content
    assert name.encode() not in page.content
    action(as_support, SUBSCRIPTIONS, name, [subscription.pk], **data)
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert not AuditLog.objects.exists()


def test_subscription_filters(as_superuser):
    soon = SubscriptionFactory(expires_at=timezone.now() + timedelta(days=2))
    week = SubscriptionFactory(expires_at=timezone.now() + timedelta(days=6))
    ended = SubscriptionFactory(
        started_at=timezone.now() - timedelta(days=40),
        expires_at=timezone.now() - timedelta(days=1),
        status=SubscriptionStatus.EXPIRED,
    )
    SubscriptionFactory()
    node = NodeFactory(name="nl-1")
    NodeClientFactory(subscription=week, node=node)

    def ids(**params):
        response = as_superuser.get(SUBSCRIPTIONS, params)
        assert response.status_code == 200
        return {s.pk for s in response.context["cl"].result_list}

    assert ids(expiring="3d") == {soon.pk}
    assert ids(expiring="7d") == {soon.pk, week.pk}
    assert ids(expiring="expired") == {ended.pk}
    assert ids(node=str(node.pk)) == {week.pk}
    assert ids(status__exact="expired") == {ended.pk}
    assert ids(q=str(soon.customer.telegram_id)) == {soon.pk}


def test_tariff_validation_errors_are_shown(as_superuser):
    add = url("subscriptions_tariff_add")
    response = as_superuser.post(
        add,
        {
            "name": "Bad",
            "duration_days": "0",
            "price": "-1",
            "currency": "RUB",
            "device_limit": "1",
            "traffic_limit_gb": "0",
            "node_count": "1",
            "sort_order": "0",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "price" in errors
    assert "duration_days" in errors
    assert not Tariff.objects.filter(name="Bad").exists()


def test_tariff_add_is_audited_and_sort_order_editable_in_the_list(as_superuser, superuser):
    response = as_superuser.post(
        url("subscriptions_tariff_add"),
        {
            "name": "Month",
            "duration_days": "30",
            "price": "299.00",
            "currency": "RUB",
            "device_limit": "3",
            "hwid_device_limit": "0",
            "traffic_limit_gb": "0",
            "traffic_reset": "month",
            "node_count": "1",
            "sort_order": "5",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    tariff = Tariff.objects.get(name="Month")
    assert tariff.price == Decimal("299.00")
    assert tariff.traffic_reset == "month"
    assert AuditLog.objects.get(object_id=str(tariff.pk)).acting_user == superuser

    changelist = url("subscriptions_tariff_changelist")
    edited = as_superuser.post(
        changelist,
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(tariff.pk),
            "form-0-sort_order": "1",
            "_save": "Save",
        },
    )
    assert edited.status_code == 302
    tariff.refresh_from_db()
    assert tariff.sort_order == 1


TARIFF_FORM = {
    "name": "Stars",
    "duration_days": "30",
    "price": "299.00",
    "currency": "RUB",
    "device_limit": "3",
    "hwid_device_limit": "0",
    "traffic_limit_gb": "0",
    "traffic_reset": "never",
    "node_count": "1",
    "sort_order": "0",
    "is_active": "on",
}


def test_tariff_stars_price_is_set_in_the_form_and_never_zero(as_superuser):
    add = url("subscriptions_tariff_add")
    refused = as_superuser.post(add, {**TARIFF_FORM, "price_stars": "0"})
    assert "price_stars" in refused.context["adminform"].form.errors
    assert not Tariff.objects.exists()
    assert as_superuser.post(add, {**TARIFF_FORM, "price_stars": "150"}).status_code == 302
    tariff = Tariff.objects.get()
    assert tariff.price_stars == 150
    assert AuditLog.objects.get(object_id=str(tariff.pk)).extra_data["price_stars"] == 150


def test_tariff_enable_disable(as_superuser):
    tariffs = [TariffFactory(is_active=True), TariffFactory(is_active=True)]
    changelist = url("subscriptions_tariff_changelist")
    action(as_superuser, changelist, "disable_selected", [t.pk for t in tariffs])
    assert not Tariff.objects.filter(is_active=True).exists()
    assert AuditLog.objects.filter(event_type=AuditEvent.ADMIN_ACTION).count() == 2
    action(as_superuser, changelist, "enable_selected", [tariffs[0].pk])
    assert list(Tariff.objects.filter(is_active=True)) == [tariffs[0]]


def test_support_cannot_edit_tariffs(as_support):
    tariff = TariffFactory(is_active=True)
    assert as_support.get(url("subscriptions_tariff_add")).status_code == 403
    page = as_support.get(url("subscriptions_tariff_change", tariff.pk))
    assert page.status_code == 200
    assert b'name="price"' not in page.content  # view only
    action(as_support, url("subscriptions_tariff_changelist"), "disable_selected", [tariff.pk])
    tariff.refresh_from_db()
    assert tariff.is_active


def test_support_cannot_edit_nodes(as_support):
    node = NodeFactory()
    assert as_support.get(url("nodes_node_add")).status_code == 403
    response = as_support.post(url("nodes_node_change", node.pk), {"name": "renamed"})
    assert response.status_code == 403


def test_support_cannot_refund(as_support, settings):
    payment = PaymentFactory(status=PaymentStatus.PAID, paid_at=timezone.now())
    page = as_support.get(url("billing_payment_changelist"))
    assert page.status_code == 200
    assert b"refund_selected" not in page.content
    action(
        as_support, url("billing_payment_changelist"), "refund_selected", [payment.pk], reason="x"
    )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_audit_log_is_read_only_and_filterable(as_superuser, superuser):
    customer = CustomerFactory(telegram_id=777000)
    from core.services import audit_log_write

    mine = audit_log_write(
        event_type=AuditEvent.CUSTOMER_BANNED,
        obj=customer,
        acting_user=superuser,
        customer_id=customer.pk,
        message="banned: spam",
    )
    system = audit_log_write(event_type=AuditEvent.SUBSCRIPTION_EXPIRED, message="term ended")
    changelist = url("core_auditlog_changelist")

    def ids(**params):
        response = as_superuser.get(changelist, params)
        assert response.status_code == 200
        return {row.pk for row in response.context["cl"].result_list}

    assert ids(actor=f"user:{superuser.pk}") == {mine.pk}
    assert ids(actor="label:system") == {system.pk}
    assert ids(event_type__exact="customer.banned") == {mine.pk}
    assert ids(object_type="accounts.customer") == {mine.pk}
    assert ids(q=str(customer.pk)) == {mine.pk}
    assert ids(q="777000") == {mine.pk}
    assert ids(q="term") == {system.pk}
    assert as_superuser.get(url("core_auditlog_add")).status_code == 403
    change = as_superuser.post(url("core_auditlog_change", mine.pk), {"message": "edited"})
    assert change.status_code == 403
    assert as_superuser.get(url("core_auditlog_delete", mine.pk)).status_code == 403
    assert b"delete_selected" not in as_superuser.get(changelist).content


def test_outbox_retry_action(as_superuser, superuser):
    message = OutboxMessageFactory(
        chat_id=1,
        status=OutboxStatus.FAILED,
        attempts=8,
    )
    sent = OutboxMessageFactory(customer=message.customer, chat_id=1, status=OutboxStatus.SENT)
    response = action(
        as_superuser,
        url("notifications_outboxmessage_changelist"),
        "retry_selected",
        [message.pk, sent.pk],
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING
    assert "1 message(s) queued again." in texts(response)
    assert any("not retried" in text for text in texts(response))
    assert AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION).acting_user == superuser


def test_support_cannot_retry_outbox(as_support):
    message = OutboxMessageFactory(chat_id=1, status=OutboxStatus.FAILED)
    action(
        as_support, url("notifications_outboxmessage_changelist"), "retry_selected", [message.pk]
    )
    message.refresh_from_db()
    assert message.status == OutboxStatus.FAILED


def test_operators_group_can_do_operator_things_but_not_manage_users(as_operator):
    customer = CustomerFactory()
    action(
        as_operator,
        CUSTOMERS,
        "ban_selected",
        [customer.pk],
        reason="abuse",
    )
    assert Customer.objects.get(pk=customer.pk).is_banned
    assert as_operator.get(url("accounts_user_changelist")).status_code == 403
    assert as_operator.get(url("subscriptions_tariff_add")).status_code == 200


def test_subscription_page_is_read_only_with_keys_inline(as_superuser):
    subscription = SubscriptionFactory()
    NodeClientFactory(subscription=subscription, node=NodeFactory(name="de-2"))
    page = as_superuser.get(url("subscriptions_subscription_change", subscription.pk))
    assert page.status_code == 200
    assert b"de-2" in page.content
    assert b'name="expires_at"' not in page.content
    assert Subscription.objects.count() == 1
