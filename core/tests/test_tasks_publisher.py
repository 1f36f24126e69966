"""TasksPublisher: a web worker's after-commit tasks leave together, one message per window.

The publisher is started by gunicorn's ``post_fork`` hook only; these tests start it
themselves and stop it afterwards. ``_tasks_publish`` (the broker call) is replaced by a
recorder, so nothing reaches a broker.
"""

import os
import threading
import time
from unittest import mock

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError

from core import transactions
from core.transactions import (
    TasksPublisher,
    on_commit_task,
    tasks_publisher_start,
    tasks_publisher_stop,
)


class Published:
    """Stands in for ``_tasks_publish``: remembers each call's pairs, thread-safely."""

    def __init__(self, error: Exception | None = None):
        self.calls: list[list] = []
        self.error = error
        self.lock = threading.Lock()
        self.event = threading.Event()

    def __call__(self, pairs):
        with self.lock:
            self.calls.append(list(pairs))
        self.event.set()
        if self.error is not None:
            raise self.error

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[list]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.calls) >= count:
                    return list(self.calls)
            time.sleep(0.005)
        raise AssertionError(f"expected {count} publishes, saw {self.calls}")


@pytest.fixture
def published(monkeypatch):
    recorder = Published()
    monkeypatch.setattr(transactions, "_tasks_publish", recorder)
    yield recorder
    tasks_publisher_stop()


def test_pairs_submitted_within_one_window_leave_in_one_publish_in_order_without_repeats(
    published,
):
    publisher = tasks_publisher_start(window=1.0)
    publisher.submit([("a.task", 1), ("b.task", (2, 20))])
    publisher.submit([("a.task", 3), ("a.task", 1)])  # a repeat of a pending pair
    calls = published.wait(1)
    assert calls == [[("a.task", 1), ("b.task", (2, 20)), ("a.task", 3)]]
    time.sleep(0.3)
    assert len(published.calls) == 1  # nothing else pending: no empty publish


def test_a_later_burst_gets_its_own_publish(published):
    publisher = tasks_publisher_start(window=0.05)
    publisher.submit([("a.task", 1)])
    published.wait(1)
    publisher.submit([("a.task", 2)])
    assert published.wait(2) == [[("a.task", 1)], [("a.task", 2)]]


def test_stop_publishes_what_is_pending_at_once(published):
    publisher = tasks_publisher_start(window=30)  # would wait half a minute
    publisher.submit([("a.task", 1)])
    time.sleep(0.05)  # the thread is inside its window now
    started = time.monotonic()
    tasks_publisher_stop()
    assert published.calls == [[("a.task", 1)]]
    assert time.monotonic() - started < 1  # the stop cut the window short
    assert transactions._Process.publisher is None
    assert not publisher._thread.is_alive()


def test_pairs_submitted_after_stop_are_published_at_once(published):
    publisher = tasks_publisher_start(window=30)
    tasks_publisher_stop()
    publisher.submit([("a.task", 7)])  # a request thread that still held the publisher
    assert published.calls == [[("a.task", 7)]]


def test_a_big_window_leaves_in_messages_of_at_most_the_cap(published, monkeypatch):
    monkeypatch.setattr(transactions, "TASKS_PUBLISH_MAX_ITEMS", 2)
    publisher = tasks_publisher_start(window=30)
    publisher.submit([("a.task", n) for n in range(5)])
    tasks_publisher_stop()
    assert published.calls == [
        [("a.task", 0), ("a.task", 1)],
        [("a.task", 2), ("a.task", 3)],
        [("a.task", 4)],
    ]


def test_a_failing_publish_is_logged_and_the_thread_lives_on(monkeypatch, caplog):
    recorder = Published(error=OperationalError("broker down"))
    monkeypatch.setattr(transactions, "_tasks_publish", recorder)
    publisher = tasks_publisher_start(window=0.01)
    try:
        publisher.submit([("a.task", 1)])
        recorder.wait(1)
        publisher.submit([("a.task", 2)])
        assert recorder.wait(2)[1] == [("a.task", 2)]
        assert publisher._thread.is_alive()
    finally:
        tasks_publisher_stop()
    assert "the beat sweeps will pick them up" in caplog.text


def test_window_zero_means_no_publisher(published):
    assert tasks_publisher_start(window=0) is None
    assert transactions._Process.publisher is None


def test_starting_again_replaces_and_flushes_the_old_one(published):
    first = tasks_publisher_start(window=30)
    first.submit([("a.task", 1)])
    time.sleep(0.05)  # the thread is inside its window now
    second = tasks_publisher_start(window=30)
    assert published.calls == [[("a.task", 1)]]
    assert transactions._Process.publisher is second
    assert not first._thread.is_alive()


@pytest.mark.django_db(transaction=True)
def test_commits_go_through_the_running_publisher(published):
    from core.tasks import ping_task

    tasks_publisher_start(window=1.0)
    with transaction.atomic():
        on_commit_task(ping_task, ["one"])
    with transaction.atomic():
        on_commit_task(ping_task, ["two"])
    assert published.calls == []  # not at commit: the window is still open
    assert published.wait(1) == [[(ping_task.name, "one"), (ping_task.name, "two")]]


@pytest.mark.django_db(transaction=True)
def test_without_a_publisher_a_commit_publishes_at_once(published):
    from core.tasks import ping_task

    with transaction.atomic():
        on_commit_task(ping_task, ["one"])
    assert published.calls == [[(ping_task.name, "one")]]


@pytest.mark.django_db(transaction=True)
def test_a_publisher_inherited_through_fork_is_not_used(published):
    """A forked child must not hand its pairs to a thread that only exists in its parent."""
    from core.tasks import ping_task

    foreign = TasksPublisher(window=30)  # never started: its thread would never publish
    with mock.patch.object(transactions._Process, "publisher", foreign):
        foreign.pid = os.getpid() + 1
        with transaction.atomic():
            on_commit_task(ping_task, ["one"])
    assert published.calls == [[(ping_task.name, "one")]]
    assert foreign._pending == {}


def test_gunicorn_hooks_start_and_stop_the_publisher(published, monkeypatch):
    import importlib.util
    from pathlib import Path

    monkeypatch.setenv("TASKS_PUBLISH_WINDOW_MS", "40")
    path = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
    spec = importlib.util.spec_from_file_location("gunicorn_conf_publisher_test", path)
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    config.post_fork(server=None, worker=None)
    publisher = transactions._Process.publisher
    assert publisher is not None
    assert publisher.window == pytest.approx(0.04)
    publisher.submit([("a.task", 1)])
    config.worker_exit(server=None, worker=None)
    assert transactions._Process.publisher is None
    assert published.calls == [[("a.task", 1)]]
