"""Tests: eager Celery (unit tests only), a fast hasher, an in-process cache, a fixed bot."""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS

# Development tools (the 3x-ui simulator); never installed in production.
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True

TELEGRAM_BOT_TOKEN = "123456:TEST-TOKEN"  # noqa: S105
TELEGRAM_API_BASE_URL = "http://telegram.test"
TELEGRAM_ADMIN_CHAT_IDS = [900001, 900002]
NODE_SECRET_KEY = []
# Eager tasks cannot wait between retries: fail fast; retry tests override this.
NODE_PROVISION_MAX_RETRIES = 0
