"""on_commit_collect: one flush per name per transaction, after the outermost commit.

on_commit_task: every task batch of a transaction leaves in one broker message.

Most tests use real transactions (`transactional_db`): pytest-django's `db` wraps the test in
an atomic block that never commits, so "after commit" and "autocommit" cannot be seen there.
"""

from contextlib import suppress

import pytest
from celery import shared_task
from django.db import transaction

from core.transactions import on_commit_collect, on_commit_task

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """A flush callable that remembers every batch it was handed."""

    def __init__(self):
        self.batches: list[list] = []

    def __call__(self, items):
        self.batches.append(items)


def test_flushes_once_after_the_outermost_commit_in_order_without_repeats():
    flush = Recorder()
    with transaction.atomic():
        on_commit_collect("work", [3, 1], flush)
        with transaction.atomic():  # a savepoint that is released, not the commit
            on_commit_collect("work", [1, 2], flush)
        assert flush.batches == []
        on_commit_collect("work", [3, 4], flush)
        assert flush.batches == []
    assert flush.batches == [[3, 1, 2, 4]]


def test_tuples_are_deduplicated_too():
    flush = Recorder()
    with transaction.atomic():
        on_commit_collect("push", [(1, 10), (2, 20)], flush)
        on_commit_collect("push", [(1, 10), (1, 11)], flush)
    assert flush.batches == [[(1, 10), (2, 20), (1, 11)]]


def test_autocommit_flushes_at_once_each_call():
    flush = Recorder()
    on_commit_collect("work", [1, 2, 1], flush)
    assert flush.batches == [[1, 2]]
    on_commit_collect("work", [2, 3], flush)
    assert flush.batches == [[1, 2], [2, 3]]


def test_no_items_is_a_no_op():
    flush = Recorder()
    on_commit_collect("work", [], flush)  # autocommit: would flush at once
    with transaction.atomic():
        on_commit_collect("work", [], flush)
        assert transaction.get_connection().run_on_commit == []  # nothing registered
    assert flush.batches == []


def test_after_a_commit_the_next_call_starts_a_new_batch():
    flush = Recorder()
    with transaction.atomic():
        on_commit_collect("work", [1], flush)
    with transaction.atomic():
        on_commit_collect("work", [2], flush)
        assert flush.batches == [[1]]
    assert flush.batches == [[1], [2]]


def test_a_rolled_back_transaction_flushes_nothing_and_leaves_nothing_behind():
    flush = Recorder()
    with suppress(RuntimeError), transaction.atomic():
        on_commit_collect("work", [1], flush)
        raise RuntimeError
    assert flush.batches == []
    with transaction.atomic():
        on_commit_collect("work", [2], flush)
    assert flush.batches == [[2]]  # the rolled-back item is not carried over


def test_different_names_are_separate_batches():
    first, second = Recorder(), Recorder()
    with transaction.atomic():
        on_commit_collect("a", [1], first)
        on_commit_collect("b", [1, 2], second)
        on_commit_collect("a", [3], first)
    assert first.batches == [[1, 3]]
    assert second.batches == [[1, 2]]


def test_batch_registered_in_a_rolled_back_savepoint_is_started_again():
    flush = Recorder()
    with transaction.atomic():
        with suppress(RuntimeError), transaction.atomic():
            on_commit_collect("work", [1], flush)  # registered in the savepoint
            raise RuntimeError
        on_commit_collect("work", [2], flush)
    assert flush.batches == [[2]]


def test_items_of_a_rolled_back_savepoint_stay_in_an_outer_batch():
    """Documented: the batch was registered outside the savepoint, so it keeps them all."""
    flush = Recorder()
    with transaction.atomic():
        on_commit_collect("work", [1], flush)
        with suppress(RuntimeError), transaction.atomic():
            on_commit_collect("work", [2], flush)
            raise RuntimeError
        on_commit_collect("work", [3], flush)
    assert flush.batches == [[1, 2, 3]]


@pytest.mark.django_db
def test_a_batch_run_by_the_capture_fixture_is_not_reused(django_capture_on_commit_callbacks):
    """The capture fixture runs callbacks but leaves them registered: `flushed` tells."""
    flush = Recorder()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        on_commit_collect("work", [1, 2], flush)
        on_commit_collect("work", [2], flush)
    assert len(callbacks) == 1
    assert flush.batches == [[1, 2]]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        on_commit_collect("work", [3], flush)
    assert len(callbacks) == 1
    assert flush.batches == [[1, 2], [3]]


# --- on_commit_task ----------------------------------------------------------------------------
# Two small tasks; their ``delay`` (and the envelope's) are replaced by a recorder of every
# broker message, so the tests see what would be published and in which order.

ENVELOPE = "core.tasks.tasks_run_task"


@shared_task(name="core.tests.test_transactions.alpha_task")
def alpha_task(items):
    return items


@shared_task(name="core.tests.test_transactions.beta_task")
def beta_task(items):
    return items


@pytest.fixture
def published(monkeypatch):
    """Every `.delay` of the two tasks and of the envelope, as (task name, argument)."""
    messages: list[tuple[str, list]] = []
    for task in (alpha_task, beta_task):
        monkeypatch.setattr(
            task, "delay", lambda items, name=task.name: messages.append((name, items))
        )
    monkeypatch.setattr(
        "core.tasks.tasks_run_task.delay", lambda batches: messages.append((ENVELOPE, batches))
    )
    return messages


def test_task_of_one_kind_is_sent_with_its_own_delay_once_in_order_without_repeats(published):
    with transaction.atomic():
        on_commit_task(alpha_task, [3, 1])
        with transaction.atomic():  # a released savepoint
            on_commit_task(alpha_task, [1, 2])
        on_commit_task(beta_task, [])  # nothing queued: no second kind
        on_commit_task(alpha_task, [3, 4])
        assert published == []  # not before the commit
    assert published == [(alpha_task.name, [3, 1, 2, 4])]


def test_tasks_of_two_kinds_go_in_one_envelope_in_first_queued_order(published):
    with transaction.atomic():
        on_commit_task(beta_task, [10, 11])  # queued first, although "alpha" sorts first
        on_commit_task(alpha_task, [1, 10])
        on_commit_task(beta_task, [11, 12])
        on_commit_task(alpha_task, [2, 1])
        assert published == []
    assert published == [
        (ENVELOPE, [[beta_task.name, [10, 11, 12]], [alpha_task.name, [1, 10, 2]]]),
    ]


def test_task_batches_of_a_rolled_back_transaction_are_not_sent(published):
    with suppress(RuntimeError), transaction.atomic():
        on_commit_task(alpha_task, [1])
        on_commit_task(beta_task, [2])
        raise RuntimeError
    assert published == []
    with transaction.atomic():
        on_commit_task(beta_task, [3])
    assert published == [(beta_task.name, [3])]  # nothing carried over


def test_each_transaction_sends_its_own_message(published):
    with transaction.atomic():
        on_commit_task(alpha_task, [1])
        on_commit_task(beta_task, [1])
    with transaction.atomic():
        on_commit_task(alpha_task, [1, 2])
    assert published == [
        (ENVELOPE, [[alpha_task.name, [1]], [beta_task.name, [1]]]),
        (alpha_task.name, [1, 2]),
    ]


def test_task_in_autocommit_is_sent_at_once_each_call(published):
    on_commit_task(alpha_task, [1, 2, 1])
    assert published == [(alpha_task.name, [1, 2])]
    on_commit_task(beta_task, [3])
    assert published == [(alpha_task.name, [1, 2]), (beta_task.name, [3])]
