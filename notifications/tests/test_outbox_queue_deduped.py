"""Many rows at once: one INSERT, repeats left out by their dedupe key, one flush after commit."""

from unittest.mock import Mock

import pytest
from django.db import transaction

from accounts.tests.factories import CustomerFactory
from notifications.models import OutboxMessage
from notifications.services import customer_message, outbox_queue_deduped

pytestmark = pytest.mark.django_db


@pytest.fixture
def flush(monkeypatch):
    recorder = Mock()
    monkeypatch.setattr("notifications.tasks.outbox_flush_task.delay", recorder)
    return recorder


def test_repeats_are_left_out_and_one_flush_follows_the_commit(
    flush, django_capture_on_commit_callbacks
):
    customers = CustomerFactory.create_batch(3)
    with django_capture_on_commit_callbacks(execute=True):
        outbox_queue_deduped(
            [customer_message(customer=c, text="first", dedupe_key=f"k:{c.pk}") for c in customers]
        )
    assert flush.call_count == 1
    with django_capture_on_commit_callbacks(execute=True):
        outbox_queue_deduped(
            [customer_message(customer=c, text="again", dedupe_key=f"k:{c.pk}") for c in customers]
            + [customer_message(customer=customers[0], text="new", dedupe_key="k:new")]
        )
    assert sorted(OutboxMessage.objects.values_list("text", flat=True)) == [
        "first",
        "first",
        "first",
        "new",
    ]
    assert flush.call_count == 2


def test_a_rolled_back_batch_is_neither_saved_nor_flushed(
    flush, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox_queue_deduped([customer_message(customer=customer, text="x", dedupe_key="k")])
        transaction.set_rollback(True)
    assert not OutboxMessage.objects.exists()
    flush.assert_not_called()


def test_every_row_needs_a_dedupe_key():
    with pytest.raises(ValueError, match="dedupe key"):
        outbox_queue_deduped([customer_message(customer=CustomerFactory(), text="x")])
