import factory

from accounts.tests.factories import CustomerFactory
from billing.models import Payment
from subscriptions.tests.factories import TariffFactory


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    customer = factory.SubFactory(CustomerFactory)
    tariff = factory.SubFactory(TariffFactory)
    provider = "robokassa"
    amount = factory.SelfAttribute("tariff.price")
    currency = "RUB"
