"""bin/run (honcho) restarts a worker that exits instead of stopping everything: the Procfile
wraps the worker, beat and bot in bin/restarting."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESTARTING = ROOT / "bin" / "restarting"


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def runs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize("name", ["worker", "beat", "bot"])
def test_procfile_restarts_the_worker_beat_and_bot(name):
    assert procfile()[name].startswith("bin/restarting ")


@pytest.mark.slow
def test_a_worker_that_exits_is_restarted(tmp_path):
    """Under honcho, as bin/run starts it: the crashing process is started again with a log
    line, and everything else keeps running; Ctrl+C (SIGTERM) still stops it all."""
    (tmp_path / "Procfile").write_text(
        f"worker: {RESTARTING} sh -c 'echo run >> runs; exit 3'\nweb: sleep 60\n"
    )
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "--no-colour"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: runs(tmp_path / "runs") >= 3 or honcho.poll() is not None,
            timeout=20,
            what="three runs",
        )
        assert honcho.poll() is None, "honcho stopped everything"
        honcho.send_signal(signal.SIGTERM)
        output = honcho.communicate(timeout=20)[0]
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
    assert "exited with status 3 after 0s; starting it again in 1s" in output
    assert "starting it again in 2s" in output  # the backoff doubles
    assert "web.1 stopped" in output
    stopped_at = runs(tmp_path / "runs")
    time.sleep(1.5)
    assert runs(tmp_path / "runs") == stopped_at  # not restarted after the stop


@pytest.mark.slow
def test_a_stopped_worker_is_not_restarted(tmp_path):
    """SIGTERM to bin/restarting alone (no process group): it is passed on to the command, and
    the loop ends with the command's status instead of starting it again."""
    wrapper = subprocess.Popen(
        [RESTARTING, "sh", "-c", "echo run >> runs; trap 'kill $!; exit 7' TERM; sleep 30 & wait"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: runs(tmp_path / "runs") == 1, timeout=10, what="the first run")
    time.sleep(0.2)  # the trap is set
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=10) == 7
    assert runs(tmp_path / "runs") == 1
    assert "starting it again" not in wrapper.stderr.read()
