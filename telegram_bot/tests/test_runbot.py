"""``manage.py runbot``: refuses to start without a token; runs for real as a subprocess."""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.doubles.telegram_api import TelegramApiDouble

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "424242:E2E-TOKEN"


def test_runbot_without_token_is_a_command_error(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(CommandError, match="TELEGRAM_BOT_TOKEN is empty"):
        call_command("runbot")


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "vpnsite.settings.local",
            "VPNSITE_VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "TELEGRAM_ADMIN_CHAT_IDS": "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@pytest.mark.e2e
def test_runbot_process_without_token_exits_with_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "runbot"],
        cwd=ROOT,
        env=subprocess_env(tmp_path, TELEGRAM_BOT_TOKEN=""),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "CommandError: TELEGRAM_BOT_TOKEN is empty" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
@pytest.mark.slow
def test_runbot_subprocess_answers_start_and_stops_on_sigterm(tmp_path):
    with TelegramApiDouble(token=TOKEN) as api:
        env = subprocess_env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=120,
        )
        log_path = tmp_path / "runbot.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "runbot"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                api.wait_for_calls("getUpdates", timeout=30)
                api.push_message(user_id=8080, text="/start", language_code="en", first_name="Eve")
                reply = api.wait_for_calls(
                    "sendMessage", timeout=20, predicate=lambda c: c.params["chat_id"] == 8080
                )[0]
                proc.send_signal(signal.SIGTERM)
                returncode = proc.wait(timeout=20)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        output = log_path.read_text()

    assert reply.params["text"].startswith("Hello, Eve!"), output
    assert returncode == 0, output
    assert api.commands(language_code="ru"), output  # post_init ran
    assert api.pending_updates == []  # confirmed before exit
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute(
            "SELECT language FROM accounts_customer WHERE telegram_id = 8080"
        ).fetchall() == [("en",)]
