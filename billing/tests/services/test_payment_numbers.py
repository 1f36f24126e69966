"""A payment's number per customer: 1, 2, 3 … even when made at once (issue 19); messages
to the customer show it, the providers keep the global id."""

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import Payment
from billing.services.payments import payment_create, payment_number_next
from billing.tests.factories import PaymentFactory
from core.tests.helpers import run_concurrently
from subscriptions.tests.factories import TariffFactory


@pytest.mark.django_db
def test_numbers_count_per_customer(billing_providers):
    anna, boris = CustomerFactory(), CustomerFactory()
    month, year = TariffFactory(), TariffFactory()
    first = payment_create(customer=anna, tariff=month, provider="robokassa")
    other = payment_create(customer=boris, tariff=month, provider="robokassa")
    second = payment_create(customer=anna, tariff=year, provider="robokassa")
    assert (first.number, second.number, other.number) == (1, 2, 1)
    assert (first.pk, second.pk, other.pk) != (1, 2, 1)


@pytest.mark.django_db
def test_the_next_number_follows_the_highest_not_the_count():
    customer = CustomerFactory()
    PaymentFactory(customer=customer, number=5)
    with transaction.atomic():
        assert payment_number_next(customer_id=customer.pk) == 6


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_is_refused():
    customer = CustomerFactory()
    with pytest.raises(RuntimeError, match="inside a transaction"):
        payment_number_next(customer_id=customer.pk)


@pytest.mark.django_db(transaction=True)
def test_payments_made_at_once_get_distinct_numbers(on_postgres, billing_providers):
    customer = CustomerFactory()
    tariffs = [TariffFactory() for _ in range(3)]

    def create(tariff):
        return lambda: payment_create(
            customer=Customer.objects.get(pk=customer.pk),
            tariff=tariff,
            provider="robokassa",
            now=timezone.now(),
        )

    errors = run_concurrently([create(tariff) for tariff in tariffs])
    assert errors == []
    numbers = Payment.objects.filter(customer=customer).values_list("number", flat=True)
    assert sorted(numbers) == [1, 2, 3]
