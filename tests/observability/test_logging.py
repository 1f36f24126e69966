"""Structured logs: request / task / update ids on every line, and no secret, full e-mail
address or card number in any line, from our code or from libraries."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator

import pytest
from celery import shared_task

from billing.models import Payment, PaymentStatus
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from core.logging import (
    ContextFilter,
    JsonFormatter,
    RedactFilter,
    TextFormatter,
    redact,
    redact_data,
    request_id_var,
    task_context_enter,
    task_context_exit,
    task_id_var,
    task_name_var,
)
from core.middleware import request_id_from
from nodes.models import NodeHealth, SyncState
from nodes.services.health import node_health_check
from nodes.tests.conftest import PASSWORD, USERNAME
from nodes.tests.factories import NodeFactory
from subscriptions.models import Subscription
from telegram_bot.tests.conftest import USER_ID, buttons
from tests.settings.test_production_settings import run

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
SECRET_KEY = "log-test-secret-key-Zq8vN2rT5wX1yB4cE7gJ0kM3pS6uV9aD"
ROBOKASSA_PASSWORD1 = "rk-pass-one-9f8e7d6c5b4a"
ROBOKASSA_PASSWORD2 = "rk-pass-two-1a2b3c4d5e6f"
FREEKASSA_SECRET1 = "fk-secret-one-5e6f7a8b9c"
FREEKASSA_SECRET2 = "fk-secret-two-9c0d1e2f3a"
NODE_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # a Fernet key
METRICS_TOKEN = "metrics-token-for-the-log-test-0123"
BUYER_EMAIL = "buyer@example.com"
CARD = "4111 1111 1111 1111"

CONFIGURED_SECRETS = [
    TOKEN,
    SECRET_KEY,
    ROBOKASSA_PASSWORD1,
    ROBOKASSA_PASSWORD2,
    FREEKASSA_SECRET1,
    FREEKASSA_SECRET2,
    NODE_KEY,
    METRICS_TOKEN,
]


@contextlib.contextmanager
def json_lines() -> Iterator[list[dict]]:
    """Every record logged inside, as the production handler writes it (parsed JSON)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


@pytest.fixture
def secrets_configured(settings):
    settings.SECRET_KEY = SECRET_KEY
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.ROBOKASSA_PASSWORD1 = ROBOKASSA_PASSWORD1
    settings.ROBOKASSA_PASSWORD2 = ROBOKASSA_PASSWORD2
    settings.FREEKASSA_SECRET1 = FREEKASSA_SECRET1
    settings.FREEKASSA_SECRET2 = FREEKASSA_SECRET2
    settings.NODE_SECRET_KEY = [NODE_KEY]
    settings.METRICS_TOKEN = METRICS_TOKEN
    settings.BILLING_PROVIDERS = {
        "robokassa": (
            "billing.providers.robokassa.RobokassaProvider",
            {
                "login": "demo-shop",
                "password1": ROBOKASSA_PASSWORD1,
                "password2": ROBOKASSA_PASSWORD2,
            },
        ),
        "freekassa": (
            "billing.providers.freekassa.FreeKassaProvider",
            {
                "merchant_id": "12345",
                "secret1": FREEKASSA_SECRET1,
                "secret2": FREEKASSA_SECRET2,
                "check_ip": True,
            },
        ),
    }
    return settings


@pytest.mark.usefixtures("secrets_configured")
@pytest.mark.parametrize("secret", CONFIGURED_SECRETS)
def test_configured_secrets_are_masked(secret):
    assert redact(f"before {secret} after") == "before [REDACTED] after"


def test_bot_tokens_are_masked_even_when_not_configured():
    url = "POST https://api.telegram.org/bot5555555555:AAFakeTokenFakeTokenFakeToken12345/getMe"
    assert redact(url) == "POST https://api.telegram.org/bot[REDACTED]/getMe"


def test_email_addresses_keep_only_their_first_letter_and_domain():
    assert redact("to buyer@example.com, x.y+z@mail.example.org") == (
        "to b***@example.com, x***@mail.example.org"
    )
    assert redact("EMail=buyer%40example.com&x=1") == "EMail=b***%40example.com&x=1"
    assert redact(redact("buyer@example.com")) == "b***@example.com"
    # Not e-mail addresses: Celery node names, our panel e-mails.
    assert redact("celery@worker1 s42 x3ui") == "celery@worker1 s42 x3ui"


def test_card_numbers_are_masked_but_not_other_numbers():
    assert redact(f"card {CARD} ok") == "card [card ****1111] ok"
    assert redact("pan 5500-0000-0000-0004") == "pan [card ****0004]"
    assert redact("4111111111111111") == "[card ****1111]"
    # Timestamps, ids, amounts and digit runs that fail the Luhn check stay.
    for text in ["expiry 1767225600000", "order 123456789", "sum 2990.00", "4111111111111112"]:
        assert redact(text) == text
    # Digit groups inside ids (a Celery task UUID, a request id) are not card numbers.
    for text in [
        "task 748d7d1e-4111-1111-1111-1111aaaaaaaa",
        "req=4111111111111111aaaaaaaaaaaaaaaa",
    ]:
        assert redact(text) == text
    # ... but a card number right after a letter, "_", "-" or a URL-encoded ":" still is.
    for text in ["comment=card%3A4111111111111111", "card_4111111111111111", "x-4111111111111111"]:
        assert redact(text).endswith("[card ****1111]"), text


@pytest.mark.usefixtures("secrets_configured")
def test_redact_data_walks_nested_structures():
    data = {"a": [TOKEN, {"b": (BUYER_EMAIL, 3)}], "n": None}
    assert redact_data(data) == {"a": ["[REDACTED]", {"b": ("b***@example.com", 3)}], "n": None}


@pytest.mark.usefixtures("secrets_configured")
def test_every_record_is_masked_whatever_logger_and_handler(caplog):
    """The record factory masks at creation: pytest's own handler sees masked text too."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    logging.getLogger("httpx").info(
        'HTTP Request: POST http://127.0.0.1:9/bot%s/getUpdates "HTTP/1.1 200 OK"', TOKEN
    )
    logging.getLogger("urllib3.connectionpool").debug(
        'http://127.0.0.1:9 "POST /bot%s/sendMessage HTTP/1.1" 200 77', TOKEN
    )
    try:
        raise ValueError(f"bad password {ROBOKASSA_PASSWORD2} for {BUYER_EMAIL}")
    except ValueError:
        logging.getLogger("billing").exception("failed for %s", BUYER_EMAIL)
    text = caplog.text
    assert TOKEN not in text
    assert ROBOKASSA_PASSWORD2 not in text
    assert BUYER_EMAIL not in text
    assert text.count("[REDACTED]") >= 3
    assert "b***@example.com" in text


@pytest.mark.usefixtures("secrets_configured")
def test_extra_fields_and_tracebacks_are_masked_in_json_lines():
    with json_lines() as lines:
        logging.getLogger("x").warning("hello", extra={"card": CARD, "who": [BUYER_EMAIL]})
        try:
            raise RuntimeError(f"token {TOKEN}")
        except RuntimeError:
            logging.getLogger("x").exception("boom")
    first, second = lines
    assert first["card"] == "[card ****1111]"
    assert first["who"] == ["b***@example.com"]
    assert TOKEN not in second["exc_info"]
    assert "[REDACTED]" in second["exc_info"]


def test_request_id_is_kept_when_sane_and_replaced_otherwise():
    assert request_id_from(header="3f2c9a1b-77aa-4c1e-9f00-aa11bb22cc33") == (
        "3f2c9a1b-77aa-4c1e-9f00-aa11bb22cc33"
    )
    for bad in [None, "", "short", "has space 123456", "x" * 200, "evil\nline1234"]:
        generated = request_id_from(header=bad)
        assert generated != bad
        assert len(generated) == 32


@pytest.mark.django_db
def test_request_lines_carry_the_request_id_and_the_response_echoes_it(client, secrets_configured):
    with json_lines() as lines:
        response = send(
            client,
            ROBOKASSA_URL,
            robokassa_params(12345, "1.00", password="forged"),
            HTTP_X_REQUEST_ID="proxy-request-0001",
        )
    assert response.status_code == 400
    assert response["X-Request-ID"] == "proxy-request-0001"
    rejected = next(line for line in lines if "rejected" in line["message"])
    assert rejected["request_id"] == "proxy-request-0001"
    assert rejected["level"] == "WARNING"
    assert rejected["logger"] == "billing.services.webhooks"
    access = next(line for line in lines if line["logger"] == "vpnsite.access")
    assert access["request_id"] == "proxy-request-0001"
    assert access["http_route"] == "/api/payments/robokassa/result/"
    assert access["http_status"] == 400
    assert access["view"] == "billing:robokassa-result"
    assert request_id_var.get() is None  # nothing leaks into the next request

    fresh = client.get("/healthz")
    assert len(fresh["X-Request-ID"]) == 32


@shared_task(name="tests.observability.logging_task")
def logging_task() -> None:
    logging.getLogger("tests.observability").warning("inside the task")


def test_task_lines_carry_the_task_id_and_name():
    with json_lines() as lines:
        result = logging_task.delay()
        logging.getLogger("tests.observability").warning("after the task")
    inside = next(line for line in lines if line["message"] == "inside the task")
    assert inside["task_id"] == result.id
    assert inside["task_name"] == "tests.observability.logging_task"
    after = next(line for line in lines if line["message"] == "after the task")
    assert "task_id" not in after
    assert "request_id" not in after


def test_nested_tasks_restore_the_outer_context():
    def context():
        return (task_id_var.get(), task_name_var.get())

    task_context_enter(task_id="outer", task_name="a")
    task_context_enter(task_id="inner", task_name="b")
    assert context() == ("inner", "b")
    task_context_exit(task_id="inner")
    assert context() == ("outer", "a")
    task_context_exit(task_id="outer")
    assert context() == (None, None)


@pytest.mark.django_db
def test_bot_lines_carry_the_update_id(bot):
    with json_lines() as lines:
        bot.message("/start")
    registered = next(line for line in lines if "registered" in line["message"])
    assert registered["update_id"] >= 1


def test_text_format_shows_the_context_compactly():
    record = logging.LogRecord("x", logging.INFO, "", 0, "hi %s", ("there",), None)
    record.request_id = "abc12345"
    line = TextFormatter().format(record)
    assert line.endswith("INFO x 0 [req=abc12345] hi there") or "[req=abc12345] hi there" in line


@pytest.mark.django_db
def test_a_purchase_logs_no_secret_no_full_email(  # noqa: PLR0917 - fixtures
    secrets_configured,
    bot,
    tariffs,
    sim_factory,
    client,
    caplog,
    django_capture_on_commit_callbacks,
):
    secrets_configured.TELEGRAM_RATE_PER_CHAT_SECONDS = 0  # eager tasks cannot wait
    secrets_configured.PAYMENT_PENDING_TTL_MINUTES = 24 * 60
    caplog.set_level(logging.DEBUG)
    for name in ["httpx", "httpcore", "urllib3", "requests", "celery", "telegram", "django"]:
        caplog.set_level(logging.DEBUG, logger=name)
    sim = sim_factory(generation="v3")
    node = NodeFactory(
        name="de-1",
        panel_url=sim.url,
        panel_username=USERNAME,
        panel_password=PASSWORD,
        inbound_id=sim.inbound_id,
        health=NodeHealth.UP,
    )

    with json_lines() as lines:
        node_health_check(node=node)
        bot.message("/start", language_code="en")
        bot.press(f"buy:p:{tariffs['month'].pk}:0:robokassa", language_code="en")
        payment = Payment.objects.get()
        pay_url = buttons(bot.calls("editMessageText")[-1].params["reply_markup"])[0][1]
        assert f"InvId={payment.pk}" in pay_url
        params = robokassa_params(
            payment.pk, "299.00", password=ROBOKASSA_PASSWORD2, EMail=BUYER_EMAIL
        )
        with django_capture_on_commit_callbacks(execute=True):
            response = send(client, ROBOKASSA_URL, params)
        assert response.status_code == 200
        logging.getLogger("billing").info("paid by %s with %s", BUYER_EMAIL, CARD)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert Subscription.objects.get().keys.get().sync_state == SyncState.SYNCED
    assert bot.replies(USER_ID)

    written = [json.dumps(line, ensure_ascii=False) for line in lines]
    formatted = [JsonFormatter().format(r) + TextFormatter().format(r) for r in caplog.records]
    for text in [caplog.text, *written, *formatted]:
        for secret in [*CONFIGURED_SECRETS, PASSWORD]:
            assert secret not in text, f"{secret!r} leaked: {text[:500]}"
        assert BUYER_EMAIL not in text
        assert "4111 1111 1111 1111" not in text
    # Libraries did log the Bot API URLs, masked.
    assert any(
        "/bot[REDACTED]/" in record.getMessage()
        for record in caplog.records
        if record.name.startswith(("httpx", "urllib3"))
    )
    assert any(line["logger"] == "vpnsite.access" for line in lines)


LOG_LINE = (
    "import django, logging; django.setup(); "
    "logging.getLogger('probe').warning('mail %s card %s', 'buyer@example.com', "
    "'4111111111111111')"
)


def test_production_writes_masked_json_lines():
    result = run(["-c", LOG_LINE], {"TELEGRAM_BOT_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["level"] == "WARNING"
    assert line["logger"] == "probe"
    assert line["message"] == "mail b***@example.com card [card ****1111]"
    assert "time" in line


def test_log_format_text_and_a_typo():
    text = run(["-c", LOG_LINE], {"LOG_FORMAT": "text"})
    assert text.returncode == 0, text.stderr
    assert " WARNING probe " in text.stderr
    assert "b***@example.com" in text.stderr
    typo = run(["-c", LOG_LINE], {"LOG_FORMAT": "xml"})
    assert typo.returncode != 0
    assert "LOG_FORMAT must be one of text, json" in typo.stderr
