"""Telegram Mini App ``initData``: checked as Telegram documents it, "Validating data received
via the Mini App" (https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app):

    data_check_string = "\\n".join(sorted(f"{key}={value}" for every field except hash))
    secret_key = HMAC_SHA256(key="WebAppData", msg=bot_token)
    hash == hex(HMAC_SHA256(key=secret_key, msg=data_check_string))

``initData`` is a query string (``auth_date=…&query_id=…&user=%7B…%7D&signature=…&hash=…``);
values are compared URL-decoded. ``signature`` (Telegram's Ed25519 signature for third
parties) is an ordinary field here: it is part of the data-check-string. ``auth_date`` is
Unix time; data older than ``MINIAPP_INIT_DATA_MAX_AGE`` seconds is refused, so a copied
initData stops working (the freshness limit is the replay limit: the same initData is sent
with every call of one Mini App session). Pure: no Django, no database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

# Telegram's initData is well under 1 KB; anything much longer is not one.
MAX_LENGTH = 4096
# A client clock a little ahead of ours is not a forgery.
FUTURE_SKEW_SECONDS = 60
REQUIRED = ("auth_date", "hash", "user")


class InitDataError(ValueError):
    """Why initData was refused: ``code`` is ``init_data_invalid`` or ``init_data_expired``."""

    def __init__(self, message: str, code: str = "init_data_invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class TelegramUser:
    id: int
    username: str
    first_name: str
    last_name: str
    language_code: str


@dataclass(frozen=True)
class InitData:
    user: TelegramUser
    auth_date: int
    query_id: str


def init_data_sign(fields: dict[str, str], *, bot_token: str) -> str:
    """The hex ``hash`` of `fields` (without ``hash``), as Telegram computes it."""
    check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret_key = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret_key, check_string.encode(), hashlib.sha256).hexdigest()


def _text(user: dict, name: str) -> str:
    value = user.get(name) or ""
    if not isinstance(value, str):
        raise InitDataError(f"user.{name} is not a string.")
    return value


def _user(raw: str) -> TelegramUser:
    try:
        user = json.loads(raw)
    except ValueError as exc:
        raise InitDataError("The user field is not JSON.") from exc
    if not isinstance(user, dict):
        raise InitDataError("The user field is not a JSON object.")
    user_id = user.get("id")
    if type(user_id) is not int or user_id <= 0:
        raise InitDataError("The user has no valid id.")
    if user.get("is_bot") is True:
        raise InitDataError("Bots cannot use the Mini App.")
    return TelegramUser(
        id=user_id,
        username=_text(user, "username"),
        first_name=_text(user, "first_name"),
        last_name=_text(user, "last_name"),
        language_code=_text(user, "language_code"),
    )


def init_data_parse(raw: str, *, bot_token: str, max_age: int, now: float) -> InitData:
    """The checked initData, or ``InitDataError``: too long, not a query string, a field
    missing or given twice, a hash that does not match (constant-time compare), an
    ``auth_date`` older than `max_age` seconds (code ``init_data_expired``) or in the
    future, a ``user`` that is not a JSON object with a positive integer id."""
    if not bot_token:
        raise InitDataError("The bot token is not configured.")
    if not raw or len(raw) > MAX_LENGTH:
        raise InitDataError("initData is empty or too long.")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InitDataError("initData is not a query string.") from exc
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InitDataError("A field of initData is given twice.")
    missing = [name for name in REQUIRED if not fields.get(name)]
    if missing:
        raise InitDataError(f"initData lacks {', '.join(missing)}.")
    received = fields.pop("hash")
    expected = init_data_sign(fields, bot_token=bot_token)
    if not hmac.compare_digest(expected.encode(), received.encode("utf-8", "replace")):
        raise InitDataError("initData's hash does not match.")
    auth_date = fields["auth_date"]
    if not auth_date.isascii() or not auth_date.isdigit():
        raise InitDataError("auth_date is not a Unix time.")
    auth_date = int(auth_date)
    if auth_date > now + FUTURE_SKEW_SECONDS:
        raise InitDataError("auth_date is in the future.")
    if now - auth_date > max_age:
        raise InitDataError("initData has expired: reopen the Mini App.", code="init_data_expired")
    return InitData(
        user=_user(fields["user"]), auth_date=auth_date, query_id=fields.get("query_id", "")
    )
