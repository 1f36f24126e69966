"""The Bot API double itself, and the outbox (``requests``, JSON and multipart) against it."""

import threading
import time

import pytest
import requests

from accounts.tests.factories import CustomerFactory
from notifications.models import OutboxStatus
from notifications.services import notify_customer, outbox_message_send
from notifications.telegram_api import TelegramRejected, TelegramUnavailable, bot_api_call
from tests.doubles.telegram_api import TelegramApiDouble, Upload, html_error


@pytest.fixture
def api(telegram_api, settings):
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0
    return telegram_api


def post(api, method, token=None, **params):
    return requests.post(api.api_url(method, token), json=params, timeout=5)


def test_url_shape_token_and_unknown_method(api):
    assert post(api, "getMe").json()["result"]["is_bot"] is True
    wrong = post(api, "getMe", token="1:WRONG")
    assert (wrong.status_code, wrong.json()["description"]) == (401, "Unauthorized")
    assert post(api, "sendDice", chat_id=1).status_code == 404
    assert requests.get(f"{api.base_url}/nothing", timeout=5).status_code == 404
    # Method names are case-insensitive, as on Telegram; calls are recorded canonically.
    assert post(api, "getme").status_code == 200
    assert [c.method for c in api.calls] == ["getMe", "getMe", "sendDice", "getMe"]


def test_send_message_checks_text_html_and_buttons(api):
    assert post(api, "sendMessage", chat_id=1, text="").status_code == 400
    bad_html = post(api, "sendMessage", chat_id=1, text="<user> hi", parse_mode="HTML")
    assert "can't parse entities" in bad_html.json()["description"]
    assert post(api, "sendMessage", chat_id=1, text="x" * 4097).status_code == 400
    long_data = {"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]}
    assert post(api, "sendMessage", chat_id=1, text="a", reply_markup=long_data).status_code == 400
    for url in ["happ://add/https://vpn.example.com/sub/x", "javascript:alert(1)", "x"]:
        app_button = {"inline_keyboard": [[{"text": "a", "url": url}]]}
        refused = post(api, "sendMessage", chat_id=1, text="a", reply_markup=app_button)
        assert refused.status_code == 400
        assert refused.json()["description"].endswith("is invalid: Unsupported URL protocol")
    for url in ["https://vpn.example.com/sub/x/open/happ", "http://x.test/", "tg://resolve?a=b"]:
        page_button = {"inline_keyboard": [[{"text": "a", "url": url}]]}
        assert post(api, "sendMessage", chat_id=1, text="a", reply_markup=page_button).ok
    ok = post(api, "sendMessage", chat_id=1, text="<b>1 &lt; 2</b>", parse_mode="HTML")
    assert ok.json()["result"]["text"] == "<b>1 &lt; 2</b>"
    assert html_error("<b>a</i>") is not None
    assert html_error("<pre>x</pre> <a href='https://x'>y</a>") is None


def test_outbox_json_message_reaches_the_double(api, db):
    customer = CustomerFactory()
    message = notify_customer(
        customer=customer, text="<b>Keys</b>", reply_markup={"inline_keyboard": []}
    )
    assert outbox_message_send(message_id=message.pk).status == "sent"
    call = api.calls_to("sendMessage")[0]
    assert call.params["chat_id"] == customer.telegram_id
    assert call.params["text"] == "<b>Keys</b>"
    message.refresh_from_db()
    assert message.telegram_message_id is not None


def test_outbox_photo_is_multipart(api, db):
    customer = CustomerFactory()
    message = notify_customer(customer=customer, text="Scan me", qr_payload="vless://x")
    assert outbox_message_send(message_id=message.pk).status == "sent"
    params = api.calls_to("sendPhoto")[0].params
    assert params["chat_id"] == customer.telegram_id
    assert params["caption"] == "Scan me"
    assert isinstance(params["photo"], Upload)
    assert params["photo"].data.startswith(b"\x89PNG")
    assert api.sent_messages(customer.telegram_id) == [params]


def test_blocked_chat_and_injected_faults(api, db):
    customer = CustomerFactory()
    api.block_chat(customer.telegram_id)
    message = notify_customer(customer=customer, text="hi")
    assert outbox_message_send(message_id=message.pk).status == "blocked"

    other = CustomerFactory()
    api.fail_next("sendMessage", status=429, description="Too Many Requests", retry_after=7)
    message = notify_customer(customer=other, text="hi")
    result = outbox_message_send(message_id=message.pk)
    assert (result.status, result.retry_in) == ("retry-after", 7)

    api.fail_next("sendMessage", status=502, raw_body="<html>Bad Gateway</html>")
    with pytest.raises(TelegramUnavailable, match="non-JSON"):
        bot_api_call(method="sendMessage", data={"chat_id": 1, "text": "x"})
    with pytest.raises(TelegramRejected):
        bot_api_call(method="sendMessage", data={"chat_id": "@nobody", "text": "x"})
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING


def test_get_updates_offset_and_short_long_poll(api):
    first = api.push_message(user_id=1, text="a")
    second = api.push_message(user_id=1, text="b")
    got = post(api, "getUpdates", timeout=5).json()["result"]
    assert [u["update_id"] for u in got] == [first["update_id"], second["update_id"]]
    got = post(api, "getUpdates", offset=second["update_id"]).json()["result"]
    assert [u["update_id"] for u in got] == [second["update_id"]]
    got = post(api, "getUpdates", offset=second["update_id"] + 1, timeout=0.2).json()["result"]
    assert got == []
    assert api.pending_updates == []


def test_callback_query_answered_once_and_edit_rules(api):
    update = api.push_callback(user_id=5, data="menu")
    query = update["callback_query"]
    assert post(api, "answerCallbackQuery", callback_query_id=query["id"]).status_code == 200
    assert post(api, "answerCallbackQuery", callback_query_id=query["id"]).status_code == 400
    assert post(api, "answerCallbackQuery", callback_query_id="404").status_code == 400
    message_id = query["message"]["message_id"]
    edit = post(api, "editMessageText", chat_id=5, message_id=message_id, text="New")
    assert edit.json()["result"]["text"] == "New"
    same = post(api, "editMessageText", chat_id=5, message_id=message_id, text="New")
    assert "not modified" in same.json()["description"]
    missing = post(api, "editMessageText", chat_id=5, message_id=1, text="x")
    assert "not found" in missing.json()["description"]
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "a"}]]}
    assert (
        post(
            api, "editMessageReplyMarkup", chat_id=5, message_id=message_id, reply_markup=markup
        ).status_code
        == 200
    )


def test_webhook_conflicts_with_polling_and_commands_roundtrip(api):
    post(api, "setWebhook", url="https://example.com/hook")
    assert post(api, "getUpdates").status_code == 409
    post(api, "deleteWebhook", drop_pending_updates=True)
    assert post(api, "getUpdates").json()["result"] == []
    commands = [{"command": "start", "description": "Start"}]
    post(api, "setMyCommands", commands=commands, language_code="en")
    assert post(api, "getMyCommands", language_code="en").json()["result"] == commands
    assert (
        post(api, "setMyCommands", commands=[{"command": "Bad!", "description": "x"}]).status_code
        == 400
    )
    post(api, "deleteMyCommands", language_code="en")
    assert api.commands(language_code="en") == []
    assert post(api, "logOut").json()["result"] is True
    assert post(api, "close").json()["result"] is True


def test_form_encoded_params_are_decoded(api):
    requests.post(
        api.api_url("sendMessage"),
        data={"chat_id": "12", "text": "123", "reply_markup": '{"inline_keyboard": []}'},
        timeout=5,
    )
    params = api.calls_to("sendMessage")[0].params
    assert params == {"chat_id": 12, "text": "123", "reply_markup": {"inline_keyboard": []}}


def test_control_routes(api):
    requests.post(
        f"{api.base_url}/__double__/updates",
        json={"message": api.message_update(user_id=3, text="hi")["message"]},
        timeout=5,
    )
    assert len(api.pending_updates) == 1
    calls = requests.get(f"{api.base_url}/__double__/calls", timeout=5).json()["result"]
    assert calls == []
    requests.post(f"{api.base_url}/__double__/reset", timeout=5)
    assert api.pending_updates == []


def test_stop_ends_every_thread_even_during_a_long_poll():
    before = set(threading.enumerate())
    api = TelegramApiDouble(max_poll_wait=30).start()
    poller = threading.Thread(
        target=lambda: requests.post(api.api_url("getUpdates"), json={"timeout": 30}, timeout=40)
    )
    poller.start()
    time.sleep(0.2)  # the long poll is waiting inside the double
    started = time.monotonic()
    api.stop()
    poller.join(timeout=5)
    assert time.monotonic() - started < 3
    assert not poller.is_alive()
    assert set(threading.enumerate()) <= before


def invoice(**overrides):
    params = {
        "chat_id": 1,
        "title": "VPN: Month",
        "description": "30 days",
        "payload": "42:sig",
        "currency": "XTR",
        "prices": [{"label": "Month", "amount": 50}],
    }
    return {**params, **overrides}


def test_send_invoice_accepts_only_telegram_stars_invoices(api):
    sent = post(api, "sendInvoice", **invoice())
    assert sent.json()["result"]["invoice"]["total_amount"] == 50
    assert api.sent_invoices(1)[0]["payload"] == "42:sig"
    refused = [
        invoice(currency="RUB"),
        invoice(provider_token="284685063:TEST:abc"),
        invoice(prices=[]),
        invoice(prices=[{"label": "a", "amount": 1}, {"label": "b", "amount": 1}]),
        invoice(prices=[{"label": "a", "amount": 0}]),
        invoice(prices=[{"label": "a", "amount": 1.5}]),
        invoice(title="x" * 33),
        invoice(description="x" * 256),
        invoice(payload="x" * 129),
        invoice(payload=""),
    ]
    for params in refused:
        assert post(api, "sendInvoice", **params).status_code == 400, params
    assert post(api, "sendInvoice", **invoice(provider_token="")).ok  # empty is Stars' value
    assert len(api.sent_invoices()) == 2


def test_create_invoice_link_checks_the_invoice_and_returns_a_t_me_link(api):
    params = {k: v for k, v in invoice().items() if k != "chat_id"}
    link = post(api, "createInvoiceLink", **params).json()["result"]
    assert link.startswith("https://t.me/$")
    assert api.invoice_link(link.removeprefix("https://t.me/$"))["payload"] == "42:sig"
    second = post(api, "createInvoiceLink", **params).json()["result"]
    assert second != link
    for bad in ({"currency": "RUB"}, {"prices": []}, {"payload": "x" * 129}):
        assert post(api, "createInvoiceLink", **{**params, **bad}).status_code == 400, bad
    assert not api.sent_invoices()


def test_pre_checkout_query_is_answered_once_with_a_reason_to_refuse(api):
    update = api.push_pre_checkout(user_id=7, payload="42:sig", total_amount=50)
    query_id = update["pre_checkout_query"]["id"]
    assert api.pending_updates[-1]["pre_checkout_query"]["invoice_payload"] == "42:sig"
    assert (
        post(api, "answerPreCheckoutQuery", pre_checkout_query_id=query_id, ok=False).status_code
        == 400
    )
    assert api.pre_checkout_answer(query_id) is None
    assert post(api, "answerPreCheckoutQuery", pre_checkout_query_id=query_id, ok=True).ok
    assert api.pre_checkout_answer(query_id) == {"ok": True, "error_message": None}
    again = post(api, "answerPreCheckoutQuery", pre_checkout_query_id=query_id, ok=True)
    assert again.json()["description"] == "Bad Request: QUERY_ID_INVALID"


def test_a_star_charge_is_refunded_once_to_its_payer(api):
    update = api.push_successful_payment(user_id=7, payload="42:sig", total_amount=50)
    payment = update["message"]["successful_payment"]
    charge_id = payment["telegram_payment_charge_id"]
    assert (payment["currency"], payment["total_amount"]) == ("XTR", 50)
    refund = {"telegram_payment_charge_id": charge_id}
    assert (
        post(api, "refundStarPayment", user_id=8, **refund)
        .json()["description"]
        .endswith("USER_ID_INVALID")
    )
    assert post(api, "refundStarPayment", user_id=7, **refund).ok
    assert api.charge(charge_id)["refunded"] is True
    twice = post(api, "refundStarPayment", user_id=7, **refund)
    assert twice.json()["description"] == "Bad Request: CHARGE_ALREADY_REFUNDED"
    unknown = post(api, "refundStarPayment", user_id=7, telegram_payment_charge_id="nope")
    assert unknown.status_code == 400
