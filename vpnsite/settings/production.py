"""Production: secrets have no defaults, the database must be real, cookies and HSTS are secure."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, LOG_FORMATS, LOGGING, env


def _required(name: str) -> str:
    value = env(name, default="")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in production")
    return value


DEBUG = False
SECRET_KEY = _required("DJANGO_SECRET_KEY")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("dev-insecure"):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a random string of 50+ characters")
ALLOWED_HOSTS = [h.strip() for h in _required("DJANGO_ALLOWED_HOSTS").split(",") if h.strip()]
# The compose healthcheck probes http://127.0.0.1:8000/readyz from inside the container; the
# port is bound to loopback, so only the host itself can send these names.
ALLOWED_HOSTS += [host for host in ("127.0.0.1", "localhost") if host not in ALLOWED_HOSTS]
if not env("DATABASE_URL", default=""):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL in production")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured("production needs a real database (PostgreSQL), not SQLite")

# --- HTTPS -------------------------------------------------------------------------------
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto, turn this on (and only then:
# otherwise a client could claim https itself).
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Probes and scrapes arrive over plain HTTP inside the compose network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=60 * 60 * 12)
# https://docs.djangoproject.com/en/5.2/ref/middleware/#http-strict-transport-security
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Console ---------------------------------------------------------------------------
# Superusers must log in with a TOTP code (enrol with `manage.py otp_enrol`; docs/console.md).
ADMIN_REQUIRE_2FA_SUPERUSERS = env.bool("ADMIN_REQUIRE_2FA_SUPERUSERS", default=True)

# --- Logs --------------------------------------------------------------------------------
# JSON lines for the log collector unless LOG_FORMAT=text (core/logging.py).
LOG_FORMAT = env("LOG_FORMAT", default="json")
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
