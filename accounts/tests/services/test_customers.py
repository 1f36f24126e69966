"""Customer registration from Telegram, language choice and the bot-blocked flag."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Customer, Language
from accounts.selectors import customer_get_by_telegram_id
from accounts.services import (
    customer_bot_blocked_set,
    customer_language_set,
    customer_register_or_update,
    language_from_telegram,
)
from accounts.tests.factories import CustomerFactory
from core.exceptions import ApplicationError

pytestmark = pytest.mark.django_db


def register(telegram_id: int = 7001, **overrides):
    fields = {
        "telegram_id": telegram_id,
        "username": "ann",
        "first_name": "Ann",
        "last_name": "Lee",
        "language_code": "ru",
    }
    fields.update(overrides)
    return customer_register_or_update(**fields)


@pytest.mark.parametrize(
    ("language_code", "expected"),
    [
        ("ru", "ru"),
        ("uk", "ru"),
        ("be", "ru"),
        ("kk", "ru"),
        ("ru-RU", "ru"),
        ("UK_ua", "ru"),
        ("en", "en"),
        ("en-US", "en"),
        ("de", "en"),
        ("pt-br", "en"),
        (None, "ru"),
        ("", "ru"),
        ("  ", "ru"),
    ],
)
def test_language_from_telegram(language_code, expected):
    assert language_from_telegram(language_code=language_code) == expected


def test_register_creates_customer_with_profile_and_language():
    now = timezone.now()
    customer, created = register(language_code="en-GB", username="@ann", now=now)
    assert created is True
    customer.refresh_from_db()
    assert (customer.telegram_id, customer.username, customer.first_name, customer.last_name) == (
        7001,
        "ann",
        "Ann",
        "Lee",
    )
    assert customer.language == Language.EN
    assert customer.language_chosen is False
    assert customer.last_seen_at == now
    assert customer.referral_code


def test_register_again_updates_profile_and_last_seen():
    customer, _ = register()
    later = timezone.now() + timedelta(hours=1)
    again, created = register(
        username="ann_new", first_name="Anna", last_name=None, language_code="de", now=later
    )
    assert created is False
    assert again.pk == customer.pk
    again.refresh_from_db()
    assert (again.username, again.first_name, again.last_name) == ("ann_new", "Anna", "")
    assert again.language == Language.EN  # Telegram's language followed: none chosen yet
    assert again.last_seen_at == later
    assert Customer.objects.count() == 1


def test_register_keeps_a_chosen_language():
    customer, _ = register(language_code="ru")
    customer_language_set(customer=customer, language=Language.EN)
    again, _ = register(language_code="ru")
    again.refresh_from_db()
    assert (again.language, again.language_chosen) == (Language.EN, True)


def test_register_clears_bot_blocked():
    customer = CustomerFactory(telegram_id=7001, bot_blocked_at=timezone.now())
    register()
    customer.refresh_from_db()
    assert customer.bot_blocked_at is None


def test_register_clips_overlong_names():
    customer, _ = register(first_name="A" * 500, username="u" * 100)
    customer.refresh_from_db()
    assert len(customer.first_name) == 128
    assert len(customer.username) == 64


def test_register_rejects_a_non_positive_id():
    with pytest.raises(ApplicationError):
        register(telegram_id=0)


def test_referral_recorded_at_creation():
    referrer = CustomerFactory()
    customer, created = register(referral_code=referrer.referral_code)
    assert created
    assert customer.referred_by == referrer


def test_referral_never_changes_after_creation():
    first, second = CustomerFactory(), CustomerFactory()
    register(referral_code=first.referral_code)
    customer, created = register(referral_code=second.referral_code)
    assert not created
    customer.refresh_from_db()
    assert customer.referred_by == first


def test_referral_not_recorded_for_an_existing_customer():
    referrer = CustomerFactory()
    register()
    customer, _ = register(referral_code=referrer.referral_code)
    customer.refresh_from_db()
    assert customer.referred_by is None


@pytest.mark.parametrize("code", ["nope", "", "   ", "x" * 200, None])
def test_unknown_referral_code_ignored(code):
    customer, created = register(referral_code=code)
    assert created
    assert customer.referred_by is None


def test_self_referral_ignored():
    customer, _ = register()
    again, _ = register(referral_code=customer.referral_code)
    again.refresh_from_db()
    assert again.referred_by is None


def test_register_two_customers_separately():
    register(telegram_id=1)
    register(telegram_id=2)
    assert set(Customer.objects.values_list("telegram_id", flat=True)) == {1, 2}


def test_language_set_persists_and_marks_chosen():
    customer = CustomerFactory(language="ru")
    updated = customer_language_set(customer=customer, language="en")
    customer.refresh_from_db()
    assert (customer.language, customer.language_chosen) == ("en", True)
    assert updated.language == "en"


def test_language_set_rejects_unknown_language():
    customer = CustomerFactory(language="ru")
    with pytest.raises(ApplicationError):
        customer_language_set(customer=customer, language="de")
    customer.refresh_from_db()
    assert (customer.language, customer.language_chosen) == ("ru", False)


def test_bot_blocked_set_and_cleared():
    customer = CustomerFactory()
    now = timezone.now()
    assert customer_bot_blocked_set(telegram_id=customer.telegram_id, blocked=True, now=now)
    assert not customer_bot_blocked_set(telegram_id=customer.telegram_id, blocked=True)
    customer.refresh_from_db()
    assert customer.bot_blocked_at == now
    assert customer_bot_blocked_set(telegram_id=customer.telegram_id, blocked=False)
    customer.refresh_from_db()
    assert customer.bot_blocked_at is None
    assert not customer_bot_blocked_set(telegram_id=999999999, blocked=True)


def test_customer_get_by_telegram_id():
    customer = CustomerFactory()
    assert customer_get_by_telegram_id(telegram_id=customer.telegram_id) == customer
    assert customer_get_by_telegram_id(telegram_id=424242) is None


def test_register_is_two_queries_for_a_returning_customer(django_assert_max_num_queries):
    register()
    # SELECT ... FOR UPDATE + UPDATE (plus savepoint bookkeeping on some backends).
    with django_assert_max_num_queries(4):
        register(first_name="Changed")


def test_referral_cycle_refused():
    """A invited B: A (again) with B's code changes nothing; and whoever is up the chain of a
    code's owner can never be recorded as invited by it (a cycle)."""
    from accounts.services import _referrer_find

    a = CustomerFactory(telegram_id=8001)
    b = CustomerFactory(telegram_id=8002, referred_by=a)
    c = CustomerFactory(telegram_id=8003, referred_by=b)
    assert _referrer_find(referral_code=b.referral_code, telegram_id=a.telegram_id) is None
    assert _referrer_find(referral_code=c.referral_code, telegram_id=a.telegram_id) is None
    assert _referrer_find(referral_code=c.referral_code, telegram_id=8004) == c
    again, created = register(telegram_id=a.telegram_id, referral_code=c.referral_code)
    assert not created
    again.refresh_from_db()
    assert again.referred_by is None


def test_referral_chain_longer_than_the_limit_refused():
    from accounts.services import REFERRAL_CHAIN_DEPTH, _referrer_find

    inviter = None
    for _ in range(REFERRAL_CHAIN_DEPTH):
        inviter = CustomerFactory(referred_by=inviter)
    assert _referrer_find(referral_code=inviter.referral_code, telegram_id=9001) == inviter
    longer = CustomerFactory(referred_by=inviter)
    assert _referrer_find(referral_code=longer.referral_code, telegram_id=9001) is None
