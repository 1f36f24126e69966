"""The node page and the node list in a real browser (headless Debian Chromium through
Playwright): a node on a filled system (keys in every state, traffic, a week of checks, a
reconcile) and a node with no checks yet, in English and in Russian (the browser's
Accept-Language). Screenshots go to var/test-artifacts/node-*.png."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from nodes.models import NodeCheck, NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from tests.browser import ARTIFACTS, CHROMIUM, console_log_in

PASSWORD = "browser-pass-123"
WORDS = {
    "en": {
        "load": "Load",
        "states": "Keys by sync state",
        "history": "Latency history",
        "no_checks": "No health checks in the last 7 days yet",
        "reconciled": "converged",
        "unlimited": "unlimited",
        "uptime": "Uptime",
    },
    "ru": {
        "load": "Нагрузка",
        "states": "Ключи по состоянию синхронизации",
        "history": "История задержки",
        "no_checks": "проверок ещё нет",
        "reconciled": "панель сведена",
        "unlimited": "без ограничения",
        "uptime": "Доступность",
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
def system(transactional_db, monkeypatch):
    """A filled node and a new one without checks (no panel or Telegram call is made)."""
    monkeypatch.setattr("notifications.services.outbox_send_task.delay", lambda *a: None)
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", lambda *a: None)
    User.objects.create_superuser("chief", "chief@example.com", PASSWORD)
    now = timezone.now()
    filled = NodeFactory(
        name="fra-1",
        health=NodeHealth.UP,
        latency_ms=37,
        max_clients=20,
        weight=2,
        last_check_at=now - timedelta(seconds=5),
        last_reconcile_at=now - timedelta(minutes=4),
        last_reconcile_result={
            "ok": True,
            "added": 2,
            "updated": 1,
            "removed": 0,
            "unchanged": 9,
            "errors": 0,
            "orphans_disabled": 0,
            "orphans_deleted": 0,
            "orphans_pending": 0,
            "requests": 2,
            "at": now.isoformat(),
        },
    )
    states = [SyncState.SYNCED] * 9 + [SyncState.PENDING, SyncState.ERROR, SyncState.REMOVED]
    for i, state in enumerate(states):
        NodeClientFactory(
            node=filled, sync_state=state, traffic_up=i * 300 * 1024**2, traffic_down=i * 1024**3
        )
    # A week of checks, one every 10 minutes, slower in the evening, an outage 2 days ago.
    NodeCheck.objects.bulk_create(
        NodeCheck(
            node=filled,
            checked_at=now - timedelta(minutes=10 * i),
            ok=not 280 <= i < 290,
            latency_ms=None if 280 <= i < 290 else 30 + (i % 144) // 6,
            error="connection refused" if 280 <= i < 290 else "",
        )
        for i in range(7 * 144)
    )
    fresh = NodeFactory(name="ams-2", health=NodeHealth.UNKNOWN, max_clients=0)
    return {"filled": filled, "fresh": fresh}


def logged_in(browser, base: str, language: str):
    locale = {"en": "en-US", "ru": "ru-RU"}[language]
    context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    console_log_in(page, base, "chief", PASSWORD)
    page.wait_for_url(f"{base}/admin/")
    return page, errors


@pytest.mark.parametrize("language", ["en", "ru"])
def test_node_pages_and_list(live_server, system, browser, language):
    words = WORDS[language]
    base = live_server.url
    page, errors = logged_in(browser, base, language)

    page.goto(f"{base}/admin/nodes/node/{system['filled'].pk}/change/")
    overview = page.locator("#node-overview")
    assert words["load"] in overview.locator("#node-load").inner_text()
    assert page.locator("#node-load meter").get_attribute("value") == "11"
    assert words["states"] in page.locator("#node-keys").inner_text()
    assert page.locator("#node-keys-synced td").inner_text() == "9"
    assert page.locator("#node-keys-error td").inner_text() == "1"
    assert words["uptime"].lower() in page.locator("#node-uptime").inner_text().lower()
    assert words["history"] in page.locator("#node-latency").inner_text()
    assert page.locator("#chart-latency-day svg circle.point").count() >= 24
    assert page.locator("#chart-latency-week svg rect.alert").count() >= 1  # the outage
    assert words["reconciled"] in page.locator("#node-reconcile").inner_text()
    assert page.locator("#node-top-keys tbody tr").count() == 10
    page.screenshot(path=str(ARTIFACTS / f"node-page-filled-{language}.png"), full_page=True)

    # A key state opens the keys of this node in that state.
    page.click("#node-keys-error th a")
    page.wait_for_load_state()
    assert "sync_state__exact=error" in page.url
    assert page.locator("#result_list tbody tr").count() == 1

    page.goto(f"{base}/admin/nodes/node/{system['fresh'].pk}/change/")
    assert words["no_checks"] in page.locator("#node-no-checks").inner_text()
    assert page.locator("#node-latency svg").count() == 0
    assert words["unlimited"] in page.locator("#node-load").inner_text()
    page.screenshot(path=str(ARTIFACTS / f"node-page-empty-{language}.png"), full_page=True)

    page.goto(f"{base}/admin/nodes/node/")
    rows = page.locator("#result_list").inner_text()
    assert "fra-1" in rows
    assert "11 / 20" in rows
    assert f"0 / {words['unlimited']}" in rows
    assert "37" in rows
    assert page.locator("#result_list meter").count() == 1
    page.screenshot(path=str(ARTIFACTS / f"node-list-{language}.png"), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e and "node" in e], errors
