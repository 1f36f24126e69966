"""tasks_run_task: the one broker message of a transaction runs each task batch in turn.

The batches are small tasks defined here. Their ``apply_async`` (how a failed batch is sent
on its own) is replaced by a recorder: in eager mode it would run the task again at once.
"""

import logging
from unittest.mock import Mock, call

import pytest
from celery import current_app, shared_task

from core.tasks import TASKS_RUN_RETRY_SECONDS, tasks_run_task

RAN: list[tuple[str, list]] = []


@shared_task(name="core.tests.test_tasks.first_task")
def first_task(items):
    RAN.append(("first", items))
    return len(items)


@shared_task(name="core.tests.test_tasks.second_task")
def second_task(items):
    RAN.append(("second", items))


@shared_task(name="core.tests.test_tasks.broken_task")
def broken_task(items):
    RAN.append(("broken", items))
    raise RuntimeError("panel down")


@shared_task(bind=True, name="core.tests.test_tasks.retrying_task", max_retries=3)
def retrying_task(self, items):
    RAN.append(("retrying", items))
    raise self.retry(exc=RuntimeError("try later"), countdown=60)


FIRST, SECOND, BROKEN, RETRYING = (
    first_task.name,
    second_task.name,
    broken_task.name,
    retrying_task.name,
)


@pytest.fixture
def sent_alone(monkeypatch):
    """`apply_async` of each test task, by task name."""
    RAN.clear()
    recorders = {}
    for task in (first_task, second_task, broken_task, retrying_task):
        recorders[task.name] = Mock()
        monkeypatch.setattr(task, "apply_async", recorders[task.name])
    yield recorders
    RAN.clear()


def test_runs_every_batch_in_order_and_returns_how_many_ran(sent_alone):
    assert tasks_run_task([[FIRST, [1, 2]], [SECOND, [3]], [FIRST, [4]]]) == 3
    assert RAN == [("first", [1, 2]), ("second", [3]), ("first", [4])]
    for recorder in sent_alone.values():
        recorder.assert_not_called()


def test_is_a_registered_task_that_runs_the_batches(sent_alone):
    # Eager mode: `.delay` goes through Celery (registry, tracer) as a worker would.
    # `.result`, not `.get()`: Celery refuses get() while its process-wide "inside a task"
    # flag is set, which other tests in the same process can leave behind (seen in CI).
    assert tasks_run_task.delay([[SECOND, [7]], [FIRST, [8, 9]]]).result == 2
    assert RAN == [("second", [7]), ("first", [8, 9])]


@pytest.mark.parametrize("propagates", [True, False], ids=["tests-eager", "worker-default"])
def test_a_failing_batch_is_sent_on_its_own_and_the_next_ones_still_run(
    sent_alone, caplog, monkeypatch, propagates
):
    # A worker does not propagate errors of `apply` by default; the tests' settings do.
    monkeypatch.setitem(current_app.conf, "task_eager_propagates", propagates)
    with caplog.at_level(logging.ERROR, logger="core.tasks"):
        done = tasks_run_task([[FIRST, [1]], [BROKEN, [2, 3]], [SECOND, [4]]])
    assert done == 2
    assert RAN == [("first", [1]), ("broken", [2, 3]), ("second", [4])]
    assert sent_alone[BROKEN].call_args_list == [call(([2, 3],), countdown=TASKS_RUN_RETRY_SECONDS)]
    sent_alone[FIRST].assert_not_called()
    sent_alone[SECOND].assert_not_called()
    [record] = [r for r in caplog.records if r.name == "core.tasks"]
    assert BROKEN in record.getMessage()
    assert record.exc_info is not None


def test_a_batch_that_asks_for_a_retry_is_sent_on_its_own_not_retried_in_place(sent_alone):
    assert tasks_run_task([[RETRYING, [5]], [FIRST, [6]]]) == 1
    assert RAN == [("retrying", [5]), ("first", [6])]  # one attempt here, no waiting
    assert sent_alone[RETRYING].call_args_list == [call(([5],), countdown=TASKS_RUN_RETRY_SECONDS)]
    sent_alone[FIRST].assert_not_called()


def test_every_failing_batch_is_sent_on_its_own(sent_alone):
    assert tasks_run_task([[BROKEN, [1]], [RETRYING, [2]], [BROKEN, [3]]]) == 0
    assert sent_alone[BROKEN].call_args_list == [
        call(([1],), countdown=TASKS_RUN_RETRY_SECONDS),
        call(([3],), countdown=TASKS_RUN_RETRY_SECONDS),
    ]
    assert sent_alone[RETRYING].call_args_list == [call(([2],), countdown=TASKS_RUN_RETRY_SECONDS)]
