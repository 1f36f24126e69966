"""The embedded broker under load: several processes publish thousands of tiny tasks while a
real prefork worker consumes them (``core/tests/broker/settings.py``); it must stay up and run
every message once.

kombu's stock ``filesystem://`` transport lets the worker take a half-written file and die of
``JSONDecodeError`` (kombu #1551); ``CELERY_BROKER_URL=filesystem:// pytest
core/tests/broker/test_stress.py`` runs this test against it.
"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PUBLISHERS = 4
MESSAGES_EACH = 1_500
TOTAL = PUBLISHERS * MESSAGES_EACH
# The whole test, worker start included; stopping the worker takes up to 10 s more.
DEADLINE_SECONDS = 45

# Each publisher sends at most PUBLISH_RATE messages a second, slower than the worker runs
# them: the queue stays nearly empty, so the worker keeps taking the newest file.
PUBLISH_RATE = 100
PUBLISH = """
import sys, time
from vpnsite.celery import app
first, count, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
with app.producer_or_acquire() as producer:
    for sent, number in enumerate(range(first, first + count)):
        app.send_task("core.tests.broker.record", args=(number,), producer=producer)
        time.sleep(max(0, start + (sent + 1) / rate - time.monotonic()))
"""

pytestmark = pytest.mark.slow


def environment(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        # The embedded broker and database, whatever this run (or a .env file) uses.
        "REDIS_URL": "",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "core.tests.broker.settings",
        "VPNSITE_VAR_DIR": str(tmp_path / "var"),
        "BROKER_STRESS_RUNS": str(tmp_path / "runs.txt"),
    }


def runs(tmp_path: Path) -> list[int]:
    path = tmp_path / "runs.txt"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def publish(env: dict[str, str], first: int, count: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", PUBLISH, str(first), str(count), str(PUBLISH_RATE)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, *, deadline: float, what) -> None:
    while not condition():
        assert time.monotonic() < deadline, what()
        time.sleep(0.1)


def test_the_embedded_broker_runs_every_message_once_under_load(tmp_path):
    env = environment(tmp_path)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "vpnsite", "worker", "--include",
         "core.tests.broker.stress_tasks", "--concurrency", "2", "--loglevel", "WARNING",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        # A first message: the worker is consuming once it has run it.
        assert publish(env, -1, 1).wait(timeout=DEADLINE_SECONDS) == 0
        wait_for(
            lambda: runs(tmp_path) or worker.poll() is not None,
            deadline=deadline,
            what=lambda: "the worker ran nothing",
        )
        publishers = [publish(env, i * MESSAGES_EACH, MESSAGES_EACH) for i in range(PUBLISHERS)]
        for publisher in publishers:
            _, stderr = publisher.communicate(timeout=DEADLINE_SECONDS)
            assert publisher.returncode == 0, stderr
        wait_for(
            lambda: len(runs(tmp_path)) > TOTAL or worker.poll() is not None,
            deadline=deadline,
            what=lambda: f"{len(runs(tmp_path)) - 1} of {TOTAL} run in {DEADLINE_SECONDS}s",
        )
        alive = worker.poll() is None
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
    assert alive, f"the worker died:\n{(tmp_path / 'worker.log').read_text()[-3000:]}"
    counts = Counter(runs(tmp_path))
    assert sorted(counts) == list(range(-1, TOTAL)), f"{TOTAL + 1 - len(counts)} messages lost"
    assert max(counts.values()) == 1, "a message ran twice"
