"""The dashboard: figures against known data, links that open the filtered changelists,
and a constant number of queries whatever the size of the tables."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory, UserFactory
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from console.selectors import dashboard_get
from core.runtime_settings import runtime_settings
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
# 15:00 in Moscow; "today" began at 00:00 Moscow = 21:00 UTC the day before.
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=MSK)


def at(day_offset: int, hour: int = 12, minute: int = 0) -> datetime:
    """A moment `day_offset` calendar days before NOW's day, Moscow time."""
    return datetime(2026, 3, 10, hour, minute, tzinfo=MSK) - timedelta(days=day_offset)


def paid(amount: str, when: datetime, **kwargs):
    return PaymentFactory(amount=Decimal(amount), status=PaymentStatus.PAID, paid_at=when, **kwargs)


@pytest.fixture
def known_data(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    settings.PAYMENT_CURRENCY = "RUB"
    # Customers: 2 today (one just after local midnight), 1 five days ago, 1 twenty days
    # ago, 1 forty days ago.
    for moment in (at(0, 0, 5), at(0, 14), at(5), at(20), at(40)):
        Customer.objects.filter(pk=CustomerFactory().pk).update(created_at=moment)
    tariff = TariffFactory()
    # Revenue: today 100 + 50.50, day -3: 200, day -15: 1000, day -31 (outside): 5000;
    # yesterday 23:59 Moscow must not count as today. Refunded and pending never count.
    paid("100.00", at(0, 0, 1), tariff=tariff)
    paid("50.50", at(0, 14), tariff=tariff, provider="freekassa")
    paid("7.00", at(1, 23, 59), tariff=tariff)
    paid("200.00", at(3), tariff=tariff)
    paid("1000.00", at(15), tariff=tariff)
    paid("5000.00", at(31), tariff=tariff)
    paid("9.99", at(0, 10), tariff=tariff, currency="USD")
    PaymentFactory(amount=Decimal("300"), status=PaymentStatus.REFUNDED, paid_at=at(0, 9))
    PaymentFactory(amount=Decimal("400"), status=PaymentStatus.PENDING)
    # Subscriptions: 2 running (one ends in 2 days), 1 ended 10 days ago, 1 cancelled.
    SubscriptionFactory(started_at=at(10), expires_at=NOW + timedelta(days=20))
    soon = SubscriptionFactory(started_at=at(2), expires_at=NOW + timedelta(days=2))
    SubscriptionFactory(started_at=at(40), expires_at=at(10), status=SubscriptionStatus.EXPIRED)
    SubscriptionFactory(
        started_at=at(5), expires_at=NOW + timedelta(days=9), status=SubscriptionStatus.CANCELLED
    )
    # Nodes: one up with 2 keys (one in error), one down with a stuck pending key.
    up = NodeFactory(name="a-up", health=NodeHealth.UP, latency_ms=42, max_clients=100)
    down = NodeFactory(name="b-down", health=NodeHealth.DOWN, last_error="timeout")
    NodeClientFactory(subscription=soon, node=up)
    errored = NodeClientFactory(node=up)
    NodeClient.objects.filter(pk=errored.pk).update(sync_state=SyncState.ERROR)
    stuck = NodeClientFactory(node=down)
    NodeClient.objects.filter(pk=stuck.pk).update(
        sync_state=SyncState.PENDING, updated_at=NOW - timedelta(minutes=30)
    )
    fresh = NodeClientFactory(node=down)
    NodeClient.objects.filter(pk=fresh.pk).update(
        sync_state=SyncState.PENDING, updated_at=NOW - timedelta(minutes=2)
    )
    return {"soon": soon, "up": up, "down": down}


def test_figures_from_known_data(known_data):
    dash = dashboard_get(now=NOW)
    assert dash.customers_new == {"today": 2, "7d": 3, "30d": 4}
    # The node-client factory makes subscriptions too (3 more, all running).
    assert dash.subscriptions_active == 2 + 3
    assert dash.subscriptions_expiring == 1
    assert [s.pk for s in dash.expiring] == [known_data["soon"].pk]
    assert dash.revenue["RUB"] == {
        "today": Decimal("150.50"),
        "7d": Decimal("357.50"),
        "30d": Decimal("1357.50"),
    }
    assert dash.revenue["USD"]["today"] == Decimal("9.99")
    assert dash.payments_paid == {"today": 2, "7d": 4, "30d": 5}
    chart = {point.day.isoformat(): point.value for point in dash.revenue_chart}
    assert len(chart) == 30
    assert chart["2026-03-10"] == Decimal("150.50")
    assert chart["2026-03-09"] == Decimal("7.00")
    assert chart["2026-02-23"] == Decimal("1000.00")
    assert sum(chart.values()) == Decimal("1357.50")
    assert all(isinstance(value, Decimal) for value in chart.values())
    active = {point.day.isoformat(): point.value for point in dash.active_chart}
    # The chart counts what had started by then: the factory's subscriptions start at the
    # real now, after NOW, so only the two of the fixture are running today.
    assert active["2026-03-10"] == 2
    # 11 days ago only the one that ended 10 days ago was running.
    assert active["2026-02-27"] == 1
    by_provider = {(p, s): (n, a) for p, s, n, a in dash.payments_by_provider}
    assert by_provider[("freekassa", "paid")] == (1, Decimal("50.50"))
    assert by_provider[("robokassa", "pending")] == (1, Decimal("400.00"))
    nodes = {row.node.name: row for row in dash.nodes}
    assert (nodes["a-up"].load, nodes["a-up"].errors, nodes["a-up"].stuck) == (2, 1, 0)
    assert (nodes["b-down"].load, nodes["b-down"].errors, nodes["b-down"].stuck) == (2, 0, 1)
    assert (dash.keys_error, dash.keys_stuck) == (1, 1)


def test_the_page_shows_the_figures_and_links_to_their_changelists(as_superuser, known_data):
    response = as_superuser.get(reverse("admin:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="console-dashboard"' in html
    assert "a-up" in html
    assert "b-down" in html
    assert "42 ms" in html
    assert "timeout" in html
    assert html.count("<svg") >= 2
    assert 'class="bar"' in html
    assert "<polyline" in html
    # The app list is still there below the dashboard.
    assert reverse("admin:accounts_customer_changelist") in html

    links = set(re.findall(r'href="(/admin/[^"]+\?[^"]+)"', html))
    assert links
    for link in links:
        target = as_superuser.get(link.replace("&amp;", "&"))
        assert target.status_code == 200, link
        assert "?e=1" not in target.get("Location", ""), link


def test_expiring_link_lists_exactly_the_expiring_subscriptions(as_superuser):
    soon = SubscriptionFactory(expires_at=timezone.now() + timedelta(days=1))
    SubscriptionFactory()
    html = as_superuser.get(reverse("admin:index")).content.decode()
    link = re.search(r'id="figure-expiring">.*?href="([^"]+)"', html, re.S)[1]
    listing = as_superuser.get(link.replace("&amp;", "&"))
    assert [s.pk for s in listing.context["cl"].result_list] == [soon.pk]


def test_revenue_link_lists_the_paid_payments(as_superuser):
    payment = paid("10.00", timezone.now())
    PaymentFactory(status=PaymentStatus.PENDING)
    html = as_superuser.get(reverse("admin:index")).content.decode()
    link = re.search(r'id="figure-period-30d">.*?href="([^"]+)"', html, re.S)[1]
    listing = as_superuser.get(link.replace("&amp;", "&"))
    assert [p.pk for p in listing.context["cl"].result_list] == [payment.pk]


def _fill(n: int) -> None:
    node = NodeFactory(health=NodeHealth.UP)
    for _ in range(n):
        subscription = SubscriptionFactory(expires_at=timezone.now() + timedelta(days=2))
        NodeClientFactory(subscription=subscription, node=node)
        paid("99.00", timezone.now(), customer=subscription.customer)
        PaymentFactory(customer=subscription.customer, provider="freekassa")
    NodeFactory(health=NodeHealth.DOWN)


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:index")).status_code == 200
    return len(queries.captured_queries)


def test_dashboard_queries_do_not_grow_with_the_data(as_superuser, django_assert_max_num_queries):
    runtime_settings()  # warm, as in a running server
    _fill(5)
    as_superuser.get(reverse("admin:index"))  # warm: the checklist's cached answers too
    small = _queries(as_superuser)
    _fill(45)
    with django_assert_max_num_queries(15):
        as_superuser.get(reverse("admin:index"))
    assert _queries(as_superuser) == small


def test_support_sees_the_dashboard_and_a_user_without_view_rights_does_not(
    client, support_user, db
):
    from accounts.models import User

    client.force_login(support_user)
    assert b'id="console-dashboard"' in client.get(reverse("admin:index")).content
    bare = User.objects.create_user("bare", "b@example.com", "pw-123-long", is_staff=True)
    client.force_login(bare)
    assert b'id="console-dashboard"' not in client.get(reverse("admin:index")).content


def test_view_site_opens_the_bot_never_a_404(as_superuser, settings):
    """The admin's "View site" link: the bot when its username is set, else no link (the
    site has no front page: "/" answers 404)."""
    settings.TELEGRAM_BOT_USERNAME = "@vpnsite_bot"
    page = as_superuser.get(reverse("admin:index")).content.decode()
    assert re.search(r'<a href="https://t\.me/vpnsite_bot"[\s>]', page)
    assert not re.search(r'<a href="/"[\s>]', page)

    settings.TELEGRAM_BOT_USERNAME = ""
    response = as_superuser.get(reverse("admin:index"))
    assert not response.context["site_url"]
    assert not re.search(r'<a href="/"[\s>]', response.content.decode())


def test_the_dashboard_drops_unfolds_app_list_which_repeats_the_sidebar(as_superuser):
    html = as_superuser.get(reverse("admin:index")).content.decode()
    assert 'id="console-dashboard"' in html
    assert "Models in the" not in html  # unfold's app list (its links' titles)
    assert 'class="app-accounts module' not in html


def test_a_staff_member_without_the_dashboard_keeps_the_app_list(client, db):
    user = UserFactory(username="tariffs-only")
    user.user_permissions.add(Permission.objects.get(codename="view_tariff"))
    client.force_login(user)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="console-dashboard"' not in html
    assert 'class="app-subscriptions module' in html
