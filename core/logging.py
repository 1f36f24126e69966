"""Structured logs: one line per record, JSON in production and readable text locally, each
carrying the request / Celery task / bot update it belongs to, with secrets masked.

- Context: `RequestIdMiddleware`, the Celery task signals (vpnsite/celery.py) and the bot's
  application set context variables; every record gets `request_id`, `task_id`, `task_name`
  and `update_id` from them.
- Redaction, in three layers so no path around it is left: a log-record factory masks the
  message and traceback of every record as it is created (any logger, any handler: pytest's
  caplog and Sentry's breadcrumbs see the masked text too); a filter on the root handler masks
  extra fields; the formatters mask what they finally write. Masked: the configured secrets
  (`SECRET_SETTINGS`, provider credentials, database/Redis passwords), anything shaped like a
  Telegram bot token (httpx and urllib3 log Bot API URLs, which carry it), subscription feed
  tokens in `/sub/<token>` paths and URLs (`/sub/AbCd…`: the token alone fetches someone's
  keys), e-mail addresses (`a***@example.com`) and card-like numbers (14-19 digits passing the
  Luhn check), and a request attached to a record (`RedactFilter`).

Nothing here imports Django models; settings are read only once they are configured, the
environment before that (gunicorn's master process logs before Django exists).
"""

from __future__ import annotations

import logging
import logging.config
import os
import re
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pythonjsonlogger.json import JsonFormatter as _JsonFormatterBase

# --- Context -------------------------------------------------------------------------------

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("task_id", default=None)
task_name_var: ContextVar[str | None] = ContextVar("task_name", default=None)
update_id_var: ContextVar[int | None] = ContextVar("update_id", default=None)

CONTEXT_VARS: dict[str, ContextVar] = {
    "request_id": request_id_var,
    "task_id": task_id_var,
    "task_name": task_name_var,
    "update_id": update_id_var,
}

_task_tokens: dict[str, tuple[Token, Token]] = {}


def task_context_enter(*, task_id: str | None, task_name: str | None) -> None:
    """A Celery task starts (task_prerun): its lines carry its id and name."""
    if not task_id:
        return
    _task_tokens[task_id] = (task_id_var.set(task_id), task_name_var.set(task_name))


def task_context_exit(*, task_id: str | None) -> None:
    """The task ended (task_postrun): back to the enclosing context (an eager outer task)."""
    tokens = _task_tokens.pop(task_id or "", None)
    if tokens is None:
        return
    id_token, name_token = tokens
    try:
        task_name_var.reset(name_token)
        task_id_var.reset(id_token)
    except ValueError:  # set in another context (cannot happen in prefork workers)
        task_id_var.set(None)
        task_name_var.set(None)


# --- Redaction -----------------------------------------------------------------------------

REDACTED = "[REDACTED]"
# Setting name -> the environment variable it comes from (read directly before settings exist).
SECRET_SETTINGS: dict[str, str] = {
    "SECRET_KEY": "DJANGO_SECRET_KEY",
    "TELEGRAM_BOT_TOKEN": "TELEGRAM_BOT_TOKEN",
    "ROBOKASSA_PASSWORD1": "ROBOKASSA_PASSWORD1",
    "ROBOKASSA_PASSWORD2": "ROBOKASSA_PASSWORD2",
    "FREEKASSA_SECRET1": "FREEKASSA_SECRET1",
    "FREEKASSA_SECRET2": "FREEKASSA_SECRET2",
    "NODE_SECRET_KEY": "NODE_SECRET_KEY",
    "METRICS_TOKEN": "METRICS_TOKEN",
    "SENTRY_DSN": "SENTRY_DSN",
}
# Shorter values would mask ordinary words; real secrets are far longer.
SECRET_MIN_LENGTH = 6
# Option names in BILLING_PROVIDERS whose values are credentials.
_CREDENTIAL_OPTION = re.compile(r"password|secret|token|key", re.IGNORECASE)

# A bot token is <bot id>:<35 characters>; in Bot API URLs it follows "/bot".
_BOT_TOKEN = re.compile(r"(?<!\d)\d{5,12}:[A-Za-z0-9_-]{30,}")
# Local part, then "@" or its URL encoding, then a domain with a dot.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9])[A-Za-z0-9._%+-]*(@|%40)((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})"
)
# 14 to 19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(r"(?<![\d.])\d(?:[ -]?\d){13,18}(?!\d)")
# A feed path: what follows /sub/ up to the end of the path segment is a token (a real one, a
# mistyped one, garbage); only its first FEED_TOKEN_KEPT characters are kept.
FEED_TOKEN_KEPT = 4
# Ends at whitespace, a path or query delimiter, a quote or a closing bracket.
_FEED_PATH_CHAR = r"[^\s/?#\"'<>,;()\[\]{}\\]"
_FEED_PATH = re.compile(rf"(/sub/)({_FEED_PATH_CHAR}{{1,{FEED_TOKEN_KEPT}}}){_FEED_PATH_CHAR}*")
# Ids whose digit groups can look like a card number: UUIDs (Celery task ids) and 32-digit
# hex ids (our request ids). Card-like runs inside them are left alone.
_HEX_ID = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|[0-9a-fA-F]{32})"
    r"(?![0-9A-Za-z])"
)

_secrets_pattern: re.Pattern | None = None
_secrets_loaded = False


def _env_secret_values() -> list[str]:
    values = [os.environ.get(name, "") for name in SECRET_SETTINGS.values()]
    values += os.environ.get("NODE_SECRET_KEY", "").split(",")
    for url_name in ("DATABASE_URL", "REDIS_URL"):
        values.append(_url_password(os.environ.get(url_name, "")))
    return values


def _url_password(url: str) -> str:
    if not url:
        return ""
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def _settings_secret_values() -> list[str]:
    from django.conf import settings

    values: list[str] = []
    for name in SECRET_SETTINGS:
        value = getattr(settings, name, "")
        values.extend(value if isinstance(value, list | tuple) else [value])
    for _path, options in getattr(settings, "BILLING_PROVIDERS", {}).values():
        values += [str(v) for k, v in options.items() if _CREDENTIAL_OPTION.search(k)]
    for database in settings.DATABASES.values():
        values.append(database.get("PASSWORD") or "")
    values.append(_url_password(getattr(settings, "REDIS_URL", "")))
    return values


def secret_values() -> list[str]:
    """Every configured secret long enough to be masked, longest first."""
    from django.conf import settings

    raw = _settings_secret_values() if settings.configured else _env_secret_values()
    found = {str(v).strip() for v in raw if v and len(str(v).strip()) >= SECRET_MIN_LENGTH}
    return sorted(found, key=len, reverse=True)


def secrets_reset(**kwargs: Any) -> None:
    """Forget the cached secrets (connected to Django's `setting_changed`)."""
    global _secrets_pattern, _secrets_loaded  # noqa: PLW0603 - a process-wide cache
    _secrets_pattern = None
    _secrets_loaded = False


def _secrets_regex() -> re.Pattern | None:
    global _secrets_pattern, _secrets_loaded  # noqa: PLW0603 - a process-wide cache
    if not _secrets_loaded:
        values = secret_values()
        _secrets_pattern = re.compile("|".join(map(re.escape, values))) if values else None
        _secrets_loaded = True
    return _secrets_pattern


def _card_mask(match: re.Match, *, ids: list[tuple[int, int]]) -> str:
    if any(start <= match.start() and match.end() <= end for start, end in ids):
        return match[0]
    digits = re.sub(r"\D", "", match[0])
    if not _luhn_valid(digits):
        return match[0]
    return f"[card ****{digits[-4:]}]"


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def redact(text: str) -> str:
    """`text` with secrets, bot tokens, feed tokens, e-mail addresses and card numbers
    masked."""
    if not text:
        return text
    pattern = _secrets_regex()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    if ":" in text:
        text = _BOT_TOKEN.sub(REDACTED, text)
    if "/sub/" in text:
        text = _FEED_PATH.sub(r"\1\2…", text)
    if "@" in text or "%40" in text:
        text = _EMAIL.sub(r"\1***\2\3", text)
    if any(char.isdigit() for char in text):
        ids = [match.span() for match in _HEX_ID.finditer(text)]
        text = _CARD.sub(lambda match: _card_mask(match, ids=ids), text)
    return text


def redact_data(value: Any, *, depth: int = 0) -> Any:
    """Deep copy of dicts/lists/tuples with every string redacted (Sentry events, extras)."""
    if isinstance(value, str):
        return redact(value)
    if depth > 20:
        return value
    if isinstance(value, dict):
        return {key: redact_data(item, depth=depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return type(value)(redact_data(item, depth=depth + 1) for item in value)
    return value


# --- Records -------------------------------------------------------------------------------

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName", *CONTEXT_VARS}
)
_exception_formatter = logging.Formatter()


def _record_redact(record: logging.LogRecord) -> None:
    """Mask the message (rewritten only when something was masked) and the traceback."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string is the handler's to report
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(_exception_formatter.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _record_context(record: logging.LogRecord) -> None:
    for name, var in CONTEXT_VARS.items():
        if not hasattr(record, name):
            setattr(record, name, var.get())


def record_factory_install() -> None:
    """Mask and contextualise every record at creation, whatever logger or handler it meets."""
    current = logging.getLogRecordFactory()
    if getattr(current, "vpnsite_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            _record_context(record)
            _record_redact(record)
        except Exception:  # noqa: BLE001, S110 - logging must never raise into the caller
            pass
        return record

    factory.vpnsite_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class ContextFilter(logging.Filter):
    """Make sure every record has the context fields (records made before the factory)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _record_context(record)
        return True


def _is_request(value: Any) -> bool:
    """A Django request (duck-typed: this module does not import Django at load)."""
    return isinstance(getattr(value, "path", None), str) and hasattr(value, "get_full_path")


class RedactFilter(logging.Filter):
    """On every handler of the project's logging config: masks message, traceback and extra
    fields of every record, third-party loggers' included. A request attached to the record
    (Django's `django.request` and `django.security` lines) becomes its masked description,
    so no handler (Sentry's included) can read the raw path from it."""

    def filter(self, record: logging.LogRecord) -> bool:
        _record_redact(record)
        for name, value in list(record.__dict__.items()):
            if name in _STANDARD_ATTRS:
                continue
            if isinstance(value, str | dict | list | tuple):
                record.__dict__[name] = redact_data(value)
            elif _is_request(value):
                record.__dict__[name] = redact(repr(value))
        return True


class OneLineWarningFilter(logging.Filter):
    """On a logger: its records become one-line WARNINGs, without traceback.

    For `django.security.DisallowedHost`: Django logs every request with a Host header not in
    ALLOWED_HOSTS at ERROR with a traceback (and Sentry would make an event of each), while
    scanners send them all day and the client already got its 400.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        record.exc_info = None
        record.exc_text = None
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger pid [req=… task=…] message` — the local, human format."""

    default_format = "%(asctime)s %(levelname)s %(name)s %(process)d %(log_context)s%(message)s"

    def __init__(self, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt or self.default_format, datefmt)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """UTC, like the JSON lines (processes differ in their local time zone)."""
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if getattr(record, "request_id", None):
            parts.append(f"req={record.request_id}")
        if getattr(record, "task_id", None):
            parts.append(f"task={record.task_name}[{record.task_id}]")
        if getattr(record, "update_id", None):
            parts.append(f"update={record.update_id}")
        record.log_context = f"[{' '.join(parts)}] " if parts else ""
        return redact(super().format(record))


class JsonFormatter(_JsonFormatterBase):
    """One JSON object per line: time, level, logger, message, process, the context fields that
    are set, extra fields, and the traceback; every string masked."""

    # Django passes the request object to django.request records; its repr holds the query.
    skipped = frozenset({"request", "log_context"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message", "process"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(**kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict):
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        cleaned = {}
        for key, value in log_data.items():
            if key in self.skipped or (key in CONTEXT_VARS and value is None):
                continue
            plain = isinstance(value, str | int | float | bool | dict | list | tuple | None)
            cleaned[key] = redact_data(value if plain else str(value))
        return cleaned

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return redact(super().formatStack(stack_info))


def logging_configure(config: dict) -> None:
    """Django's LOGGING_CONFIG callable (and Celery's setup_logging): dictConfig, then the
    process-wide redacting record factory."""
    logging.config.dictConfig(logging_filters_install(config))
    record_factory_install()
    secrets_reset()  # settings may hold more than the environment read before them
    try:
        from django.core.signals import setting_changed

        setting_changed.connect(secrets_reset, dispatch_uid="core.logging.secrets_reset")
    except ImportError:  # pragma: no cover - gunicorn's master without Django
        pass


def logging_dict(*, log_format: str, level: str, loggers: dict[str, dict]) -> dict[str, Any]:
    """The one dictConfig of the project (Django settings and gunicorn.conf.py share it):
    a console handler in `log_format`; every handler gets the context and redaction filters
    (`logging_filters_install`)."""
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"one_line_warning": {"()": "core.logging.OneLineWarningFilter"}},
        "formatters": {
            "text": {"()": "core.logging.TextFormatter"},
            "json": {"()": "core.logging.JsonFormatter"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": loggers,
    }
    return logging_filters_install(config)


LOGGING_FILTERS = ("context", "redact")


def logging_filters_install(config: dict[str, Any]) -> dict[str, Any]:
    """Put the context and redaction filters first on every handler of `config` (one added
    later by a settings module or gunicorn's config included); returns `config`."""
    filters = config.setdefault("filters", {})
    filters.setdefault("context", {"()": "core.logging.ContextFilter"})
    filters.setdefault("redact", {"()": "core.logging.RedactFilter"})
    for handler in config.get("handlers", {}).values():
        others = [name for name in handler.get("filters", []) if name not in LOGGING_FILTERS]
        handler["filters"] = [*LOGGING_FILTERS, *others]
    return config
