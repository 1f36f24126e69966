"""The README's run command, for real: `bin/run` brings up web, worker and beat, and a task
sent by the web process runs on the worker (no eager mode)."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.system import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def wait_for(url: str, deadline: float) -> requests.Response:
    last_error = None
    while time.monotonic() < deadline:
        try:
            return requests.get(url, timeout=2)
        # Refused, or accepted by a listening socket whose worker is still starting (a
        # loaded machine): both mean "not up yet".
        except (requests.ConnectionError, requests.Timeout) as exc:
            last_error = exc
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer: {last_error}")


@pytest.fixture
def running_system(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "VPNSITE_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "vpnsite.settings.local",
        "TELEGRAM_BOT_TOKEN": "",
        "WEB_CONCURRENCY": "1",
        "CELERY_CONCURRENCY": "1",
    }
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        [str(ROOT / "bin" / "run")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def test_run_command_brings_up_web_worker_and_beat(running_system):
    base, tmp_path = running_system
    log_path = tmp_path / "run.log"
    deadline = time.monotonic() + 180
    try:
        assert wait_for(f"{base}/healthz", deadline).json() == {"status": "ok"}
        ready = requests.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text

        session = requests.Session()
        login_page = session.get(f"{base}/admin/login/", timeout=10)
        assert login_page.status_code == 200
        assert "csrfmiddlewaretoken" in login_page.text

        username, password = (tmp_path / "var" / "admin-password.txt").read_text().split()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)[1]
        logged_in = session.post(
            f"{base}/admin/login/?next=/admin/",
            data={"csrfmiddlewaretoken": csrf, "username": username, "password": password},
            headers={"Referer": f"{base}/admin/login/"},
            timeout=10,
            allow_redirects=False,
        )
        assert logged_in.status_code == 302, logged_in.text[:500]

        # web -> broker -> worker -> result, with the worker possibly still starting.
        for _ in range(30):
            ping = session.get(f"{base}/admin/system/worker-ping/?timeout=5", timeout=15)
            if ping.status_code == 200:
                break
        assert ping.status_code == 200, ping.text
        assert ping.json()["ok"] is True

        output = log_path.read_text()
        assert "beat: Starting" in output
        assert "celery@" in output
        assert "ready." in output
    except AssertionError:
        print(log_path.read_text()[-5000:])
        raise
