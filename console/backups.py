"""Database backups: `pg_dump` custom format (PostgreSQL) or SQLite's online backup, rotated.

Restore a PostgreSQL dump into an empty database with
`pg_restore --no-owner --dbname <url> <file>` (README, "Backups").
"""

import logging
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils import timezone

from core.exceptions import ApplicationError
from notifications.telegram_api import TelegramError, bot_api_call

logger = logging.getLogger(__name__)

BACKUP_PREFIX = "vpnsite-"
PG_DUMP_TIMEOUT = 60 * 60


def backup_directory() -> Path:
    directory = Path(settings.BACKUP_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _pg_env(db: dict) -> dict[str, str]:
    """libpq environment: the password never appears on a command line or in logs."""
    env = {**os.environ}
    for key, name in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER")):
        if db.get(key):
            env[name] = str(db[key])
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    env["PGDATABASE"] = db["NAME"]
    return env


def backup_create(*, directory: Path | None = None, now: datetime | None = None) -> Path:
    """Dump the default database into `directory` and return the file's path."""
    directory = directory or backup_directory()
    directory.mkdir(parents=True, exist_ok=True)
    stamp = (now or timezone.now()).strftime("%Y%m%d-%H%M%S")
    db = settings.DATABASES["default"]
    if connections["default"].vendor == "postgresql":
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise ApplicationError("pg_dump is not installed (Debian: postgresql-client)")
        target = directory / f"{BACKUP_PREFIX}{stamp}.dump"
        partial = target.with_suffix(".dump.partial")
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [pg_dump, "--format=custom", "--no-owner", "--no-acl", f"--file={partial}"],
            env=_pg_env(db),
            capture_output=True,
            text=True,
            timeout=PG_DUMP_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise ApplicationError("pg_dump failed", {"stderr": result.stderr[-2000:]})
        partial.rename(target)
    else:
        target = directory / f"{BACKUP_PREFIX}{stamp}.sqlite3"
        source = sqlite3.connect(db["NAME"])
        try:
            with sqlite3.connect(target) as dest:
                source.backup(dest)
        finally:
            source.close()
    target.chmod(0o600)
    logger.info("backup written: %s (%s bytes)", target.name, target.stat().st_size)
    return target


def backups_rotate(*, directory: Path | None = None, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups; returns what was deleted."""
    directory = directory or backup_directory()
    backups = sorted(
        (p for p in directory.glob(f"{BACKUP_PREFIX}*") if not p.name.endswith(".partial")),
        key=lambda p: p.name,
        reverse=True,
    )
    removed = backups[max(keep, 1) :]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def backup_send_to_admins(*, path: Path) -> int:
    """Send the file to the admin chats when it is small enough; returns chats reached."""
    size = path.stat().st_size
    if size > settings.BACKUP_SEND_MAX_BYTES or not settings.TELEGRAM_BOT_TOKEN:
        return 0
    sent = 0
    data = path.read_bytes()
    for chat_id in settings.TELEGRAM_ADMIN_CHAT_IDS:
        try:
            bot_api_call(
                method="sendDocument",
                data={"chat_id": chat_id, "caption": f"Backup {path.name} ({size} bytes)"},
                files={"document": (path.name, data, "application/octet-stream")},
            )
            sent += 1
        except TelegramError as exc:
            logger.warning("backup %s not sent to %s: %s", path.name, chat_id, exc)
    return sent
