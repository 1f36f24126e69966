"""Database backups (console/backups.py, `manage.py backup_db`, a daily beat task at
BACKUP_HOUR_UTC, scheduled in celery.py)."""

from vpnsite.env import VAR_DIR, env

BACKUP_DIR = env("BACKUP_DIR", default=str(VAR_DIR / "backups"))
BACKUP_KEEP = env.int("BACKUP_KEEP", default=14)
BACKUP_SEND_TO_ADMINS = env.bool("BACKUP_SEND_TO_ADMINS", default=False)
# Telegram bots may send documents up to 50 MB.
BACKUP_SEND_MAX_BYTES = env.int("BACKUP_SEND_MAX_BYTES", default=45 * 1024 * 1024)
