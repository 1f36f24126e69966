"""Local development and the embedded run command: SQLite and the filesystem broker by default."""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# Development tools (manage.py x3ui_simulator); never installed in production.
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]
