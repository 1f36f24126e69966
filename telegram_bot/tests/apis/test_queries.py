"""Database work per update stays small: the bench's targets, kept by tests.

Counted are data statements; transaction control (BEGIN, COMMIT, SAVEPOINT, RELEASE) is
left out: inside a test's transaction every outermost ``atomic`` becomes a SAVEPOINT pair
that production does not run, and SQLite logs its BEGIN while PostgreSQL does not.
"""

import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import CustomerFactory
from core.runtime_settings import runtime_settings
from telegram_bot.tests.conftest import USER_ID, subscription_for

pytestmark = pytest.mark.django_db

TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)


def data_queries(context: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in context.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])]


@pytest.fixture
def world(providers, tariffs, trial_tariff, node):
    customer = CustomerFactory(telegram_id=USER_ID, language="en", language_chosen=True)
    subscription_for(customer, tariffs["month"], node)
    return trial_tariff


@pytest.mark.parametrize(
    ("update", "most"),
    [
        ("/start", 2),
        ("menu", 2),
        ("help", 2),
        ("lang", 2),
        ("buy", 4),  # + tariffs, + the running subscription to renew
        ("subs", 4),  # + subscriptions, + their keys and nodes
        ("/subscriptions", 4),
    ],
)
def test_queries_per_update(bot, world, update, most):
    bot.message("/start")  # warms the trial-offer cache, as in any running bot
    assert cache.get(f"bot:trial-offered:{world.pk}") is True
    with CaptureQueriesContext(connection) as context:
        if update.startswith("/"):
            bot.message(update)
        else:
            bot.press(update)
    assert len(data_queries(context)) <= most, data_queries(context)


def test_a_new_users_start(bot):
    runtime_settings()  # warm, as in any running bot (read once per update from the cache)
    with CaptureQueriesContext(connection) as context:
        bot.message("/start")
    # Lock-or-create the customer (select, referral-code uniqueness, insert) + trial offer.
    assert len(data_queries(context)) <= 4, data_queries(context)
