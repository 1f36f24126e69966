"""/metrics: who may read it, the series it exposes, and the values moving when a webhook, a
provisioning task and a bot update happen."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone
from telegram import Update
from telegram.ext import TypeHandler

from billing.tests.factories import PaymentFactory
from billing.tests.helpers import ROBOKASSA_URL, robokassa_params, send
from console.metrics import StateCollector
from console.tests.conftest import METRICS_TOKEN
from core.metrics import celery_backlog, celery_queue_length
from core.tests.scrape import Scrape
from nodes.models import NodeHealth
from nodes.tests.conftest import node_for
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.services.lifecycle import subscription_create
from subscriptions.tests.factories import TariffFactory
from telegram_bot.bot.application import build_application, update_kind

pytestmark = pytest.mark.django_db

SERIES = [
    "vpnsite_http_requests_total",
    "vpnsite_http_request_duration_seconds_count",
    "vpnsite_webhook_events_total",
    "vpnsite_webhook_rejections_total",
    "vpnsite_payments_credited_total",
    "vpnsite_payments_credited_amount_total",
    "vpnsite_provisioning_total",
    "vpnsite_provisioning_duration_seconds_count",
    "vpnsite_node_health",
    "vpnsite_node_up",
    "vpnsite_node_latency_seconds",
    "vpnsite_keys",
    "vpnsite_celery_queue_length",
    "vpnsite_outbox_backlog",
    "vpnsite_outbox_oldest_pending_age_seconds",
    "vpnsite_bot_updates_total",
    "vpnsite_bot_update_duration_seconds_count",
    "vpnsite_subscriptions_active",
    "vpnsite_metrics_source_up",
]


def test_off_without_token_or_allowlist(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_token_required_and_compared(client, metrics_token):
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {METRICS_TOKEN}").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}x").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert ok.status_code == 200
    assert b"vpnsite_metrics_source_up" in ok.content


def test_ip_allowlist_with_the_real_client_address(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.20.0.0/16"]
    settings.TRUSTED_PROXY_IPS = ["127.0.0.1"]
    assert client.get("/metrics", REMOTE_ADDR="10.30.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.20.1.2").status_code == 200
    # Behind our proxy, the forwarded address counts...
    via_proxy = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "10.20.9.9"}
    assert client.get("/metrics", **via_proxy).status_code == 200
    # ...but nobody else may claim an address by sending the header.
    spoofed = {"REMOTE_ADDR": "203.0.113.7", "HTTP_X_FORWARDED_FOR": "10.20.9.9"}
    assert client.get("/metrics", **spoofed).status_code == 403


def test_token_and_allowlist_must_both_pass(client, settings):
    settings.METRICS_TOKEN = METRICS_TOKEN
    settings.METRICS_ALLOWED_IPS = ["192.0.2.10"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {METRICS_TOKEN}"}
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.10").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.11", **auth).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.10", **auth).status_code == 200


@pytest.mark.usefixtures("billing_providers")
def test_every_listed_series_is_exposed(
    scrape, bot, client, customer, django_capture_on_commit_callbacks
):
    node = NodeFactory(name="de-1", health=NodeHealth.UP, latency_ms=120)
    NodeClientFactory(node=node, sync_state="synced")
    PaymentFactory(provider="robokassa", status="paid", paid_at=timezone.now())
    send(client, ROBOKASSA_URL, robokassa_params(999, "1.00", password="forged"))  # rejected
    NodeFactory(name="dead-node", health=NodeHealth.UP)  # port 1: a push fails at once
    with django_capture_on_commit_callbacks(execute=True):
        subscription_create(customer=customer, tariff=TariffFactory())
    bot.message("/start")
    result = scrape()  # the first scrape counts as an HTTP request for the second
    result = scrape()
    missing = [name for name in SERIES if name not in result.names]
    assert not missing, missing
    assert result.value("vpnsite_node_up", node="de-1") == 1
    assert result.value("vpnsite_node_health", node="de-1", state="up") == 1
    assert result.value("vpnsite_node_health", node="de-1", state="down") == 0
    assert result.value("vpnsite_node_latency_seconds", node="de-1") == pytest.approx(0.12)
    assert result.value("vpnsite_keys", node="de-1", state="synced") == 1
    assert result.value("vpnsite_metrics_source_up", source="database") == 1
    assert result.value("vpnsite_http_requests_total", view="metrics", status="200") >= 1


@pytest.mark.usefixtures("billing_providers")
def test_a_webhook_moves_outcomes_payments_and_http_counters(scrape, client):
    payment = PaymentFactory(provider="robokassa", expires_at=timezone.now() + timedelta(hours=1))
    before = scrape()

    bad = send(client, ROBOKASSA_URL, robokassa_params(payment.pk, "299.00", password="nope"))
    assert bad.status_code == 400
    good = send(client, ROBOKASSA_URL, robokassa_params(payment.pk, "299.00"))
    assert good.status_code == 200
    after = scrape()

    def delta(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("vpnsite_webhook_events_total", provider="robokassa", result="processed") == 1
    assert delta("vpnsite_webhook_events_total", provider="robokassa", result="rejected") == 1
    assert (
        delta("vpnsite_webhook_rejections_total", provider="robokassa", reason="signature_mismatch")
        == 1
    )
    assert delta("vpnsite_payments_credited_total", provider="robokassa", currency="RUB") == 1
    assert delta(
        "vpnsite_payments_credited_amount_total", provider="robokassa", currency="RUB"
    ) == pytest.approx(float(payment.amount))
    view = "billing:robokassa-result"
    assert delta("vpnsite_http_requests_total", view=view, method="POST", status="200") == 1
    assert delta("vpnsite_http_requests_total", view=view, method="POST", status="400") == 1
    assert delta("vpnsite_http_request_duration_seconds_count", view=view) == 2


@pytest.mark.usefixtures("telegram_api")  # the customer's messages are delivered
def test_a_provisioning_task_moves_provisioning_and_key_series(
    scrape, sim_factory, customer, settings, django_capture_on_commit_callbacks
):
    settings.TELEGRAM_RATE_PER_CHAT_SECONDS = 0  # eager tasks cannot wait for a send slot
    sim = sim_factory(generation="v3")
    node_for(sim, name="metrics-node")
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        subscription = subscription_create(customer=customer, tariff=TariffFactory())
    assert sim.client(subscription.keys.get().email) is not None
    after = scrape()

    def delta(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("vpnsite_provisioning_total", node="metrics-node", result="ok") == 1
    assert delta("vpnsite_provisioning_duration_seconds_count", node="metrics-node") == 1
    assert delta("vpnsite_keys", node="metrics-node", state="synced") == 1
    assert after.value("vpnsite_node_latency_seconds", node="metrics-node") > 0


def test_a_failing_panel_counts_as_failed_after_the_last_retry(
    scrape, customer, settings, django_capture_on_commit_callbacks
):
    settings.NODE_PROVISION_MAX_RETRIES = 0
    NodeFactory(name="dead-node", health=NodeHealth.UP)  # port 1: connection refused
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        subscription_create(customer=customer, tariff=TariffFactory())
    after = scrape()
    assert (
        after.value("vpnsite_provisioning_total", node="dead-node", result="failed")
        - before.value("vpnsite_provisioning_total", node="dead-node", result="failed")
        == 1
    )
    assert after.value("vpnsite_keys", node="dead-node", state="error") == 1


def test_a_bot_update_moves_the_bot_series(scrape, bot):
    before = scrape()
    bot.message("/start")
    bot.press("help")
    after = scrape()

    def delta(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("vpnsite_bot_updates_total", kind="message", result="ok") == 1
    assert delta("vpnsite_bot_updates_total", kind="callback_query", result="ok") == 1
    assert delta("vpnsite_bot_update_duration_seconds_count", kind="message") == 1


def test_a_handler_that_raises_counts_as_an_error(scrape, telegram_api):
    async def boom(update, context):
        raise RuntimeError("handler bug")

    async def scenario() -> None:
        application = build_application()
        application.add_handler(TypeHandler(Update, boom), group=-1)
        async with application:
            data = telegram_api.message_update(user_id=5550009, text="/start")
            await application.process_update(Update.de_json(data, application.bot))

    before = scrape()
    async_to_sync(scenario)()
    after = scrape()
    assert (
        after.value("vpnsite_bot_updates_total", kind="message", result="error")
        - before.value("vpnsite_bot_updates_total", kind="message", result="error")
        == 1
    )


def test_update_kind():
    assert update_kind(object()) == "other"
    assert update_kind(Update(update_id=1)) == "other"


def test_outbox_backlog_and_queue_length_are_read_at_scrape_time(scrape, customer):
    from notifications.services import notify_customer

    before = scrape()
    notify_customer(customer=customer, text="hello")  # pending until its task runs on commit
    after = scrape()
    assert (
        after.value("vpnsite_outbox_backlog", audience="customer")
        - before.value("vpnsite_outbox_backlog", audience="customer")
        == 1
    )
    assert after.value("vpnsite_outbox_oldest_pending_age_seconds") >= 0
    for queue in ("celery", "keys"):
        assert after.value("vpnsite_celery_queue_length", queue=queue) == celery_queue_length(
            queue=queue
        )


def test_a_database_failure_shows_as_a_source_down_not_a_500(monkeypatch):
    def broken(self):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(StateCollector, "_database", broken)
    families = {family.name: family for family in StateCollector().collect()}
    samples = {s.labels["source"]: s.value for s in families["vpnsite_metrics_source_up"].samples}
    assert samples == {"database": 0, "broker": 1}


@pytest.mark.parametrize("url", ["filesystem://", "filesystem-atomic://"])
def test_queue_length_counts_the_filesystem_brokers_files(settings, tmp_path, url):
    settings.CELERY_BROKER_URL = url
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    for index in range(3):
        (tmp_path / f"{index}_abc.celery.msg").write_bytes(b"{}")
    (tmp_path / "9_abc.other.msg").write_bytes(b"{}")
    (tmp_path / "8_abc.keys.msg").write_bytes(b"{}")
    assert celery_queue_length() == 3
    assert celery_queue_length(queue="keys") == 1
    assert celery_backlog() == 4  # every queue the workers consume, not "other"
    assert Scrape("").value("anything") == 0
