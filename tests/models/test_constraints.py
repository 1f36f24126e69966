"""Every invariant the database holds: a violation raises, whatever the code above it does."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory, UserFactory
from billing.models import Payment, WebhookEvent
from billing.tests.factories import PaymentFactory
from core.tests.factories import AuditLogFactory
from nodes.models import Node, NodeClient
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import OutboxAudience, OutboxMessage
from subscriptions.models import Tariff
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


def violates(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


def test_customer_telegram_id_unique():
    CustomerFactory(telegram_id=42)
    assert violates(lambda: Customer.objects.create(telegram_id=42))


def test_customer_telegram_id_positive():
    assert violates(lambda: Customer.objects.create(telegram_id=0))


def test_customer_referral_code_unique():
    first = CustomerFactory()
    assert violates(lambda: CustomerFactory(referral_code=first.referral_code))


def test_customer_cannot_refer_itself():
    customer = CustomerFactory()
    customer.referred_by_id = customer.pk
    assert violates(customer.save)


def test_operator_telegram_id_unique():
    UserFactory(username="a", telegram_id=7)
    assert violates(lambda: UserFactory(username="b", telegram_id=7))


def test_tariff_price_non_negative():
    assert violates(lambda: TariffFactory(price=Decimal("-0.01")))


def test_tariff_duration_positive():
    assert violates(lambda: TariffFactory(duration_days=0))


def test_tariff_price_is_decimal():
    tariff = TariffFactory(price=Decimal("299.99"))
    tariff.refresh_from_db()
    assert tariff.price == Decimal("299.99")
    assert isinstance(tariff.price, Decimal)
    assert Tariff._meta.get_field("price").decimal_places == 2


def test_subscription_identity_fields_unique():
    first = SubscriptionFactory()
    for field in ("client_uuid", "sub_id", "feed_token"):
        assert violates(lambda f=field: SubscriptionFactory(**{f: getattr(first, f)})), field


def test_subscription_cannot_expire_before_start():
    now = timezone.now()
    assert violates(lambda: SubscriptionFactory(started_at=now, expires_at=now - timedelta(1)))


def test_node_name_unique_and_weight_non_negative():
    NodeFactory(name="de-1")
    assert violates(lambda: NodeFactory(name="de-1"))
    assert violates(lambda: Node.objects.filter(name="de-1").update(weight=-1))


def test_node_client_email_unique_per_node():
    key = NodeClientFactory()
    other_subscription = SubscriptionFactory()
    assert violates(
        lambda: NodeClient.objects.create(
            subscription=other_subscription, node=key.node, email=key.email
        )
    )
    # The same email on another node is fine: every panel is its own namespace.
    NodeClient.objects.create(subscription=key.subscription, node=NodeFactory(), email=key.email)


def test_node_client_one_key_per_subscription_per_node():
    key = NodeClientFactory()
    assert violates(
        lambda: NodeClient.objects.create(
            subscription=key.subscription, node=key.node, email="other"
        )
    )


def test_node_client_synced_version_never_ahead():
    key = NodeClientFactory(desired_version=2)
    assert violates(lambda: NodeClient.objects.filter(pk=key.pk).update(synced_version=3))


def test_payment_amount_non_negative():
    assert violates(lambda: PaymentFactory(amount=Decimal("-1")))


def test_payment_provider_ref_unique_per_provider_when_set():
    PaymentFactory(provider="freekassa", provider_ref="abc")
    assert violates(lambda: PaymentFactory(provider="freekassa", provider_ref="abc"))
    PaymentFactory(provider="robokassa", provider_ref="abc")
    # Empty references do not collide.
    PaymentFactory(provider="freekassa", provider_ref="")
    PaymentFactory(provider="freekassa", provider_ref="")


def test_paid_payment_has_paid_at():
    payment = PaymentFactory()
    assert violates(lambda: Payment.objects.filter(pk=payment.pk).update(status="paid"))
    Payment.objects.filter(pk=payment.pk).update(status="paid", paid_at=timezone.now())


def test_webhook_event_processed_once_per_provider_event():
    WebhookEvent.objects.create(provider="robokassa", event_key="15", status="processed")
    assert violates(
        lambda: WebhookEvent.objects.create(
            provider="robokassa", event_key="15", status="processed"
        )
    )
    # Every delivery is still recorded: duplicates and rejects share the key freely.
    WebhookEvent.objects.create(provider="robokassa", event_key="15", status="duplicate")
    WebhookEvent.objects.create(provider="robokassa", event_key="15", status="rejected")
    WebhookEvent.objects.create(provider="freekassa", event_key="15", status="processed")


def test_outbox_dedupe_key_unique_and_customer_messages_need_customer():
    customer = CustomerFactory()
    OutboxMessage.objects.create(customer=customer, chat_id=1, text="a", dedupe_key="k")
    assert violates(
        lambda: OutboxMessage.objects.create(customer=customer, chat_id=1, text="b", dedupe_key="k")
    )
    assert violates(
        lambda: OutboxMessage.objects.create(audience=OutboxAudience.CUSTOMER, chat_id=1, text="c")
    )
    OutboxMessage.objects.create(audience=OutboxAudience.ADMIN, chat_id=1, text="d")


def test_audit_log_is_append_only():
    row = AuditLogFactory(message="x")
    row.message = "changed"
    with pytest.raises(ValueError, match="append-only"):
        row.save()
