"""Dump the database to BACKUP_DIR, keep the newest BACKUP_KEEP, optionally send to admins."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from console.backups import backup_create, backup_send_to_admins, backups_rotate
from core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Back up the database (pg_dump custom format on PostgreSQL) with rotation."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=None, help="target folder (default BACKUP_DIR)")
        parser.add_argument("--keep", type=int, default=None, help="backups to keep")
        parser.add_argument("--send", action="store_true", help="send to the admin chats")

    def handle(self, *args, dir: str | None, keep: int | None, send: bool, **options):  # noqa: A002
        directory = Path(dir) if dir else None
        try:
            path = backup_create(directory=directory)
        except ApplicationError as exc:
            raise CommandError(f"{exc.message}: {exc.extra.get('stderr', '')}") from None
        removed = backups_rotate(directory=path.parent, keep=keep or settings.BACKUP_KEEP)
        self.stdout.write(self.style.SUCCESS(f"{path} ({path.stat().st_size} bytes)"))
        if removed:
            self.stdout.write(f"rotated out: {', '.join(p.name for p in removed)}")
        if send:
            self.stdout.write(f"sent to {backup_send_to_admins(path=path)} admin chat(s)")
