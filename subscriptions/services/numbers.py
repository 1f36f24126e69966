"""A subscription's number per customer (1, 2, 3 …): how the customer sees it named."""

from django.db import transaction
from django.db.models import Max

from accounts.models import Customer
from subscriptions.models import Subscription


def subscription_number_next(*, customer_id: int) -> int:
    """The number for the customer's next subscription; call it in the creating transaction.

    The customer's row is locked first, so two subscriptions created at once for one
    customer (two payments credited together) serialise and get 1 and 2, never 1 and 1;
    the unique constraint ``subscription_number_per_customer`` backs this up.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("subscription_number_next must run inside a transaction")
    Customer.objects.select_for_update().filter(pk=customer_id).values_list("pk").first()
    last = Subscription.objects.filter(customer_id=customer_id).aggregate(last=Max("number"))
    return (last["last"] or 0) + 1
