"""A real gunicorn with two workers sharing PROMETHEUS_MULTIPROC_DIR: /metrics answers with the
requests both workers served, whichever worker the scrape reaches, and keeps them when a
worker is replaced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from core.tests.scrape import Scrape
from tests.e2e.system import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "gunicorn-metrics-token-0123456789"


@pytest.fixture
def web(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vpnsite.settings.test",
        "VPNSITE_VAR_DIR": str(tmp_path / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "METRICS_TOKEN": TOKEN,
        "LOG_FORMAT": "json",
    }
    env.pop("DATABASE_URL", None)
    log = (tmp_path / "web.log").open("wb")
    argv = [sys.executable, "-m", "gunicorn", "vpnsite.wsgi", "--config", "gunicorn.conf.py"]
    process = subprocess.Popen(
        [*argv, "--bind", f"127.0.0.1:{port}", "--workers", "2", "--graceful-timeout", "5"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).ok:
                break
        except (requests.ConnectionError, requests.Timeout):  # not up yet
            pass
        assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()[-3000:]
        time.sleep(0.2)
    yield url, process, tmp_path
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    log.close()


def scrape(url: str) -> Scrape:
    response = requests.get(
        f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert response.status_code == 200, response.text[:500]
    return Scrape(response.text)


def worker_pids(tmp_path: Path) -> set[str]:
    return {
        path.name.rsplit("-", 1)[1][:-3]
        for path in (tmp_path / "metrics").glob("counter_web-*.db")
        if not path.name.endswith("-archive.db")
    }


def test_two_workers_one_sum_and_a_recycled_worker_keeps_its_counts(web):
    url, process, tmp_path = web
    served = 1  # the fixture's readiness probe
    while len(worker_pids(tmp_path)) < 2 or served < 30:
        requests.get(f"{url}/healthz", timeout=5)  # new connections spread over both workers
        served += 1
        assert served < 1000, "one worker answered everything"
    assert scrape(url).value("vpnsite_http_requests_total", view="healthz", status="200") == served
    for _ in range(3):  # whichever worker answers the scrape, the same sum
        assert scrape(url).value("vpnsite_http_requests_total", view="healthz") == served

    # A worker dies (recycled): the master folds its files, nothing is lost.
    victim = int(sorted(worker_pids(tmp_path))[0])
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while str(victim) in worker_pids(tmp_path):
        assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()[-3000:]
        time.sleep(0.2)
    assert (
        tmp_path
        / "metrics"
        / next(p.name for p in (tmp_path / "metrics").glob("counter_web-*-archive.db"))
    ).exists()
    assert scrape(url).value("vpnsite_http_requests_total", view="healthz") == served
    assert process.poll() is None

    # Every line gunicorn and Django wrote is JSON.
    lines = [line for line in (tmp_path / "web.log").read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]
    assert any(line["logger"] == "gunicorn.error" for line in parsed)
    assert any(line.get("logger") == "core.metrics_files" for line in parsed)
