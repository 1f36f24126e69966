"""initData as Telegram signs it, written straight from Telegram's documented formula
(https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app), never
from ``api.initdata``, so tests check the production code against an independent signer."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

from django.conf import settings


def signed_fields(fields: dict[str, str], *, bot_token: str | None = None) -> dict[str, str]:
    """`fields` with the ``hash`` Telegram would add (for our bot, unless `bot_token`)."""
    bot_token = settings.TELEGRAM_BOT_TOKEN if bot_token is None else bot_token
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return {**fields, "hash": hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()}


def tg_user(telegram_id: int, *, language_code: str = "en", **extra) -> dict:
    return {
        "id": telegram_id,
        "first_name": "Alice",
        "username": f"user{telegram_id}",
        "language_code": language_code,
        "allows_write_to_pm": True,
        **extra,
    }


def init_data(
    user: dict | int,
    *,
    auth_date: int | None = None,
    bot_token: str | None = None,
    **extra: str,
) -> str:
    """A query string as Telegram.WebApp.initData is, signed with `bot_token`."""
    if isinstance(user, int):
        user = tg_user(user)
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
        "signature": "6fbdaab833d39f54518bd5c3eb3f511d035e68cb",
        **extra,
    }
    return urlencode(signed_fields(fields, bot_token=bot_token))
