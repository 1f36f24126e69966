"""A feed token alone fetches someone's keys, so `/sub/<token>` is masked to its first 4
characters in every log line: every path a token takes is exercised with every logger at DEBUG
and every captured line (both console formats, record attributes, gunicorn access) is grepped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
from collections.abc import Iterator

import pytest
from django.test import Client
from gunicorn import glogging
from gunicorn.config import Config

from billing.models import Payment
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from core.logging import (
    JsonFormatter,
    TextFormatter,
    logging_dict,
    logging_filters_install,
    redact,
)
from nodes.models import NodeHealth
from nodes.services.health import node_health_check
from nodes.tests.conftest import PASSWORD, USERNAME
from nodes.tests.factories import NodeFactory
from subscriptions.models import Subscription
from subscriptions.tests.factories import SubscriptionFactory

BROWSER = {
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
    "HTTP_ACCEPT": "text/html",
}
CHATTY_LOGGERS = ["httpx", "httpcore", "urllib3", "requests", "celery", "telegram", "django"]


@contextlib.contextmanager
def configured_console() -> Iterator[io.StringIO]:
    """What the project's own root handler (settings.LOGGING) writes, root at DEBUG."""
    root = logging.getLogger()
    handler = next(h for h in root.handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous, level = handler.setStream(stream), root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        handler.setStream(previous)
        root.setLevel(level)


def leaked(token: str, texts: list[str]) -> list[str]:
    """The texts holding any part of `token` beyond the 4 characters a masked path keeps
    (a mistyped token differs in one character: its middle still matches)."""
    middle = token[5:21]
    return [text[:300] for text in texts if middle in text]


@pytest.mark.django_db
def test_feed_tokens_never_reach_a_log_line(  # noqa: PLR0917 - fixtures
    settings,
    providers,
    bot,
    tariffs,
    sim_factory,
    caplog,
    django_capture_on_commit_callbacks,
):
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0  # eager tasks cannot wait
    settings.PAYMENT_PENDING_TTL_MINUTES = 24 * 60
    settings.FEED_REQUESTS_PER_MINUTE = 2
    caplog.set_level(logging.DEBUG)
    for name in CHATTY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    sim = sim_factory(generation="v3")
    node = NodeFactory(
        panel_url=sim.url,
        panel_username=USERNAME,
        panel_password=PASSWORD,
        inbound_id=sim.inbound_id,
        health=NodeHealth.UP,
    )
    client = Client()

    with configured_console() as console:
        # A purchase: the bot sends the feed URL once the payment is credited.
        node_health_check(node=node)
        bot.message("/start", language_code="en")
        bot.press(f"buy:p:{tariffs['month'].pk}:0:robokassa", language_code="en")
        payment = Payment.objects.get()
        params = robokassa_params(payment.pk, "299.00")
        with django_capture_on_commit_callbacks(execute=True):
            assert send(client, ROBOKASSA_URL, params).status_code == 200
        token = Subscription.objects.get().feed_token
        assert any(token in str(call.params) for call in bot.calls("sendMessage"))
        logging.getLogger("subscriptions").info("feed at %s", f"https://x.test/sub/{token}")

        # The feed: an app, a browser, a mistyped token, a guesser, a POST, a stray path.
        assert client.get(f"/sub/{token}").status_code == 200
        assert client.get(f"/sub/{token}", **BROWSER).status_code == 200
        typo = token[:-1] + ("A" if token[-1] != "A" else "B")
        codes = [client.get(f"/sub/{typo}").status_code for _ in range(3)]
        assert codes == [404, 404, 429]
        assert client.post(f"/sub/{token}").status_code == 405
        assert client.get(f"/sub/{token}/extra").status_code == 404
        # runserver's request line goes through the project's handler, not the one Django's
        # default config gives it (configuring "django" resets its child loggers).
        logging.getLogger("django.server").info('"GET /sub/%s HTTP/1.1" 200 12', token)

    written = console.getvalue().splitlines()
    records = caplog.records
    formatted = [JsonFormatter().format(r) for r in records]
    formatted += [TextFormatter().format(r) for r in records]
    # Every attribute a handler may write (the exception object itself is written only as
    # its masked traceback, exc_text).
    attributes = [
        repr({name: value for name, value in vars(record).items() if name != "exc_info"})
        for record in records
    ]
    every_line = [caplog.text, *written, *formatted, *attributes]
    assert leaked(token, every_line) == []
    # The lines are there, masked: Django's 4xx warnings and the access line of the stray path.
    messages = [record.getMessage() for record in records]
    masked = f"/sub/{token[:4]}…"
    assert f"Not Found: {masked}" in messages
    assert f"Too Many Requests: {masked}" in messages
    assert f"Method Not Allowed (POST): {masked}" in messages
    assert any(f"GET {masked}/extra 404" in message for message in messages)
    assert any(masked in line for line in written)
    assert any(f'"GET {masked} HTTP/1.1" 200 12' in line for line in written)


def test_gunicorn_access_lines_mask_feed_tokens():
    """gunicorn's access log (off in gunicorn.conf.py, but one `accesslog` away) in its
    default format: the request line and the path atoms go through the same masking."""
    token = SubscriptionFactory.build().feed_token
    config = Config()
    config.set("accesslog", "-")
    logger = glogging.Logger(config)
    stream = io.StringIO()
    logger.access_log.handlers[0].setStream(stream)
    response = type("Response", (), {"status": "404 Not Found", "sent": 9, "headers": []})()
    request = type(
        "Request",
        (),
        {
            "method": "GET",
            "uri": f"/sub/{token}",
            "path": f"/sub/{token}",
            "query": "",
            "version": (1, 1),
            "headers": [],
        },
    )()
    environ = {
        "REMOTE_ADDR": "203.0.113.9",
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/sub/{token}?a=1",
        "PATH_INFO": f"/sub/{token}",
        "QUERY_STRING": "a=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    logger.access(response, request, environ, dt.timedelta(milliseconds=3))
    line = stream.getvalue()
    assert f"/sub/{token[:4]}…" in line
    assert leaked(token, [line]) == []


def test_every_handler_of_the_logging_config_masks():
    """The filters go on every handler of the config (one added later included)."""
    config = logging_dict(log_format="text", level="INFO", loggers={})
    config["handlers"]["file"] = {"class": "logging.NullHandler", "filters": ["mine"]}
    config["filters"]["mine"] = {"()": "logging.Filter"}
    logging_filters_install(config)
    for handler in config["handlers"].values():
        assert handler["filters"][:2] == ["context", "redact"]
    assert handler["filters"] == ["context", "redact", "mine"]
    assert redact("GET /sub/AbCdEfGhIjKlMnOpQrStUvWx HTTP/1.1") == "GET /sub/AbCd… HTTP/1.1"
    assert redact("(https://vpn.example.com/sub/AbCdEfGh?x=1)") == (
        "(https://vpn.example.com/sub/AbCd…?x=1)"
    )
    assert redact("route /sub/<str:token>") == "route /sub/<str:token>"
    assert redact(redact("/sub/AbCdEfGh")) == "/sub/AbCd…"
