"""Readable values in the console's lists and pages: traffic in GiB, whole days left,
relative times with the exact moment in a tooltip, money with its currency, and status
badges (unfold's labels) in English and Russian."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from nodes.models import NodeClient, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

RED, GREEN, ORANGE = "bg-red-100", "bg-green-100", "bg-orange-100"


def cell(html: str, column: str) -> str:
    """The first list cell of `column` (its td/th with class field-<column>)."""
    start = html.index(f"field-{column}")
    return html[start : html.index("</t", start)]


def test_customer_list_state_badges_and_money(as_superuser):
    CustomerFactory(is_banned=True, balance=Decimal("1500"), created_at=timezone.now())
    html = as_superuser.get(reverse("admin:accounts_customer_changelist")).content.decode()
    state = cell(html, "state")
    assert "Banned" in state
    assert RED in state
    assert "1,500" in cell(html, "balance_shown")
    assert "₽" in cell(html, "balance_shown")
    joined = cell(html, "created_shown")
    assert "<time" in joined
    assert 'title="' in joined


def test_customer_list_in_russian(as_superuser):
    CustomerFactory(bot_blocked_at=timezone.now() - timedelta(hours=2))
    response = as_superuser.get(
        reverse("admin:accounts_customer_changelist"), HTTP_ACCEPT_LANGUAGE="ru"
    )
    html = response.content.decode()
    state = cell(html, "state")
    assert "Заблокировал бота" in state
    assert ORANGE in state


def test_subscription_list_status_days_and_key_badges(as_superuser):
    subscription = SubscriptionFactory(expires_at=timezone.now() + timedelta(days=30, hours=1))
    key = NodeClientFactory(subscription=subscription, node=NodeFactory(name="fin"))
    NodeClient.objects.filter(pk=key.pk).update(sync_state=SyncState.ERROR)
    html = as_superuser.get(reverse("admin:subscriptions_subscription_changelist")).content
    html = html.decode()
    assert "Active" in cell(html, "status_label")
    assert GREEN in cell(html, "status_label")
    left = cell(html, "days_left")
    assert ">30 days<" in left
    assert "30.0" not in left
    assert "fin" in cell(html, "nodes_display")
    assert RED in cell(html, "nodes_display")

    russian = as_superuser.get(
        reverse("admin:subscriptions_subscription_changelist"), HTTP_ACCEPT_LANGUAGE="ru"
    ).content.decode()
    assert ">30 дней<" in cell(russian, "days_left")


def test_subscription_page_shows_traffic_in_gib_not_bytes(as_superuser):
    subscription = SubscriptionFactory()
    Subscription.objects.filter(pk=subscription.pk).update(
        traffic_used_bytes=2970135690, status=SubscriptionStatus.SUSPENDED
    )
    url = reverse("admin:subscriptions_subscription_change", args=[subscription.pk])
    html = as_superuser.get(url).content.decode()
    assert "2.8 GiB" in html
    assert "2970135690" not in html
    assert "Suspended" in html
    assert ORANGE in html
    russian = as_superuser.get(url, HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "2,8\xa0ГБ" in russian or "2,8 ГБ" in russian


def test_payment_list_money_and_status_badges(as_superuser):
    PaymentFactory(
        amount=Decimal("299.00"),
        currency="RUB",
        status=PaymentStatus.PAID,
        paid_at=timezone.now() - timedelta(minutes=5),
    )
    PaymentFactory(amount=Decimal("50"), currency="XTR", status=PaymentStatus.REFUNDED)
    html = as_superuser.get(reverse("admin:billing_payment_changelist")).content.decode()
    assert "299\xa0₽" in html
    assert "50\xa0⭐" in html
    assert "Paid" in html
    assert GREEN in html
    assert "Refunded" in html
    assert ORANGE in html
    assert "minutes ago" in html


def test_customer_page_inlines_show_badges_money_and_days_left(as_superuser):
    subscription = SubscriptionFactory(expires_at=timezone.now() + timedelta(days=10, hours=1))
    PaymentFactory(
        subscription=subscription,
        amount=Decimal("299.00"),
        status=PaymentStatus.PAID,
        paid_at=timezone.now(),
    )
    url = reverse("admin:accounts_customer_change", args=[subscription.customer_id])
    html = as_superuser.get(url).content.decode()
    assert "299\xa0₽" in html
    assert ">10 days<" in html
    assert html.count(GREEN) >= 3  # the customer's state, the subscription's, the payment's
