"""Settings shared by every environment; values come from the environment (.env.example)."""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from core.logging import logging_dict
from vpnsite.env import BASE_DIR, VAR_DIR, env

VAR_DIR.mkdir(exist_ok=True)

# --- Django core -------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-insecure-only-for-local-use-change-me")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

INSTALLED_APPS = [
    # The console's theme (django-unfold, docs/console.md): before django.contrib.admin so its
    # templates win; its contrib apps style the filters, form widgets, the CSV export and the
    # runtime settings page (unfold.contrib.constance before constance).
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "unfold.contrib.constance",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "accounts",
    "nodes",
    "subscriptions",
    "billing",
    "notifications",
    "telegram_bot",
    "console",
    "api",
    # Console security: TOTP two-factor and login brute-force protection (docs/console.md).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    # Runtime settings edited in the console (core/runtime_settings.py).
    "constance",
    # Country names in every language (notifications.formatting.country_name).
    "django_countries",
    # CSV export of customers, subscriptions and payments, export only (core/exports.py).
    "import_export",
]

MIDDLEWARE = [
    # First: the request id is on every log line of the request, and the metrics time it all.
    "core.middleware.RequestIdMiddleware",
    "core.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Sets request.user.is_verified() from the OTP device remembered in the session.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

# AxesStandaloneBackend first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "vpnsite.urls"
WSGI_APPLICATION = "vpnsite.wsgi.application"
ASGI_APPLICATION = "vpnsite.asgi.application"
AUTH_USER_MODEL = "accounts.User"
ADMIN_URL = env("DJANGO_ADMIN_URL", default="admin/")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------
# Unset DATABASE_URL -> the embedded SQLite file under var/. Set -> e.g. postgres://... (psycopg 3).
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
# Webhooks manage their own transactions (billing.services.webhooks), so no ATOMIC_REQUESTS.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout lets web, worker, beat and bot share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # An unreachable database host fails a connection attempt in 10 s rather than the
    # kernel's TCP timeout (minutes, past gunicorn's worker timeout); ?connect_timeout=N in
    # DATABASE_URL overrides it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 10)
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not env.bool(
        "DATABASE_JIT", default=False
    ):
        # PostgreSQL's JIT compiles the plans of the console's aggregates (the analytics page,
        # the dashboard) for longer than they run: 3.7 s -> 1.6 s for the analytics page on
        # the bench database (bench/README.md). Off for the project's connections; an
        # `options` in DATABASE_URL or DATABASE_JIT=true leaves the server's setting.
        DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache -------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    # Shared between the processes of the embedded setup (web, worker, beat, bot).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Passwords, i18n, static -------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский"), ("en", "English")]
# Ours first (it wins on a shared msgid; makemessages writes to it), then django-unfold's own
# strings in Russian, which unfold does not ship (docs/console.md, "Language").
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale_unfold"]
TIME_ZONE = env("DJANGO_TIME_ZONE", default="Europe/Moscow")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on a missing root before collectstatic
# Uploaded files (a broadcast's photo): under var/media/ unless MEDIA_ROOT says otherwise
# (compose mounts the `media` volume there). Never served publicly: the console shows a
# photo through a staff-only view (console/admin/broadcasts.py).
MEDIA_ROOT = Path(env("MEDIA_ROOT", default="") or VAR_DIR / "media")
MEDIA_URL = env("MEDIA_URL", default="") or "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Content-Security-Policy -------------------------------------------------------------
# Sent on every response (core.middleware.ContentSecurityPolicyMiddleware; Django 6.0's
# SECURE_CSP shape). Scripts and styles only from our static files: the console, the feed page
# (its QR code is inline SVG, no style) and the payment pages have no inline script or style,
# and neither has Django's admin as we use it (its one inline style is for a ModelAdmin with
# actions_on_top and actions_on_bottom both off: allow that by its 'sha256-…' if one ever is).
# data: images are the admin's icons in CSS.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# The console (DJANGO_ADMIN_URL and below, nothing else) runs django-unfold (docs/console.md
# "Theme"), which needs three things the policy above refuses; it is given exactly those, as
# found by reading unfold's templates and static files and by recording violations in a browser
# (console/tests/admin/test_browser_theme.py):
# - 'unsafe-eval' for scripts: unfold's Alpine.js (the standard build,
#   unfold/static/unfold/js/alpine/alpine.js) evaluates the x-data / x-on / x-show expressions
#   written in unfold's markup with `new AsyncFunction(...)`; Alpine's CSP build cannot run
#   them (it takes only named Alpine.data components), so no unfold page would work. Still no
#   inline <script> and no on*= handler attribute runs: no 'unsafe-inline' for scripts.
# - the theme's colour palette: unfold's page skeleton carries one inline
#   <style id="unfold-theme-colors"> (CSS variables its styles.css refers to). It is allowed by
#   its 'sha256-…' hash, which core.middleware adds to style-src and style-src-elem, computed
#   from unfold's own template (core.admin.unfold_theme_style_hash); no other <style> element
#   is allowed (htmx's indicator <style> is switched off and its rules are in console.css).
# - style *attributes* (style-src-attr 'unsafe-inline'): Alpine writes them (the change list's
#   action bar, `x-bind:style` in unfold's admin/actions.html), and unfold's markup carries some
#   (its readonly JSON is highlighted with inline colours when Pygments is installed). An
#   attribute styles only its own element: unlike a <style> element it cannot select other
#   elements or read their attributes, and img-src keeps url() on our own host.
# The subscriber pages, the feed page, the payment pages, the Mini App and the API docs keep
# SECURE_CSP (core/tests/test_hardening.py).
SECURE_CSP_CONSOLE = {
    **SECURE_CSP,
    "script-src": ["'self'", "'unsafe-eval'"],
    "style-src-elem": ["'self'"],
    "style-src-attr": ["'unsafe-inline'"],
}

# --- Request limits ----------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# --- DRF ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # The operator API's schema (api/, settings/integrations/api.py).
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# --- Logging -----------------------------------------------------------------------------
# One line per record on stderr: `text` for people (default here), `json` for log collectors
# (the production default). Each line carries the request / task / bot update id; secrets,
# e-mail addresses and card numbers are masked in every line, libraries' included
# (core/logging.py; docs/deploy.md, "Logs").
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOG_FORMATS = ("text", "json")
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
# dictConfig plus the record factory that masks secrets in every record.
LOGGING_CONFIG = "core.logging.logging_configure"
LOGGING = logging_dict(
    log_format=LOG_FORMAT,
    level=LOG_LEVEL,
    loggers={
        # Through the root handler only (Django's default adds its own unfiltered one).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # A bad Host header (scanners): one WARNING line, not an ERROR with a traceback.
        "django.security.DisallowedHost": {"filters": ["one_line_warning"]},
        # httpx logs every Bot API URL (with the bot token, masked anyway) at INFO.
        "httpx": {"level": "WARNING"},
        # django-axes announces its configuration in every process at INFO.
        "axes.apps": {"level": "WARNING"},
    },
)

# --- Console security --------------------------------------------------------------------
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
# The database handler: attempts are shared by every web process and survive restarts, on
# SQLite as on PostgreSQL (the cache handler would need Redis to be safe).
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
# AXES_FAILURE_LIMIT failures lock out whichever of these they share: one address guessing one
# account; one address trying many accounts (password spraying); one account guessed from
# many addresses (a botnet). django-axes counts each combination separately.
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"], "ip_address", "username"]
# A locked-out client's further tries are refused without being counted, so a sprayer that
# keeps going after its address is locked cannot also push the usernames it names (a real
# operator's among them) over the limit.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
# The client address behind our reverse proxy, as the payment webhooks resolve it.
AXES_CLIENT_IP_CALLABLE = "console.admin.login.console_client_ip"
# Staff with a confirmed TOTP device always give a code at login; with this flag every
# staff user must have one (https://django-otp-official.readthedocs.io/).
ADMIN_REQUIRE_2FA = env.bool("ADMIN_REQUIRE_2FA", default=False)
# The same for superusers only; on by default in production (settings/production.py). A
# superuser's first device: `python manage.py otp_enrol <username>` (docs/console.md).
ADMIN_REQUIRE_2FA_SUPERUSERS = env.bool("ADMIN_REQUIRE_2FA_SUPERUSERS", default=False)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="vpnsite")

# --- Integrations ------------------------------------------------------------------------
from .integrations.alerts import *  # noqa: E402, F403
from .integrations.api import *  # noqa: E402, F403
from .integrations.backups import *  # noqa: E402, F403
from .integrations.celery import *  # noqa: E402, F403
from .integrations.console import *  # noqa: E402, F403
from .integrations.observability import *  # noqa: E402, F403
from .integrations.payments import *  # noqa: E402, F403
from .integrations.runtime import *  # noqa: E402, F403
from .integrations.subscriptions import *  # noqa: E402, F403
from .integrations.telegram import *  # noqa: E402, F403
from .integrations.x3ui import *  # noqa: E402, F403

# CSV export in the console (django-import-export, core/exports.py): exporting a model needs
# its "export_<model>" permission (and its view permission; docs/console.md).
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
