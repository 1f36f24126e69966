"""The invariants the database holds on the accounts tables: a violation raises, whatever
the code above it does."""

import pytest

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory, UserFactory
from core.tests.helpers import violates

pytestmark = pytest.mark.django_db


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
