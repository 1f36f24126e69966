"""The task of the broker stress test (core/tests/broker/test_stress.py), imported by its worker
with ``celery worker --include``: each run appends its number to a file, one line a run."""

import os
from pathlib import Path

from celery import shared_task


@shared_task(name="core.tests.broker.record", ignore_result=True, acks_late=True)
def record(number: int) -> None:
    # One small O_APPEND write a run: lines from the pool's processes never interleave.
    with Path(os.environ["BROKER_STRESS_RUNS"]).open("a") as runs:
        runs.write(f"{number}\n")
