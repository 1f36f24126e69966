"""The onboarding checklist in a real browser (headless Debian Chromium through Playwright),
on an empty system and on a filled one, in English and in Russian (the browser's
Accept-Language). Screenshots go to var/test-artifacts/."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import User
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import FREEKASSA, ROBOKASSA
from nodes.models import NodeHealth
from nodes.tests.factories import NodeFactory
from subscriptions.tests.factories import TariffFactory
from tests.browser import ARTIFACTS, CHROMIUM, console_log_in
from tests.doubles.telegram_api import TelegramApiDouble

PASSWORD = "browser-pass-123"
STEPS = ["bot", "node", "tariff", "provider", "support", "purchase"]
# What each language calls the checklist and a step, as the operator reads it.
WORDS = {
    "en": {"heading": "Getting started", "node": "A node added and healthy", "add": "Add a node"},
    "ru": {
        "heading": "Первые шаги",
        "node": "Добавлен рабочий узел",
        "add": "Добавить узел",
    },
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright from PyPI")


@pytest.fixture
def operator(transactional_db, monkeypatch):
    monkeypatch.setattr("notifications.services.outbox_send_task.delay", lambda *a: None)
    monkeypatch.setattr("notifications.tasks.outbox_send_task.apply_async", lambda *a, **k: None)
    return User.objects.create_superuser("chief", "chief@example.com", PASSWORD)


@pytest.fixture
def telegram(settings):
    with TelegramApiDouble(token=settings.TELEGRAM_BOT_TOKEN) as api:
        settings.TELEGRAM_API_BASE_URL = api.base_url
        yield api


def open_dashboard(browser, base: str, language: str):
    locale = {"en": "en-US", "ru": "ru-RU"}[language]
    context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    console_log_in(page, base, "chief", PASSWORD)
    page.wait_for_url(f"{base}/admin/")
    return page


def states(page) -> dict[str, bool]:
    return {
        key: page.locator(f"#onboarding-{key}").get_attribute("data-done") == "true"
        for key in STEPS
    }


@pytest.mark.parametrize("language", ["en", "ru"])
def test_an_empty_system_shows_the_checklist(live_server, operator, browser, settings, language):
    settings.TELEGRAM_BOT_TOKEN = ""
    page = open_dashboard(browser, live_server.url, language)
    checklist = page.locator("#onboarding")
    assert checklist.is_visible()
    assert WORDS[language]["heading"] in checklist.locator("h2").inner_text()
    assert states(page) == dict.fromkeys(STEPS, False)
    node = page.locator("#onboarding-node")
    assert WORDS[language]["node"] in node.inner_text()
    page.screenshot(path=str(ARTIFACTS / f"onboarding-empty-{language}.png"), full_page=True)
    # Each step links to where it is done: the node step opens the node form.
    node.get_by_text(WORDS[language]["add"]).click()
    page.wait_for_url(f"{live_server.url}/admin/nodes/node/add/")
    assert page.locator("#node-test-connection").is_visible()
    page.screenshot(path=str(ARTIFACTS / f"node-form-{language}.png"), full_page=True)
    assert (ARTIFACTS / f"onboarding-empty-{language}.png").stat().st_size > 10_000


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.usefixtures("operator", "telegram")
def test_a_filled_system_hides_the_checklist(live_server, browser, settings, language):
    from constance import config

    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA, "freekassa": FREEKASSA}
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    config.SUPPORT_CONTACT = "@shop_help"  # transactional_db: committed at once
    NodeFactory(name="fra-1", health=NodeHealth.UP, latency_ms=37)
    tariff = TariffFactory(name="Month", price=Decimal("299.00"))
    PaymentFactory(
        tariff=tariff,
        status=PaymentStatus.PAID,
        paid_at=timezone.now() - timedelta(hours=1),
        amount=Decimal("299.00"),
    )
    page = open_dashboard(browser, live_server.url, language)
    assert page.locator("#console-dashboard").is_visible()
    assert page.locator("#onboarding").count() == 0
    secrets = page.locator("#secrets")
    assert secrets.is_visible()
    assert settings.TELEGRAM_BOT_TOKEN not in page.content()
    page.screenshot(path=str(ARTIFACTS / f"onboarding-done-{language}.png"), full_page=True)


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.usefixtures("operator", "telegram")
def test_a_half_configured_system_ticks_what_is_done(live_server, browser, settings, language):
    NodeFactory(name="ams-2", health=NodeHealth.DOWN, last_error="connection refused")
    TariffFactory(name="Month", price=Decimal("299.00"))
    page = open_dashboard(browser, live_server.url, language)
    assert states(page) == {
        "bot": True,
        "node": False,
        "tariff": True,
        "provider": False,
        "support": False,
        "purchase": False,
    }
    assert "@vpnsite_test_bot" in page.locator("#onboarding-bot").inner_text()
    # The secrets panel is open while steps are left, and says set / not set only.
    secrets = page.locator("#secrets").inner_text()
    assert "TELEGRAM_BOT_TOKEN" in secrets
    assert settings.TELEGRAM_BOT_TOKEN not in page.content()
    page.screenshot(path=str(ARTIFACTS / f"onboarding-half-{language}.png"), full_page=True)


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.usefixtures("operator")
def test_adding_a_node_from_the_checklist_tests_the_panel_and_picks_its_inbound(
    live_server, browser, sim_factory, language
):
    from core.models import AuditEvent, AuditLog
    from nodes.models import Node
    from nodes.tests.conftest import PASSWORD as PANEL_PASSWORD
    from nodes.tests.conftest import USERNAME as PANEL_USERNAME

    sim = sim_factory()
    sim.add_inbound(id=7, remark="NL-Reality")
    page = open_dashboard(browser, live_server.url, language)
    page.locator("#onboarding-node a.step-action").click()
    page.wait_for_url(f"{live_server.url}/admin/nodes/node/add/")
    page.fill("#id_name", "de-1")
    page.fill("#id_panel_url", sim.url)
    page.fill("#id_panel_username", PANEL_USERNAME)
    page.fill("#id_panel_password", "a-wrong-password")
    page.click("#node-test-connection")
    page.wait_for_load_state()
    assert "Invalid username or password" in page.locator("#content-main").inner_text()
    assert not Node.objects.exists()
    page.fill("#id_panel_password", PANEL_PASSWORD)
    page.click("#node-test-connection")
    page.wait_for_load_state()
    result = page.locator("#node-test-result").inner_text()
    assert "NL-Reality" in result
    page.screenshot(path=str(ARTIFACTS / f"node-test-connection-{language}.png"), full_page=True)
    page.select_option("#id_inbound_id", str(sim.inbound_id))
    page.click("[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/nodes/node/")
    node = Node.objects.get(name="de-1")
    assert node.inbound_id == sim.inbound_id
    assert AuditLog.objects.get(event_type=AuditEvent.NODE_CHANGED).acting_user.username == "chief"
