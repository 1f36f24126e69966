"""Metrics shared by processes and containers through PROMETHEUS_MULTIPROC_DIR
(core/metrics_files.py): counters recorded in other processes reach the scrape, and folding the
files of finished processes keeps every sum."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from core import metrics_files
from core.metrics_files import FilesCollector, metrics_file_parse, metrics_fold, process_role
from core.tests.scrape import Scrape
from tests.fresh_process import python_run

HOST = metrics_files._HOST
ROLE = metrics_files._ROLE

RECORD = """
import django
django.setup()
from core import metrics
assert metrics.MULTIPROCESS
metrics.provisioning_observe(node="de-1", result="ok", seconds=0.2)
metrics.bot_update_observe(kind="message", result="ok", seconds=0.05)
metrics.http_request_observe(view="healthz", method="GET", status=200, seconds=0.01)
"""


def record_in_another_process(directory: Path) -> None:
    python_run(RECORD, env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)})


def exposition(directory: Path) -> Scrape:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(FilesCollector(directory))
    return Scrape(generate_latest(registry).decode())


def write_counter(path: Path, value: float, *, node: str = "de-1") -> None:
    key = mmap_key(
        "vpnsite_provisioning",
        "vpnsite_provisioning_total",
        ["node", "result"],
        [node, "ok"],
        "help",
    )
    mmap_dict = MmapedDict(str(path))
    mmap_dict.write_value(key, value, 0.0)
    mmap_dict.close()


def test_counters_from_other_processes_are_summed_and_survive_folding(tmp_path):
    record_in_another_process(tmp_path)  # say, a Celery worker child
    record_in_another_process(tmp_path)  # and the bot
    files = sorted(p.name for p in tmp_path.glob("*.db"))
    assert len(files) == 4  # a counter and a histogram file per process
    assert all(metrics_file_parse(tmp_path / name).host == HOST for name in files)

    before = exposition(tmp_path)
    assert before.value("vpnsite_provisioning_total", node="de-1", result="ok") == 2
    assert before.value("vpnsite_provisioning_duration_seconds_count", node="de-1") == 2
    assert before.value("vpnsite_provisioning_duration_seconds_sum") == pytest.approx(0.4)
    assert before.value("vpnsite_bot_updates_total", kind="message") == 2
    assert before.value("vpnsite_http_requests_total", view="healthz", status="200") == 2

    # Both processes have ended: their files fold into one archive per kind, sums intact.
    assert metrics_fold(directory=tmp_path) == 4
    after = exposition(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [
        f"counter_c-{HOST}-archive.db",
        f"histogram_c-{HOST}-archive.db",
    ]
    assert after.samples == before.samples

    # A third process, folded again: the archive keeps adding up.
    record_in_another_process(tmp_path)
    metrics_fold(directory=tmp_path)
    assert exposition(tmp_path).value("vpnsite_provisioning_total") == 3


def test_files_of_running_processes_are_never_folded(tmp_path):
    mine = tmp_path / f"counter_{ROLE}-{HOST}-{os.getpid()}.db"
    write_counter(mine, 5)
    assert metrics_fold(directory=tmp_path) == 0
    assert mine.exists()


def test_a_service_start_folds_its_predecessor_container(tmp_path):
    """Upgrades replace containers: the new one takes over the old one's counters."""
    write_counter(tmp_path / f"counter_{ROLE}-oldcontainer1-7.db", 4)
    write_counter(tmp_path / f"counter_{ROLE}-oldcontainer1-archive.db", 10)
    other_service = tmp_path / "counter_otherrole-othercontainer-7.db"
    write_counter(other_service, 1)
    assert metrics_fold(directory=tmp_path) == 0  # not a service start: foreign hosts stay
    assert metrics_fold(directory=tmp_path, service_start=True) == 2
    assert other_service.exists()  # another service's files are never touched
    assert exposition(tmp_path).value("vpnsite_provisioning_total") == 15
    assert (tmp_path / f"counter_{ROLE}-{HOST}-archive.db").exists()


def test_a_corrupt_file_is_dropped_not_fatal(tmp_path):
    dead = tmp_path / f"counter_{ROLE}-{HOST}-999999999.db"
    dead.write_bytes(b"\xff\xff\x00\x00" + b"\x00" * 60)
    write_counter(tmp_path / f"counter_{ROLE}-{HOST}-999999998.db", 2)
    assert exposition(tmp_path).value("vpnsite_provisioning_total") == 2  # the scrape works
    assert metrics_fold(directory=tmp_path) == 2
    assert exposition(tmp_path).value("vpnsite_provisioning_total") == 2


@pytest.mark.parametrize(
    ("argv", "role"),
    [
        (["/app/.venv/bin/gunicorn", "vpnsite.wsgi", "--config", "gunicorn.conf.py"], "web"),
        (["/usr/local/bin/celery", "-A", "vpnsite", "worker", "--loglevel", "INFO"], "worker"),
        (["celery", "-A", "vpnsite", "beat"], "beat"),
        (["/venv/lib/site-packages/gunicorn/__main__.py", "vpnsite.wsgi"], "web"),
        (["/venv/lib/site-packages/celery/__main__.py", "-A", "vpnsite", "worker"], "worker"),
        (["manage.py", "runbot"], "bot"),
        (["manage.py", "node_check"], "nodecheck"),
        (["python"], "python"),
    ],
)
def test_process_role(argv, role):
    assert process_role(argv) == role


def test_file_names():
    parsed = metrics_file_parse(Path("/x/counter_web-3f2a9c1d7e8b-42.db"))
    assert (parsed.kind, parsed.role, parsed.host, parsed.pid) == (
        "counter",
        "web",
        "3f2a9c1d7e8b",
        "42",
    )
    assert metrics_file_parse(Path("/x/gauge_livesum_web-h-1.db")) is None
    assert metrics_file_parse(Path("/x/counter_42.db")) is None
    assert metrics_file_parse(Path("/x/counter_web-h-1.db.partial")) is None


def test_an_empty_variable_means_single_process(monkeypatch):
    from prometheus_client import values

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    assert metrics_files.multiprocess_enable() is False
    assert values.ValueClass is values.MutexValue
