"""on_commit_collect: one flush per name per transaction, after the outermost commit.

Most tests use real transactions (`transactional_db`): pytest-django's `db` wraps the test in
an atomic block that never commits, so "after commit" and "autocommit" cannot be seen there.
"""

from contextlib import suppress

import pytest
from django.db import transaction

from core.transactions import on_commit_collect

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
