import factory

from accounts.tests.factories import CustomerFactory
from notifications.models import Broadcast, OutboxAudience, OutboxMessage


class BroadcastFactory(factory.django.DjangoModelFactory):
    """A draft broadcast to everyone."""

    class Meta:
        model = Broadcast

    text_ru = factory.Sequence(lambda n: f"News {n}")


class OutboxMessageFactory(factory.django.DjangoModelFactory):
    """A pending message to a customer, in their chat."""

    class Meta:
        model = OutboxMessage

    audience = OutboxAudience.CUSTOMER
    customer = factory.SubFactory(CustomerFactory)
    chat_id = factory.LazyAttribute(lambda o: o.customer.telegram_id if o.customer else 1)
    text = factory.Sequence(lambda n: f"Message {n}")
