"""A local Telegram Bot API for tests: the subset the bot poller and the outbox use.

It speaks api.telegram.org's URL shape and answers, and accepts query, JSON, urlencoded and
multipart parameters, so it serves PTB's long polling, the outbox's ``requests`` calls and a
``manage.py runbot`` subprocess pointed at it with ``TELEGRAM_API_BASE_URL``.

Faithful where a bug could hide: unknown token 401, unknown method 404, ``text`` required and
at most 4096 characters, well-formed HTML with Telegram's tags only, URL buttons of http(s) and
tg:// only, "message is not modified", callback queries answered once, ``getUpdates``
conflicting with a webhook, 403 for a blocked chat; Telegram Stars invoices (XTR: no
``provider_token``, one whole-star price), pre-checkout queries answered once, star refunds
once per charge; ``fail_next`` injects any other error. Out of
process (``python -m tests.doubles.telegram_api --port P``) it is driven through the
``/__double__/`` routes.
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import email.policy
import io
import itertools
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger(__name__)

DEFAULT_TOKEN: Final = "123456:TEST-TOKEN"
TEXT_LIMIT: Final = 4096
CAPTION_LIMIT: Final = 1024
# sendPhoto's limits (https://core.telegram.org/bots/api#sendphoto).
PHOTO_MAX_BYTES: Final = 10 * 1024 * 1024
PHOTO_MAX_DIMENSIONS: Final = 10000
# What an inline keyboard's URL button may open.
URL_BUTTON_SCHEMES: Final = frozenset({"http", "https", "tg"})
# Telegram's defaults when getUpdates is called without allowed_updates.
NOT_DELIVERED_BY_DEFAULT: Final = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
# Parameters that are always plain strings; every other form value is JSON-decoded when it
# parses (python-telegram-bot JSON-encodes non-string values in urlencoded bodies).
STRING_PARAMS: Final = frozenset(
    [
        "text",
        "caption",
        "callback_query_id",
        "parse_mode",
        "url",
        "language_code",
        "description",
        "short_description",
        "inline_message_id",
        "emoji",
        "business_connection_id",
        "secret_token",
        "name",
        "title",
        "payload",
        "currency",
        "provider_token",
        "pre_checkout_query_id",
        "error_message",
        "telegram_payment_charge_id",
    ]
)
# Telegram Stars: the currency, and sendInvoice's limits
# (https://core.telegram.org/bots/api#sendinvoice, https://core.telegram.org/bots/payments-stars).
STARS_CURRENCY: Final = "XTR"
INVOICE_TITLE_LIMIT: Final = 32
INVOICE_DESCRIPTION_LIMIT: Final = 255
INVOICE_PAYLOAD_LIMIT: Final = 128
HTML_TAGS: Final = frozenset(
    [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "tg-emoji",
        "blockquote",
    ]
)
METHODS: Final = (
    "getMe",
    "logOut",
    "close",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "sendMessage",
    "sendPhoto",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "sendInvoice",
    "createInvoiceLink",
    "answerPreCheckoutQuery",
    "refundStarPayment",
    "setChatMenuButton",
    "getChatMenuButton",
)


@dataclass(frozen=True)
class Upload:
    """A file sent as multipart (e.g. ``photo`` of sendPhoto)."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class ApiCall:
    """One request the double received: the method (canonical case) and decoded params."""

    method: str
    params: dict[str, Any]
    token: str
    http_status: int
    at: float


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    raw_body: str | None


class ApiError(Exception):
    """An error answer: becomes ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


class _TelegramHTMLChecker(HTMLParser):
    """Rejects what Telegram's HTML parse mode rejects: unknown tags, unbalanced tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.error = self.error or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f'unexpected end tag "{tag}"'
            return
        self.stack.pop()

    def check(self, text: str) -> str | None:
        self.feed(text)
        self.close()
        if self.error is None and self.stack:
            self.error = f'can\'t find end tag corresponding to start tag "{self.stack[-1]}"'
        return self.error


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_visible(text: str) -> str:
    """`text` in HTML parse mode as the user reads it: tags gone, entities decoded."""
    parser = _VisibleText()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def html_error(text: str) -> str | None:
    """Why Telegram would refuse `text` with parse_mode=HTML, or None."""
    return _TelegramHTMLChecker().check(text)


def _decode_value(key: str, value: str) -> Any:
    if key in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    params: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            params[name] = Upload(filename, part.get_content_type(), payload)
        else:
            params[name] = _decode_value(name, payload.decode("utf-8"))
    return params


def _user(
    *,
    user_id: int,
    first_name: str = "Test",
    last_name: str | None = None,
    username: str | None = None,
    language_code: str | None = "ru",
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name:
        user["last_name"] = last_name
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def _chat(chat_id: int, user: dict[str, Any] | None = None) -> dict[str, Any]:
    if chat_id > 0:
        chat: dict[str, Any] = {"id": chat_id, "type": "private"}
        if user:
            chat.update({k: user[k] for k in ("first_name", "last_name", "username") if k in user})
        return chat
    return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}


class TelegramApiDouble:
    """The Bot API on loopback, in a thread. Start with ``start()`` or ``with``."""

    def __init__(
        self,
        *,
        token: str | None = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "vpnsite_test_bot",
        max_poll_wait: float = 1.0,
    ) -> None:
        """`token` None accepts any token. `max_poll_wait` caps a getUpdates long poll."""
        self.token = token
        self.host = host
        self.port = port
        self.max_poll_wait = max_poll_wait
        bot_id = int(token.split(":", 1)[0]) if token and token.split(":", 1)[0].isdigit() else 1
        self.bot_user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "VPN test bot",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._cond = threading.Condition(threading.RLock())
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._reset_state()

    def start(self) -> TelegramApiDouble:
        double = self

        class Handler(_Handler):
            pass

        Handler.double = double
        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = False  # server_close() joins request threads: none left behind
        self._server = server
        self.port = server.server_address[1]
        self._stopping = False
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"telegram-api-double:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()  # wake long polls so their threads end now
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TelegramApiDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL should be: ``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    def api_url(self, method: str, token: str | None = None) -> str:
        return f"{self.base_url}/bot{token or self.token}/{method}"

    def reset(self) -> None:
        """Forget calls, updates, messages, commands, faults and blocked chats."""
        with self._cond:
            self._reset_state()

    def _reset_state(self) -> None:
        self._calls: list[ApiCall] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._callback_queries: dict[str, bool] = {}  # id -> answered
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # chat_id ("" for the default) -> the MenuButton set (https://core.telegram.org/bots/api#setchatmenubutton)
        self._menu_buttons: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._blocked: set[int] = set()
        self._webhook_url = ""
        self._pre_checkout_queries: dict[str, dict[str, Any] | None] = {}  # id -> answer
        self._charges: dict[str, dict[str, Any]] = {}  # telegram_payment_charge_id -> charge
        self._invoice_ids = itertools.count(1)
        self._invoice_links: dict[str, dict[str, Any]] = {}  # slug -> createInvoiceLink params
        self._photos: dict[str, list[dict[str, Any]]] = {}  # file_id -> the photo's sizes

    @property
    def calls(self) -> list[ApiCall]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Params of every successful sendMessage / sendPhoto, optionally to one chat."""
        return [
            c.params
            for c in self.calls
            if c.method in ("sendMessage", "sendPhoto")
            and c.http_status == 200
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def last_message_id(self, chat_id: int) -> int | None:
        """The newest message the bot sent to `chat_id` (None: none yet)."""
        with self._cond:
            ids = [message_id for (chat, message_id) in self._messages if chat == chat_id]
        return max(ids, default=None)

    def wait_for_calls(
        self,
        method: str,
        *,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Callable[[ApiCall], bool] | None = None,
    ) -> list[ApiCall]:
        """Block until `count` calls of `method` (matching `predicate`) arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [
                    c
                    for c in self._calls
                    if c.method.lower() == method.lower() and (predicate is None or predicate(c))
                ]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [c.method for c in self._calls]
                    raise AssertionError(
                        f"expected {count} {method} call(s) within {timeout}s, "
                        f"got {len(found)}; calls so far: {seen}"
                    )
                self._cond.wait(remaining)

    def commands(self, *, language_code: str = "", scope: dict | None = None) -> list[dict]:
        """The command list last set for this scope and language (empty if none)."""
        with self._cond:
            return list(self._commands.get((self._scope_key(scope), language_code), []))

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates. Gets an ``update_id`` unless it has one."""
        with self._cond:
            update = dict(update)
            update.setdefault("update_id", next(self._update_ids))
            callback = update.get("callback_query")
            if callback:
                self._callback_queries.setdefault(callback["id"], False)
                message = callback.get("message")
                if message and message.get("date"):
                    self._messages.setdefault(
                        (message["chat"]["id"], message["message_id"]), message
                    )
            self._updates.append(update)
            self._cond.notify_all()
            return update

    def message_update(
        self,
        *,
        user_id: int,
        text: str | None = None,
        sticker: bool = False,
        chat_id: int | None = None,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
    ) -> dict[str, Any]:
        """An update with a message from a user (not queued). A leading /command gets its
        ``bot_command`` entity, as Telegram adds it."""
        user = _user(
            user_id=user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        with self._cond:
            update_id = next(self._update_ids)
            message_id = next(self._message_ids)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _chat(chat_id or user_id, user),
            "from": user,
        }
        if sticker:
            message["sticker"] = {
                "file_id": "CAACAgIAAxkBAAE",
                "file_unique_id": "AgADAQAD",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "👍",
            }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                message["entities"] = [
                    {
                        "type": "bot_command",
                        "offset": 0,
                        "length": len(command.encode("utf-16-le")) // 2,
                    }
                ]
        return {"update_id": update_id, "message": message}

    def callback_update(
        self,
        *,
        user_id: int,
        data: str,
        message_id: int | None = None,
        message_text: str = "Menu",
        reply_markup: dict | None = None,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "ru",
    ) -> dict[str, Any]:
        """An update with a button press on a bot message in the user's chat (not queued).

        Without `message_id` the pressed message is a new bot message the double knows,
        so the bot can edit it."""
        user = _user(
            user_id=user_id, first_name=first_name, username=username, language_code=language_code
        )
        with self._cond:
            update_id = next(self._update_ids)
            if message_id is None:
                message_id = next(self._message_ids)
            message = self._messages.get((user_id, message_id)) or {
                "message_id": message_id,
                "date": int(time.time()) - 60,
                "chat": _chat(user_id, user),
                "from": self.bot_user,
                "text": message_text,
                **({"reply_markup": reply_markup} if reply_markup else {}),
            }
            self._messages.setdefault((user_id, message_id), message)
            query_id = str(secrets.randbits(63))
            self._callback_queries[query_id] = False
        return {
            "update_id": update_id,
            "callback_query": {
                "id": query_id,
                "from": user,
                "message": message,
                "chat_instance": str(-user_id),
                "data": data,
            },
        }

    def my_chat_member_update(
        self, *, user_id: int, status: str = "kicked", old_status: str = "member"
    ) -> dict[str, Any]:
        """The user blocked (``kicked``) or unblocked (``member``) the bot (not queued)."""
        user = _user(user_id=user_id)
        with self._cond:
            update_id = next(self._update_ids)
        member_old: dict[str, Any] = {"status": old_status, "user": self.bot_user}
        member_new: dict[str, Any] = {"status": status, "user": self.bot_user}
        if status == "kicked":
            member_new["until_date"] = 0
        if old_status == "kicked":
            member_old["until_date"] = 0
        return {
            "update_id": update_id,
            "my_chat_member": {
                "chat": _chat(user_id, user),
                "from": user,
                "date": int(time.time()),
                "old_chat_member": member_old,
                "new_chat_member": member_new,
            },
        }

    def pre_checkout_update(
        self,
        *,
        user_id: int,
        payload: str,
        total_amount: int,
        currency: str = STARS_CURRENCY,
        language_code: str | None = "ru",
    ) -> dict[str, Any]:
        """The buyer confirmed an invoice: a ``pre_checkout_query`` the bot must answer
        (not queued; https://core.telegram.org/bots/api#precheckoutquery)."""
        user = _user(user_id=user_id, language_code=language_code)
        with self._cond:
            update_id = next(self._update_ids)
            query_id = str(secrets.randbits(63))
            self._pre_checkout_queries[query_id] = None
        return {
            "update_id": update_id,
            "pre_checkout_query": {
                "id": query_id,
                "from": user,
                "currency": currency,
                "total_amount": total_amount,
                "invoice_payload": payload,
            },
        }

    def successful_payment_update(
        self,
        *,
        user_id: int,
        payload: str,
        total_amount: int,
        currency: str = STARS_CURRENCY,
        charge_id: str | None = None,
        language_code: str | None = "ru",
    ) -> dict[str, Any]:
        """The stars were taken: a service message with ``successful_payment`` (not queued;
        https://core.telegram.org/bots/api#successfulpayment). The charge is remembered for
        ``refundStarPayment``; the same `charge_id` again is a redelivery of that payment."""
        user = _user(user_id=user_id, language_code=language_code)
        charge_id = charge_id or f"stxCharge{secrets.token_hex(12)}"
        with self._cond:
            update_id = next(self._update_ids)
            message_id = next(self._message_ids)
            self._charges.setdefault(
                charge_id,
                {
                    "user_id": user_id,
                    "amount": total_amount,
                    "currency": currency,
                    "refunded": False,
                },
            )
        return {
            "update_id": update_id,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": _chat(user_id, user),
                "from": user,
                "successful_payment": {
                    "currency": currency,
                    "total_amount": total_amount,
                    "invoice_payload": payload,
                    "telegram_payment_charge_id": charge_id,
                    "provider_payment_charge_id": "",
                },
            },
        }

    def push_pre_checkout(self, **kwargs: Any) -> dict[str, Any]:
        """Queue a pre-checkout query; takes the arguments of ``pre_checkout_update``."""
        return self.push_update(self.pre_checkout_update(**kwargs))

    def push_successful_payment(self, **kwargs: Any) -> dict[str, Any]:
        """Queue a paid invoice; takes the arguments of ``successful_payment_update``."""
        return self.push_update(self.successful_payment_update(**kwargs))

    def sent_invoices(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Params of every successful sendInvoice, optionally to one chat."""
        return [
            c.params
            for c in self.calls_to("sendInvoice")
            if c.http_status == 200 and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def invoice_link(self, slug: str) -> dict[str, Any] | None:
        """The params of the createInvoiceLink call that made ``https://t.me/$<slug>``."""
        with self._cond:
            return self._invoice_links.get(slug)

    def pre_checkout_answer(self, query_id: str) -> dict[str, Any] | None:
        """How the bot answered a pre-checkout query (``ok``, ``error_message``), or None."""
        with self._cond:
            answer = self._pre_checkout_queries.get(query_id)
        return dict(answer) if answer is not None else None

    def charge(self, charge_id: str) -> dict[str, Any] | None:
        """A Stars charge made by ``successful_payment_update``: user, amount, refunded."""
        with self._cond:
            charge = self._charges.get(charge_id)
        return dict(charge) if charge is not None else None

    def push_message(self, **kwargs: Any) -> dict[str, Any]:
        """Queue a message update; takes the arguments of ``message_update``."""
        return self.push_update(self.message_update(**kwargs))

    def push_callback(self, **kwargs: Any) -> dict[str, Any]:
        """Queue a button press; takes the arguments of ``callback_update``."""
        return self.push_update(self.callback_update(**kwargs))

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        with self._cond:
            return list(self._updates)

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        description: str = "Internal Server Error",
        retry_after: int | None = None,
        raw_body: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with an error (or a raw non-JSON body)."""
        with self._cond:
            queue = self._faults.setdefault(method.lower(), deque())
            for _ in range(times):
                queue.append(_Fault(status, description, retry_after, raw_body))

    def block_chat(self, chat_id: int) -> None:
        """The user blocked the bot: sends to `chat_id` get 403."""
        with self._cond:
            self._blocked.add(chat_id)

    def _record(self, method: str, params: dict[str, Any], token: str, status: int) -> None:
        with self._cond:
            self._calls.append(ApiCall(method, params, token, status, time.monotonic()))
            self._cond.notify_all()

    def _take_fault(self, method: str) -> _Fault | None:
        with self._cond:
            queue = self._faults.get(method.lower())
            return queue.popleft() if queue else None

    def handle(self, token: str, method_name: str, params: dict[str, Any]) -> tuple[int, Any]:
        """Run one API method. Returns (HTTP status, JSON-able body or a raw str)."""
        canonical = {m.lower(): m for m in METHODS}.get(method_name.lower(), method_name)
        status, body = self._dispatch(token, canonical, params)
        self._record(canonical, params, token, status)
        return status, body

    def _dispatch(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        if self.token is not None and token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        fault = self._take_fault(method)
        if fault is not None:
            if fault.raw_body is not None:
                return fault.status, fault.raw_body
            body: dict[str, Any] = {
                "ok": False,
                "error_code": fault.status,
                "description": fault.description,
            }
            if fault.retry_after is not None:
                body["parameters"] = {"retry_after": fault.retry_after}
            return fault.status, body
        handler = getattr(self, f"_api_{_snake(method)}", None) if method in METHODS else None
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        try:
            result = handler(params)
        except ApiError as exc:
            error: dict[str, Any] = {
                "ok": False,
                "error_code": exc.code,
                "description": exc.description,
            }
            if exc.parameters:
                error["parameters"] = exc.parameters
            return exc.code, error
        return 200, {"ok": True, "result": result}

    @staticmethod
    def _require(params: dict[str, Any], *names: str) -> None:
        for name in names:
            if params.get(name) in (None, ""):
                raise ApiError(400, f"Bad Request: {name} is empty")

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not scope:
            return "default"
        if isinstance(scope, str):
            scope = json.loads(scope)
        return ":".join(str(scope.get(k, "")) for k in ("type", "chat_id", "user_id")).rstrip(":")

    def _check_chat(self, chat_id: Any) -> int:
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    @staticmethod
    def _check_markup(params: dict[str, Any]) -> dict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
                # A URL button opens an HTTP or tg:// URL only
                # (https://core.telegram.org/bots/api#inlinekeyboardbutton); Telegram's answer
                # to an app's scheme, as reported in
                # https://github.com/BEDOLAGA-DEV/remnawave-bedolaga-telegram-bot/issues/1564.
                url = button.get("url")
                if url is not None and urlsplit(str(url)).scheme.lower() not in URL_BUTTON_SCHEMES:
                    raise ApiError(
                        400,
                        f"Bad Request: inline keyboard button URL '{url}' is invalid: "
                        "Unsupported URL protocol",
                    )
        return markup

    @staticmethod
    def _check_text(text: Any, parse_mode: Any, limit: int, what: str = "message text") -> str:
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, f"Bad Request: {what} is empty")
        html = str(parse_mode or "").upper() == "HTML"
        if html:
            problem = html_error(text)
            if problem:
                raise ApiError(400, f"Bad Request: can't parse entities: {problem}")
        # Telegram counts the length after entities parsing: tags do not count.
        if len(_html_visible(text) if html else text) > limit:
            raise ApiError(400, f"Bad Request: {what} is too long")
        return text

    def _new_message(self, chat_id: int, **content: Any) -> dict[str, Any]:
        with self._cond:
            message = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": _chat(chat_id),
                "from": self.bot_user,
                **{k: v for k, v in content.items() if v is not None},
            }
            self._messages[(chat_id, message["message_id"])] = message
        return message

    def _find_message(self, params: dict[str, Any]) -> dict[str, Any] | None:
        if params.get("inline_message_id"):
            return None
        self._require(params, "message_id")
        chat_id = self._check_chat(params.get("chat_id"))
        with self._cond:
            message = self._messages.get((chat_id, params["message_id"]))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    def _api_get_me(self, params: dict[str, Any]) -> Any:
        return self.bot_user

    def _api_log_out(self, params: dict[str, Any]) -> Any:
        return True

    def _api_close(self, params: dict[str, Any]) -> Any:
        return True

    def _api_set_webhook(self, params: dict[str, Any]) -> Any:
        self._require(params, "url")
        with self._cond:
            self._webhook_url = str(params["url"])
        return True

    def _api_delete_webhook(self, params: dict[str, Any]) -> Any:
        with self._cond:
            self._webhook_url = ""
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _api_get_webhook_info(self, params: dict[str, Any]) -> Any:
        with self._cond:
            return {
                "url": self._webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    def _api_get_updates(self, params: dict[str, Any]) -> Any:
        offset = params.get("offset")
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates") or []
        deadline = time.monotonic() + min(timeout, self.max_poll_wait)
        with self._cond:
            if self._webhook_url:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if isinstance(offset, int) and offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]

            def deliverable() -> list[dict[str, Any]]:
                kept = []
                for update in self._updates:
                    kind = next(k for k in update if k != "update_id")
                    if (allowed and kind in allowed) or (
                        not allowed and kind not in NOT_DELIVERED_BY_DEFAULT
                    ):
                        kept.append(update)
                return kept

            while not (ready := deliverable()) and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return ready[:limit]

    def _api_send_message(self, params: dict[str, Any]) -> Any:
        chat_id = self._check_chat(params.get("chat_id"))
        text = self._check_text(params.get("text"), params.get("parse_mode"), TEXT_LIMIT)
        markup = self._check_markup(params)
        return self._new_message(chat_id, text=text, reply_markup=markup)

    def _api_send_photo(self, params: dict[str, Any]) -> Any:
        """https://core.telegram.org/bots/api#sendphoto: ``photo`` is an upload (multipart;
        at most 10 MB, width + height at most 10000, ratio at most 20), a ``file_id`` this
        bot got before (the same photo again, same sizes) or an HTTP URL; caption at most
        1024 characters after entities parsing."""
        chat_id = self._check_chat(params.get("chat_id"))
        photo = params.get("photo")
        if photo in (None, ""):
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption = params.get("caption")
        if caption is not None:
            self._check_text(caption, params.get("parse_mode"), CAPTION_LIMIT, "caption")
        markup = self._check_markup(params)
        if isinstance(photo, Upload):
            sizes = self._photo_upload(photo)
        elif isinstance(photo, str) and photo in self._photos:
            sizes = self._photos[photo]
        elif isinstance(photo, str) and urlsplit(photo).scheme in {"http", "https"}:
            sizes = self._photo_sizes(1280, 720)
        else:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        return self._new_message(chat_id, photo=sizes, caption=caption, reply_markup=markup)

    def _photo_upload(self, upload: Upload) -> list[dict[str, Any]]:
        if upload.size > PHOTO_MAX_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        try:
            from PIL import Image  # a test double: Pillow is there (qrcode[pil])

            with Image.open(io.BytesIO(upload.data)) as image:
                width, height = image.size
        except Exception:  # noqa: BLE001 - anything Pillow cannot read is not a photo
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None
        if width + height > PHOTO_MAX_DIMENSIONS or max(width, height) > 20 * min(width, height):
            raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        return self._photo_sizes(width, height)

    def _photo_sizes(self, width: int, height: int) -> list[dict[str, Any]]:
        """The sizes Telegram makes of a new photo (a thumbnail and the photo); each
        file_id can be sent again."""
        unique = secrets.token_hex(6)
        sizes = []
        for side in (90, max(width, height)):
            scale = min(1.0, side / max(width, height))
            size = {
                "file_id": f"photo-{unique}-{side}",
                "file_unique_id": f"{unique}{side}",
                "width": max(1, round(width * scale)),
                "height": max(1, round(height * scale)),
            }
            sizes.append(size)
        with self._cond:
            for size in sizes:
                self._photos[size["file_id"]] = sizes
        return sizes

    def _api_edit_message_text(self, params: dict[str, Any]) -> Any:
        text = self._check_text(params.get("text"), params.get("parse_mode"), TEXT_LIMIT)
        markup = self._check_markup(params)
        message = self._find_message(params)
        if message is None:
            return True
        with self._cond:
            if "text" not in message:
                raise ApiError(400, "Bad Request: there is no text in the message to edit")
            if message.get("text") == text and message.get("reply_markup") == markup:
                raise ApiError(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            message["text"] = text
            message["edit_date"] = int(time.time())
            if markup is None:
                message.pop("reply_markup", None)
            else:
                message["reply_markup"] = markup
            return dict(message)

    def _api_edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        markup = self._check_markup(params)
        message = self._find_message(params)
        if message is None:
            return True
        with self._cond:
            if message.get("reply_markup") == markup:
                raise ApiError(400, "Bad Request: message is not modified")
            if markup is None:
                message.pop("reply_markup", None)
            else:
                message["reply_markup"] = markup
            message["edit_date"] = int(time.time())
            return dict(message)

    def _api_answer_callback_query(self, params: dict[str, Any]) -> Any:
        self._require(params, "callback_query_id")
        with self._cond:
            query_id = str(params["callback_query_id"])
            if self._callback_queries.get(query_id, True):  # unknown or answered already
                raise ApiError(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID "
                    "is invalid",
                )
            self._callback_queries[query_id] = True
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _api_send_invoice(self, params: dict[str, Any]) -> Any:
        """Only Telegram Stars invoices: currency XTR, ``provider_token`` empty or left out,
        exactly one price of a positive whole number of stars."""
        chat_id = self._check_chat(params.get("chat_id"))
        invoice = self._check_invoice(params)
        markup = self._check_markup(params)
        return self._new_message(chat_id, invoice=invoice, reply_markup=markup)

    def _api_create_invoice_link(self, params: dict[str, Any]) -> Any:
        """sendInvoice's checks without a chat; the link is ``https://t.me/$<slug>``
        (https://core.telegram.org/bots/api#createinvoicelink), as Telegram returns it."""
        self._check_invoice(params)
        slug = f"invoice{next(self._invoice_ids)}"
        self._invoice_links[slug] = dict(params)
        return f"https://t.me/${slug}"

    @staticmethod
    def _check_invoice(params: dict[str, Any]) -> dict[str, Any]:
        TelegramApiDouble._require(params, "title", "description", "payload", "currency")
        title, description = str(params["title"]), str(params["description"])
        if len(title) > INVOICE_TITLE_LIMIT:
            raise ApiError(400, "Bad Request: INVOICE_TITLE_INVALID")
        if len(description) > INVOICE_DESCRIPTION_LIMIT:
            raise ApiError(400, "Bad Request: INVOICE_DESCRIPTION_INVALID")
        if len(str(params["payload"]).encode()) > INVOICE_PAYLOAD_LIMIT:
            raise ApiError(400, "Bad Request: INVOICE_PAYLOAD_INVALID")
        if params["currency"] != STARS_CURRENCY:
            raise ApiError(400, "Bad Request: this double sells for Telegram Stars (XTR) only")
        if params.get("provider_token"):
            raise ApiError(400, "Bad Request: provider_token must be empty for Telegram Stars")
        prices = params.get("prices")
        if not isinstance(prices, list) or len(prices) != 1:
            raise ApiError(400, "Bad Request: STARS_INVOICE_INVALID")
        amount = prices[0].get("amount") if isinstance(prices[0], dict) else None
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise ApiError(400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        if not str(prices[0].get("label") or ""):
            raise ApiError(400, "Bad Request: price label is empty")
        return {
            "title": title,
            "description": description,
            "start_parameter": "",
            "currency": STARS_CURRENCY,
            "total_amount": amount,
        }

    def _api_answer_pre_checkout_query(self, params: dict[str, Any]) -> Any:
        self._require(params, "pre_checkout_query_id")
        ok = params.get("ok")
        if not isinstance(ok, bool):
            raise ApiError(400, "Bad Request: ok is required")
        if not ok and not str(params.get("error_message") or "").strip():
            raise ApiError(400, "Bad Request: error_message is required when ok is False")
        with self._cond:
            query_id = str(params["pre_checkout_query_id"])
            if query_id not in self._pre_checkout_queries or self._pre_checkout_queries[query_id]:
                raise ApiError(400, "Bad Request: QUERY_ID_INVALID")
            self._pre_checkout_queries[query_id] = {
                "ok": ok,
                "error_message": params.get("error_message"),
            }
        return True

    def _api_refund_star_payment(self, params: dict[str, Any]) -> Any:
        """Errors as https://core.telegram.org/method/payments.refundStarsCharge lists them;
        an unknown charge id's answer is not documented there (this double's guess)."""
        self._require(params, "user_id")
        if not str(params.get("telegram_payment_charge_id") or ""):
            raise ApiError(400, "Bad Request: CHARGE_ID_EMPTY")
        with self._cond:
            charge = self._charges.get(str(params["telegram_payment_charge_id"]))
            if charge is None:
                raise ApiError(400, "Bad Request: CHARGE_NOT_FOUND")
            if charge["user_id"] != params["user_id"]:
                raise ApiError(400, "Bad Request: USER_ID_INVALID")
            if charge["refunded"]:
                raise ApiError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
            charge["refunded"] = True
        return True

    def _api_set_my_commands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            name = str(command.get("command", ""))
            if not (1 <= len(name) <= 32 and name.replace("_", "").isalnum() and name.islower()):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        with self._cond:
            self._commands[key] = list(commands)
        return True

    def _api_set_chat_menu_button(self, params: dict[str, Any]) -> Any:
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in {
            "commands",
            "web_app",
            "default",
        }:
            raise ApiError(400, "Bad Request: can't parse menu button JSON object")
        if button["type"] == "web_app":
            url = str((button.get("web_app") or {}).get("url", ""))
            # WebAppInfo.url: "An HTTPS URL of a Web App" (https://core.telegram.org/bots/api#webappinfo).
            if not url.startswith("https://") or not 1 <= len(str(button.get("text", ""))) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
        with self._cond:
            self._menu_buttons[str(params.get("chat_id") or "")] = button
        return True

    def _api_get_chat_menu_button(self, params: dict[str, Any]) -> Any:
        return self.menu_button(chat_id=params.get("chat_id"))

    def menu_button(self, *, chat_id: int | None = None) -> dict[str, Any]:
        """The menu button last set for `chat_id` (None: the default), else commands."""
        with self._cond:
            return dict(self._menu_buttons.get(str(chat_id or ""), {"type": "commands"}))

    def _api_get_my_commands(self, params: dict[str, Any]) -> Any:
        return self.commands(
            language_code=str(params.get("language_code") or ""), scope=params.get("scope")
        )

    def _api_delete_my_commands(self, params: dict[str, Any]) -> Any:
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        with self._cond:
            self._commands.pop(key, None)
        return True

    def control(self, verb: str, action: str, body: Any) -> tuple[int, Any]:
        if verb == "GET" and action == "calls":
            calls = [
                {"method": c.method, "params": _jsonable(c.params), "status": c.http_status}
                for c in self.calls
            ]
            return 200, {"ok": True, "result": calls}
        if verb == "POST" and action == "updates":
            updates = body if isinstance(body, list) else [body]
            return 200, {"ok": True, "result": [self.push_update(u) for u in updates]}
        if verb == "POST" and action == "reset":
            self.reset()
            return 200, {"ok": True, "result": True}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}


def _snake(method: str) -> str:
    """``sendMessage`` -> ``send_message``: the double's handler for a Bot API method."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", method).lower()


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: {"filename": v.filename, "content_type": v.content_type, "size": v.size}
        if isinstance(v, Upload)
        else v
        for k, v in params.items()
    }


class _Handler(BaseHTTPRequestHandler):
    double: TelegramApiDouble
    # One request per connection: server_close() never waits on an idle keep-alive socket.
    protocol_version = "HTTP/1.0"
    timeout = 10  # seconds a client may take to send its request
    server_version = "TelegramApiDouble/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _read_params(self, query: str) -> dict[str, Any]:
        params: dict[str, Any] = {k: _decode_value(k, v) for k, v in parse_qsl(query)}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not body:
            return params
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            loaded = json.loads(body)
            if not isinstance(loaded, dict):
                raise ApiError(400, "Bad Request: parameters must be a JSON object")
            params.update(loaded)
        elif content_type.startswith("multipart/form-data"):
            params.update(_parse_multipart(content_type, body))
        else:
            params.update(
                {k: _decode_value(k, v) for k, v in parse_qsl(body.decode("utf-8"), True)}
            )
        return params

    def _serve(self, verb: str) -> None:
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        try:
            if len(segments) == 2 and segments[0] == "__double__":
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = self.double.control(verb, segments[1], json.loads(raw or b"null"))
            elif len(segments) == 2 and segments[0].startswith("bot"):
                params = self._read_params(parts.query)
                status, body = self.double.handle(segments[0][3:], segments[1], params)
            else:
                status, body = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        except ApiError as exc:
            status, body = exc.code, {"ok": False, "error_code": exc.code, "description": str(exc)}
        except (ValueError, UnicodeDecodeError) as exc:
            status = 400
            body = {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}
        if isinstance(body, str):
            payload, content_type = body.encode(), "text/html; charset=utf-8"
        else:
            payload = json.dumps(body, ensure_ascii=False).encode()
            content_type = "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (a cancelled long poll)
            self.wfile.write(payload)


def main(argv: Iterable[str] | None = None) -> None:
    """Run the double in the foreground: ``python -m tests.doubles.telegram_api --port P``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this token (default: any)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO)
    double = TelegramApiDouble(token=args.token, port=args.port).start()
    print(f"Bot API double on {double.base_url} (Ctrl+C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        double.stop()


if __name__ == "__main__":
    main()
