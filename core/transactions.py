"""Per-transaction batching of after-commit work.

A service that changes many rows in one transaction (a payment: a subscription, its keys,
three notifications; an expiry sweep: hundreds) should hand the broker one message, not one
per row or per kind of work: a publish costs the web process more CPU than most queries.

``on_commit_collect`` gathers items under a name for the current transaction and calls
``flush(items)`` once, after the outermost commit. ``on_commit_task`` builds on it for Celery
tasks that take one list: every task batch of a transaction leaves in a single broker
message. Outside a transaction (autocommit) the flush runs at once, as
``transaction.on_commit`` does. In a gunicorn worker the ``TasksPublisher`` below goes one
step further and merges the messages of the transactions committed within a short window.
"""

import logging
import os
import threading
from collections.abc import Callable, Hashable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, transaction

logger = logging.getLogger(__name__)


class _Batch:
    def __init__(self, flush: Callable[[list[Any]], None]) -> None:
        self.items: dict[Hashable, None] = {}  # ordered, without repeats
        self.flush_items = flush
        self.flushed = False

    def flush(self) -> None:
        self.flushed = True
        if self.items:
            self.flush_items(list(self.items))


def on_commit_collect(
    name: str,
    items: list[Hashable],
    flush: Callable[[list[Any]], None],
    *,
    using: str = DEFAULT_DB_ALIAS,
) -> None:
    """Add `items` to this transaction's batch `name`; `flush(all items)` runs on commit.

    The batch lives on the connection while its flush is registered for the current
    transaction. After a commit, or a rollback that discarded the registration (the outer
    transaction, or the savepoint it was registered in), the next call starts a new batch.
    Items added in a savepoint that was later rolled back stay in the batch, so ``flush``
    must tolerate ids whose rows no longer exist (the consumers look rows up and skip the
    missing).
    """
    if not items:
        return
    connection = transaction.get_connection(using)
    batches: dict[str, _Batch] = connection.__dict__.setdefault("_vpnsite_commit_batches", {})
    batch = batches.get(name)
    registered = batch is not None and any(
        entry[1] == batch.flush for entry in connection.run_on_commit
    )
    if batch is None or batch.flushed or not registered:
        batch = _Batch(flush)
        batches[name] = batch
        if connection.in_atomic_block:
            transaction.on_commit(batch.flush, using=using)
        else:  # autocommit: the row is already committed
            batch.items.update(dict.fromkeys(items))
            batch.flush()
            return
    batch.items.update(dict.fromkeys(items))


def on_commit_task(task, items: list[Hashable], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """After commit, run ``task(all items)``: `task` is a Celery task taking one list.

    One task in the transaction: ``task.delay(items)``. Several: one
    ``core.tasks.tasks_run_task`` message carries every batch, and the worker runs them in
    the order they were first queued.
    """
    name = task.name  # a Celery task proxy resolves every attribute access
    on_commit_collect("celery-tasks", [(name, item) for item in items], _tasks_send, using=using)


def _tasks_send(pairs: list[tuple[str, Hashable]]) -> None:
    """Publish after commit; with the broker down, log and leave the work to the beat.

    The transaction has committed: raising here would answer a provider 5xx for a payment
    that was credited. The beat's sweeps find the work from the database (outbox flush,
    reconcile and its placement of keyless subscriptions; see ``TasksPublisher`` for the one
    kind they leave to the next change).

    In a web worker with a running ``TasksPublisher`` the pairs are handed to it instead,
    to leave with those of the transactions committed around the same time.
    """
    publisher = _Process.publisher
    if publisher is not None and publisher.pid == os.getpid():
        publisher.submit(pairs)
        return
    _tasks_send_now(pairs)


def _tasks_send_now(pairs: list[tuple[str, Hashable]]) -> None:
    from kombu.exceptions import OperationalError

    try:
        _tasks_publish(pairs)
    except OperationalError:
        logger.exception("broker unreachable after commit; the beat sweeps will pick it up")


def _tasks_publish(pairs: list[tuple[str, Hashable]]) -> None:
    from celery import current_app

    by_task: dict[str, list] = {}
    for name, item in pairs:
        by_task.setdefault(name, []).append(item)
    if len(by_task) == 1:
        [(name, items)] = by_task.items()
        current_app.tasks[name].delay(items)
        return
    from core.tasks import tasks_run_task

    tasks_run_task.delay([[name, items] for name, items in by_task.items()])


# --- Coalescing across transactions (web workers) --------------------------------------------


class TasksPublisher:
    """One broker message per `window` for all the transactions of one process.

    A Celery publish costs a web process about 1 ms of CPU, whatever the message holds. Under
    load a gunicorn worker commits a transaction every few milliseconds (a provider's
    notifications, the bot's feed...), and each would publish its own message. The publisher
    takes the after-commit pairs of every request thread of the process, waits `window`
    seconds from the first one for the others, and sends them all as one message (every task
    sent this way takes a list, so batches of different transactions merge), at most
    ``TASKS_PUBLISH_MAX_ITEMS`` items a message. A quiet process pays `window` of latency; a
    busy one publishes about 1/`window` times a second.

    Started in each gunicorn worker (``gunicorn.conf.py``: ``post_fork``) and flushed when the
    worker exits (``worker_exit``). A worker killed outright (SIGKILL, out of memory) loses
    what it held, at most one window of messages, as a broker outage at commit loses its
    message. The beat's sweeps find that work in the database: the outbox flush resends
    queued messages, the reconcile pushes keys and places the keys of an active subscription
    that has none. A multi-node subscription left with some of its keys waits for its next
    change or an operator's re-provision (``subscription_keys_sync_locked``). Everything else
    (Celery workers, the bot, tests, management commands) publishes at commit.
    """

    def __init__(self, *, window: float) -> None:
        self.window = window
        self.pid = os.getpid()
        self._pending: dict[tuple[str, Hashable], None] = {}  # ordered, without repeats
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tasks-publisher", daemon=True)

    def start(self) -> "TasksPublisher":
        self._thread.start()
        return self

    def submit(self, pairs: list[tuple[str, Hashable]]) -> None:
        with self._lock:
            if not self._stop.is_set():
                self._pending.update(dict.fromkeys(pairs))
                self._wake.set()
                return
        # Stopped (a request that outlived the worker's exit): no thread to hand them to.
        _tasks_send_now(pairs)

    def flush(self) -> int:
        """Publish what is pending now; returns how many pairs left."""
        with self._lock:
            pairs, self._pending = list(self._pending), {}
            self._wake.clear()
        for chunk in _chunks(pairs, TASKS_PUBLISH_MAX_ITEMS):
            try:
                _tasks_publish(chunk)
            except Exception:  # the thread must live on; the beat sweeps catch up
                logger.exception(
                    "publishing %d after-commit tasks failed; the beat sweeps will pick them up",
                    len(chunk),
                )
        return len(pairs)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and publish what is left (a worker's graceful exit)."""
        with self._lock:
            self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            # Let the burst gather; a stop cuts the wait short (stop() flushes what is left).
            if self._stop.wait(self.window):
                return
            self.flush()


# One message carries at most this many items: a window of a busy worker stays a handful of
# messages, and one bad item held up in a retry holds up few others.
TASKS_PUBLISH_MAX_ITEMS = 50


def _chunks(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class _Process:
    publisher: TasksPublisher | None = None


def tasks_publisher_start(*, window: float) -> TasksPublisher | None:
    """Publish this process's after-commit tasks through a ``TasksPublisher`` (0: off)."""
    tasks_publisher_stop()
    if window <= 0:
        return None
    _Process.publisher = TasksPublisher(window=window).start()
    return _Process.publisher


def tasks_publisher_stop() -> None:
    """Flush and stop this process's publisher, if it has one."""
    publisher, _Process.publisher = _Process.publisher, None
    if publisher is not None and publisher.pid == os.getpid():
        publisher.stop()
