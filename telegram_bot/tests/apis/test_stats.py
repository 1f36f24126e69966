"""/stats: the admins' summary from one aggregated selector."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from nodes.models import NodeHealth
from nodes.tests.factories import NodeFactory
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory
from telegram_bot.selectors import bot_stats_get

pytestmark = pytest.mark.django_db

ADMIN_ID = 900001


@pytest.fixture
def world():
    now = timezone.now()
    long_ago = now - timedelta(days=90)
    old = CustomerFactory(created_at=long_ago)
    CustomerFactory(created_at=long_ago)
    CustomerFactory()  # new today
    SubscriptionFactory(customer=old)
    SubscriptionFactory(customer=old, status=SubscriptionStatus.EXPIRED)
    SubscriptionFactory(  # not yet swept by the expiry job: not active any more
        customer=old, started_at=now - timedelta(days=40), expires_at=now - timedelta(days=1)
    )
    NodeFactory(health=NodeHealth.UP)
    NodeFactory(health=NodeHealth.UP)
    NodeFactory(health=NodeHealth.DOWN)
    NodeFactory(health=NodeHealth.DEGRADED)
    NodeFactory(health=NodeHealth.UP, is_enabled=False)

    def paid(amount, when, currency="RUB", status=PaymentStatus.PAID):
        return PaymentFactory(
            customer=old, amount=Decimal(amount), currency=currency, status=status, paid_at=when
        )

    paid("100.50", now)
    paid("200.00", now - timedelta(minutes=1))
    paid("10.00", now, currency="USD")
    paid("1000.00", now - timedelta(days=10))
    paid("5000.00", now - timedelta(days=40))  # outside 30 days
    paid("777.00", now, status=PaymentStatus.REFUNDED)
    PaymentFactory(customer=old, amount=Decimal("999"), status=PaymentStatus.PENDING)
    return now


def test_selector_counts_and_sums(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        stats = bot_stats_get(now=world)
    assert (stats.customers_total, stats.customers_new_today) == (3, 1)
    assert stats.subscriptions_active == 1
    assert (stats.nodes_up, stats.nodes_degraded, stats.nodes_down, stats.nodes_unknown) == (
        2,
        1,
        1,
        0,
    )
    assert stats.nodes_disabled == 1
    assert stats.revenue_today == {"RUB": Decimal("300.50"), "USD": Decimal("10.00")}
    assert stats.revenue_30d == {"RUB": Decimal("1300.50"), "USD": Decimal("10.00")}


def test_selector_on_an_empty_database():
    stats = bot_stats_get()
    assert stats.customers_total == 0
    assert stats.revenue_today == {}
    assert stats.revenue_30d == {}


def test_admin_gets_stats(bot, world):
    CustomerFactory(
        telegram_id=ADMIN_ID,
        language="en",
        language_chosen=True,
        created_at=world - timedelta(days=90),
    )
    bot.message("/stats", user_id=ADMIN_ID)
    text = bot.last_reply(ADMIN_ID)["text"]
    assert text.startswith("<b>📊 Statistics</b>")
    assert "Customers: 4 (new today: 1)" in text
    assert "Active subscriptions: 1" in text
    assert "up 2 · degraded 1 · down 1 · unknown 0 · disabled 1" in text
    assert "Revenue today: 300.50\xa0₽ + $10" in text
    assert "Revenue in 30 days: 1,300.50\xa0₽ + $10" in text


def test_admin_stats_in_russian(bot):
    bot.message("/stats", user_id=ADMIN_ID, language_code="ru")
    text = bot.last_reply(ADMIN_ID)["text"]
    assert text.startswith("<b>📊 Статистика</b>")
    assert "Выручка сегодня: 0" in text


def test_non_admin_gets_the_fallback(bot, world):
    bot.message("/stats", language_code="en")
    text = bot.last_reply()["text"]
    assert text == "I did not understand that. Please use the menu below:"


def test_admin_group_chat_gets_stats(bot, settings):
    settings.TELEGRAM_ADMIN_CHAT_IDS = [-100777]
    bot.message("/stats", user_id=ADMIN_ID, chat_id=-100777, language_code="en")
    assert bot.last_reply(-100777)["text"].startswith("<b>📊 Statistics</b>")
