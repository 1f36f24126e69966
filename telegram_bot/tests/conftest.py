"""The bot against the local Bot API double: build the real Application, feed it updates."""

from collections.abc import Iterator
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from telegram import Update

from accounts.tests.factories import CustomerFactory
from billing.tests.helpers import FREEKASSA, ROBOKASSA
from nodes.models import NodeHealth
from nodes.tests.factories import REALITY_INBOUND, NodeClientFactory, NodeFactory
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory
from telegram_bot.bot.application import build_application
from tests.doubles.telegram_api import ApiCall, TelegramApiDouble

USER_ID = 5550001

# The main menu without a free trial on offer (no TRIAL_TARIFF_ID).
MENU_RU = [
    ("🛒 Купить", "buy"),
    ("📋 Мои подписки", "subs"),
    ("💰 Баланс", "bal"),
    ("❓ Помощь", "help"),
    ("🌐 Язык", "lang"),
    ("✉️ Написать в поддержку", "https://t.me/vpn_support"),
]
MENU_EN = [
    ("🛒 Buy", "buy"),
    ("📋 My subscriptions", "subs"),
    ("💰 Balance", "bal"),
    ("❓ Help", "help"),
    ("🌐 Language", "lang"),
    ("✉️ Contact support", "https://t.me/vpn_support"),
]


@pytest.fixture
def telegram_api(runtime_setting, settings) -> Iterator[TelegramApiDouble]:
    """A Bot API double on a free loopback port, which the bot and the outbox both use."""
    with TelegramApiDouble(token=settings.TELEGRAM_BOT_TOKEN) as api:
        settings.TELEGRAM_API_BASE_URL = api.base_url
        runtime_setting("SUPPORT_CONTACT", "@vpn_support")
        yield api


class BotDriver:
    """Runs updates through `build_application()` exactly as the poller would dispatch them.

    The event loop runs under `async_to_sync`, so the handlers' `sync_to_async` services
    execute on the test's own thread and inside its transaction (plain `django_db` works).
    """

    def __init__(self, api: TelegramApiDouble):
        self.api = api

    def process(self, *updates: dict) -> None:
        async def scenario() -> None:
            application = build_application()
            async with application:  # initialize (getMe) ... shutdown
                for data in updates:
                    await application.process_update(Update.de_json(data, application.bot))

        async_to_sync(scenario)()

    def post_init(self) -> None:
        async def scenario() -> None:
            application = build_application()
            async with application:
                await application.post_init(application)

        async_to_sync(scenario)()

    # Shortcuts: send something as a user, get what the bot did.
    def message(self, text: str | None = None, *, user_id: int = USER_ID, **kwargs) -> None:
        self.process(self.api.message_update(user_id=user_id, text=text, **kwargs))

    def press(self, data: str, *, user_id: int = USER_ID, **kwargs) -> dict:
        update = self.api.callback_update(user_id=user_id, data=data, **kwargs)
        self.process(update)
        return update

    def replies(self, chat_id: int = USER_ID) -> list[dict]:
        return self.api.sent_messages(chat_id)

    def last_reply(self, chat_id: int = USER_ID) -> dict:
        replies = self.replies(chat_id)
        assert replies, f"the bot sent nothing to {chat_id}; calls: {self.methods()}"
        return replies[-1]

    def calls(self, method: str) -> list[ApiCall]:
        return self.api.calls_to(method)

    def methods(self) -> list[str]:
        """The Bot API methods called, in order, without the bootstrap getMe."""
        return [c.method for c in self.api.calls if c.method != "getMe"]


@pytest.fixture
def bot(telegram_api) -> BotDriver:
    return BotDriver(telegram_api)


@pytest.fixture
def customer_en(db):
    """The test user, who chose English."""
    return CustomerFactory(telegram_id=USER_ID, language="en", language_chosen=True)


def edit(bot, index=-1) -> dict:
    """The parameters of the bot's last (or `index`-th) editMessageText."""
    return bot.calls("editMessageText")[index].params


def buttons(markup: dict | None) -> list[tuple[str, str]]:
    """(text, callback_data or url) of every button of an inline keyboard, row by row."""
    return [
        (b["text"], b.get("callback_data") or b.get("url", ""))
        for row in (markup or {}).get("inline_keyboard", [])
        for b in row
    ]


@pytest.fixture
def providers(settings):
    """Robokassa and FreeKassa configured (made-up credentials), links valid for a day."""
    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA, "freekassa": FREEKASSA}
    settings.PAYMENT_PENDING_TTL_MINUTES = 24 * 60
    return settings.BILLING_PROVIDERS


@pytest.fixture
def tariffs(db):
    """What is on sale: two periods with the same limits and one with more devices."""
    return {
        "month": TariffFactory(
            name="Месяц", name_en="Month", duration_days=30, price=Decimal("299"), sort_order=1
        ),
        "year": TariffFactory(
            name="Год", name_en="Year", duration_days=365, price=Decimal("2990"), sort_order=2
        ),
        "family": TariffFactory(
            name="Семья",
            name_en="Family",
            duration_days=30,
            price=Decimal("499.50"),
            device_limit=5,
            traffic_limit_gb=500,
            sort_order=3,
        ),
        # Never offered: off sale, and the trial.
        "old": TariffFactory(name="Старый", is_active=False),
    }


@pytest.fixture
def trial_tariff(runtime_setting, db, settings):
    tariff = TariffFactory(
        name="Пробный", name_en="Trial", duration_days=3, price=Decimal("0"), is_trial=True
    )
    runtime_setting("TRIAL_TARIFF", tariff.pk)
    return tariff


@pytest.fixture
def node(db):
    return NodeFactory(
        name="de-1",
        country="DE",
        location="Франкфурт",
        health=NodeHealth.UP,
        inbound_cache=REALITY_INBOUND,
    )


def subscription_for(customer, tariff, node=None, **kwargs):
    """A subscription of `customer` on `tariff`, with a live key on `node` when given."""
    subscription = SubscriptionFactory(customer=customer, tariff=tariff, **kwargs)
    if node is not None:
        NodeClientFactory(subscription=subscription, node=node, sync_state="synced")
    return subscription
