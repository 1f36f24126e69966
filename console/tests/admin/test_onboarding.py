"""The dashboard's onboarding checklist and secrets panel (console/onboarding.py): each step's
state and link on an empty and on a filled system, the bot token checked with ``getMe``
against the Bot API double (cached, short timeout), secrets shown as set or not, never their
values, and a checklist that costs two queries."""

import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import FREEKASSA, ROBOKASSA
from console.onboarding import bot_check, onboarding_steps
from core.runtime_settings import runtime_settings
from nodes.models import NodeHealth
from nodes.tests.factories import NodeFactory
from subscriptions.tests.factories import TariffFactory
from tests.doubles.telegram_api import TelegramApiDouble

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")
STEPS = ["bot", "node", "tariff", "provider", "support", "purchase"]


@pytest.fixture
def telegram(settings):
    with TelegramApiDouble(token=settings.TELEGRAM_BOT_TOKEN) as api:
        settings.TELEGRAM_API_BASE_URL = api.base_url
        yield api


def states(page: str) -> dict[str, bool]:
    found = dict(re.findall(r'id="onboarding-(\w+)" data-done="(true|false)"', page))
    return {key: value == "true" for key, value in found.items()}


def step_html(page: str, key: str) -> str:
    start = page.index(f'id="onboarding-{key}"')
    return page[start : page.index("</li>", start)]


def fill(settings, runtime_setting) -> None:
    """Everything a running shop has."""
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA, "freekassa": FREEKASSA}
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    runtime_setting("SUPPORT_CONTACT", "@shop_help")
    NodeFactory(name="fra-1", health=NodeHealth.UP)
    tariff = TariffFactory(name="Month", price=Decimal("299.00"))
    PaymentFactory(
        tariff=tariff, status=PaymentStatus.PAID, paid_at=timezone.now(), amount=Decimal("299.00")
    )


def test_an_empty_system_shows_every_step_to_do_with_its_link(as_superuser, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="onboarding"' in page
    assert states(page) == dict.fromkeys(STEPS, False)
    assert "TELEGRAM_BOT_TOKEN is not set" in step_html(page, "bot")
    assert f'href="{reverse("admin:nodes_node_add")}"' in step_html(page, "node")
    assert f'href="{reverse("admin:subscriptions_tariff_add")}"' in step_html(page, "tariff")
    assert 'href="#secrets"' in step_html(page, "provider")
    assert f'href="{reverse("admin:constance_config_changelist")}"' in step_html(page, "support")
    assert f'href="{reverse("admin:billing_payment_changelist")}"' in step_html(page, "purchase")
    assert "Getting started: 6 steps left" in page


def test_the_checklist_speaks_russian_to_a_russian_browser(as_superuser, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Первые шаги: осталось 6 шагов" in page
    assert "Добавлен рабочий узел" in step_html(page, "node")
    assert "TELEGRAM_BOT_TOKEN не задан." in step_html(page, "bot")
    assert "Секреты (окружение): заданы или нет, без значений" in page


def test_a_filled_system_hides_the_checklist(as_superuser, settings, runtime_setting, telegram):
    fill(settings, runtime_setting)
    page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="onboarding"' not in page
    assert 'id="secrets"' in page  # still there, folded
    assert '<details class="module" id="secrets">' in page


def test_a_half_configured_system_shows_what_is_done(
    as_superuser, settings, runtime_setting, telegram
):
    runtime_setting("SUPPORT_CONTACT", "@shop_help")
    NodeFactory(name="fra-1", health=NodeHealth.DOWN)
    TariffFactory(name="Trial", is_trial=True, price=0)  # a trial is not a tariff on sale
    page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert states(page) == {
        "bot": True,
        "node": False,
        "tariff": False,
        "provider": False,
        "support": True,
        "purchase": False,
    }
    assert "@vpnsite_test_bot" in step_html(page, "bot")
    assert "none up" in step_html(page, "node")
    assert f'href="{reverse("admin:nodes_node_changelist")}"' in step_html(page, "node")
    assert "@shop_help" in step_html(page, "support")


def test_a_refused_token_is_a_step_to_do_with_telegrams_answer(as_superuser, settings):
    with TelegramApiDouble(token="999:another-bots-token") as api:
        settings.TELEGRAM_API_BASE_URL = api.base_url
        page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert states(page)["bot"] is False
    assert "401 Unauthorized" in step_html(page, "bot")
    assert settings.TELEGRAM_BOT_TOKEN not in page


def test_getme_is_asked_once_and_cached_per_token(settings, telegram):
    assert bot_check().ok
    assert bot_check().ok
    assert len(telegram.calls_to("getMe")) == 1
    settings.TELEGRAM_BOT_TOKEN = "777:a-new-token"  # a new token is checked afresh
    assert not bot_check().ok
    assert len(telegram.calls) == 2


def test_a_silent_telegram_never_holds_the_page_for_long(as_superuser, settings):
    """A Bot API that accepts the connection and never answers: the page still comes back
    within the check's timeout, and the failure is cached (the next page does not wait)."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    settings.TELEGRAM_API_BASE_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        started = time.monotonic()
        page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        first = time.monotonic() - started
        started = time.monotonic()
        as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en")
        second = time.monotonic() - started
    finally:
        silent.close()
    assert states(page)["bot"] is False
    assert first < 5
    assert second < 1.5


def test_secrets_show_whether_each_is_set_never_a_value(as_superuser, settings, telegram):
    settings.ROBOKASSA_LOGIN = "shop-login"
    settings.ROBOKASSA_PASSWORD1 = "robo-secret-one"
    settings.ROBOKASSA_PASSWORD2 = "robo-secret-two"
    settings.FREEKASSA_MERCHANT_ID = "12345"
    settings.FREEKASSA_SECRET1 = "fk-secret-one"
    settings.FREEKASSA_SECRET2 = ""
    page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    secrets = page[
        page.index('id="secrets"') : page.index("</details>", page.index('id="secrets"'))
    ]
    for value in (
        "robo-secret-one",
        "robo-secret-two",
        "fk-secret-one",
        "shop-login",
        settings.TELEGRAM_BOT_TOKEN,
        settings.SECRET_KEY,
    ):
        assert value not in page
    rows = re.findall(
        r"<tr id=\"secret-\d+\"><td><code>([^<]+)</code></td><td>[^<]*</td><td>(.*?)</td></tr>",
        secrets,
    )
    state = dict(rows)
    assert 'class="set"' in state["TELEGRAM_BOT_TOKEN"]
    assert 'class="set"' in state["ROBOKASSA_LOGIN, ROBOKASSA_PASSWORD1, ROBOKASSA_PASSWORD2"]
    freekassa = state["FREEKASSA_MERCHANT_ID, FREEKASSA_SECRET1, FREEKASSA_SECRET2"]
    assert 'class="unset"' in freekassa
    assert "partly set" in freekassa


def test_a_step_still_to_do_is_asked_again_on_every_page(as_superuser, settings, telegram):
    page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert states(page)["tariff"] is False
    TariffFactory(name="Month")
    page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert states(page)["tariff"] is True


def test_the_checklist_costs_two_queries(as_superuser, settings, runtime_setting, telegram):
    """A tariff on sale, a credited payment: the nodes are the dashboard's rows, the rest
    settings, the cached getMe answer and the cached runtime settings. The dashboard stays
    within the console's budget."""
    fill(settings, runtime_setting)
    runtime_settings()
    bot_check()
    with CaptureQueriesContext(connection) as captured:
        steps = onboarding_steps(nodes=[])
    assert len(captured.captured_queries) == 2
    assert [step.key for step in steps] == STEPS
    with CaptureQueriesContext(connection) as captured:
        onboarding_steps(nodes=[])
    assert captured.captured_queries == []  # both done: kept in the cache
    as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en")  # warm the session
    with CaptureQueriesContext(connection) as captured:
        as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en")
    assert len(captured.captured_queries) <= 15


def test_the_bot_step_links_to_the_bot_for_a_test_purchase(
    as_superuser, settings, telegram, runtime_setting
):
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'href="https://t.me/vpnsite_bot"' in step_html(page, "purchase")
    PaymentFactory(status=PaymentStatus.REFUNDED, paid_at=timezone.now() - timedelta(days=40))
    page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert states(page)["purchase"] is True  # a refunded payment was credited once


def test_telegram_stars_count_as_a_provider_only_once_a_tariff_has_a_stars_price(
    as_superuser, settings
):
    """Stars need no credentials and are on by default; the bot offers them only for a
    tariff with a Stars price, so until one has it no customer can pay."""
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.BILLING_PROVIDERS = {"stars": ("billing.providers.stars.StarsProvider", {})}
    tariff = TariffFactory(name="Month", price=Decimal("299.00"))
    page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert states(page)["provider"] is False
    assert "YOOKASSA_*" in step_html(page, "provider")

    tariff.price_stars = 150
    tariff.save()
    page = as_superuser.get(INDEX, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert states(page)["provider"] is True
    assert "stars" in step_html(page, "provider")
