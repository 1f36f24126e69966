"""A subscription's number per customer: 1, 2, 3 … even when created at once (issue 19)."""

import pytest
from django.db import transaction

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from core.tests.helpers import run_concurrently
from subscriptions.models import Subscription
from subscriptions.services.lifecycle import subscription_create
from subscriptions.services.numbers import subscription_number_next
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory


@pytest.mark.django_db
def test_numbers_count_per_customer():
    anna, boris = CustomerFactory(), CustomerFactory()
    tariff = TariffFactory(node_count=0)
    first = subscription_create(customer=anna, tariff=tariff)
    other = subscription_create(customer=boris, tariff=tariff)
    second = subscription_create(customer=anna, tariff=tariff)
    assert (first.number, second.number, other.number) == (1, 2, 1)


@pytest.mark.django_db
def test_the_next_number_follows_the_highest_not_the_count():
    customer = CustomerFactory()
    SubscriptionFactory(customer=customer, number=3)
    with transaction.atomic():
        assert subscription_number_next(customer_id=customer.pk) == 4


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_is_refused():
    customer = CustomerFactory()
    with pytest.raises(RuntimeError, match="inside a transaction"):
        subscription_number_next(customer_id=customer.pk)


@pytest.mark.django_db(transaction=True)
def test_two_subscriptions_created_at_once_get_1_and_2(on_postgres):
    customer = CustomerFactory()
    tariff = TariffFactory(node_count=0)

    def create():
        subscription_create(customer=Customer.objects.get(pk=customer.pk), tariff=tariff)

    errors = run_concurrently([create, create, create])
    assert errors == []
    numbers = Subscription.objects.filter(customer=customer).values_list("number", flat=True)
    assert sorted(numbers) == [1, 2, 3]
