"""A thin Bot API client for the outbox (sync, `requests`). The bot poller uses PTB instead.

Telegram's answers are translated into our own exceptions, so the caller can tell
"retry later" from "never retry":
https://core.telegram.org/bots/api#making-requests
"""

import json
import logging
from typing import Any

import requests
from django.conf import settings

logger = logging.getLogger(__name__)


class TelegramError(Exception):
    """Base of every Bot API failure."""


class TelegramUnavailable(TelegramError):
    """Network error, timeout, 5xx or an unreadable answer: retry with backoff."""


class TelegramRetryAfter(TelegramError):
    """429 Too Many Requests: retry after `retry_after` seconds, not sooner."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class TelegramBlocked(TelegramError):
    """403: the user blocked the bot or deleted the account. Retrying never helps."""


class TelegramRejected(TelegramError):
    """Any other 4xx (bad chat id, malformed markup): the request itself is wrong."""


def _redact(text: str, token: str) -> str:
    return text.replace(token, "<token>") if token else text


def bot_api_call(
    *,
    method: str,
    data: dict[str, Any],
    files: dict[str, tuple[str, bytes, str]] | None = None,
    token: str | None = None,
    base_url: str | None = None,
    timeout: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Call `method` and return its `result`. JSON body, or multipart when `files` is given."""
    token = token if token is not None else settings.TELEGRAM_BOT_TOKEN
    base_url = (base_url or settings.TELEGRAM_API_BASE_URL).rstrip("/")
    timeout = timeout or settings.TELEGRAM_HTTP_TIMEOUT
    url = f"{base_url}/bot{token}/{method}"
    try:
        if files:
            form = {
                k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                for k, v in data.items()
            }
            response = requests.post(url, data=form, files=files, timeout=timeout)
        else:
            response = requests.post(url, json=data, timeout=timeout)
    except requests.RequestException as exc:
        raise TelegramUnavailable(_redact(f"{method}: {exc.__class__.__name__}", token)) from None

    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise TelegramUnavailable(f"{method}: HTTP {response.status_code}, non-JSON answer")

    if response.status_code == 200 and payload.get("ok") is True:
        return payload.get("result") or {}

    description = str(payload.get("description", ""))[:300]
    code = int(payload.get("error_code") or response.status_code)
    message = f"{method}: {code} {description}"
    if code == 429:
        parameters = payload.get("parameters") or {}
        retry_after = parameters.get("retry_after", 1)
        try:
            retry_after = max(float(retry_after), 1.0)
        except (TypeError, ValueError):
            retry_after = 1.0
        raise TelegramRetryAfter(message, retry_after)
    if code == 403:
        raise TelegramBlocked(message)
    if code >= 500:
        raise TelegramUnavailable(message)
    raise TelegramRejected(message)
