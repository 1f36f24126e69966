"""Broadcasts in a real browser (Debian's Chromium, Playwright), in English and Russian:
compose with a photo and a bot button, preview, test send, schedule, send now, progress,
stop. Screenshots: var/test-artifacts/broadcast-*-{en,ru}.png."""

from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from accounts.models import User
from accounts.tests.factories import CustomerFactory
from core.models import AuditLog
from notifications.models import Broadcast, BroadcastStatus, OutboxMessage, OutboxStatus
from tests.browser import ARTIFACTS, CHROMIUM, console_log_in

PASSWORD = "browser-pass-123"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright from PyPI")


@pytest.fixture
def data(transactional_db, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr("notifications.services.outbox_send_task.delay", lambda *a: None)
    monkeypatch.setattr("notifications.tasks.outbox_send_task.delay", lambda *a: None)
    monkeypatch.setattr("notifications.tasks.outbox_send_task.apply_async", lambda *a, **k: None)
    user = User.objects.create_superuser("chief", "chief@example.com", PASSWORD)
    user.telegram_id = 900100
    user.save()
    for language in ("ru", "en", "ru"):
        CustomerFactory(language=language)
    photo = tmp_path / "promo.png"
    Image.new("RGB", (320, 180), (30, 140, 220)).save(photo, format="PNG")
    return {"user": user, "photo": photo}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_broadcast_from_compose_to_stop(live_server, data, browser, language):
    context = browser.new_context(
        locale={"en": "en-US", "ru": "ru-RU"}[language], viewport={"width": 1400, "height": 1000}
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    base = live_server.url
    console_log_in(page, base, "chief", PASSWORD)
    page.wait_for_url(f"{base}/admin/")

    page.goto(f"{base}/admin/notifications/broadcast/add/")
    page.fill("#id_text_ru", "<b>Скидка 20%</b> на год")
    page.fill("#id_text_en", "<b>20% off</b> a year")
    page.set_input_files("#id_photo", str(data["photo"]))
    page.select_option("#id_button_screen", "buy")
    page.fill("#id_button_text", "Site")
    page.fill("#id_button_url", "https://example.com/sale")
    page.screenshot(path=str(ARTIFACTS / f"broadcast-compose-{language}.png"), full_page=True)
    page.click("[name=_continue]")
    page.wait_for_selector("#broadcast-preview")
    broadcast = Broadcast.objects.get()

    # Recipient count and the preview per language: photo, formatted text, buttons.
    assert page.locator("#broadcast-audience-now").inner_text() == "3"
    preview_en = page.locator("#broadcast-preview-en")
    assert preview_en.locator(".tg-text b").inner_text() == "20% off"
    assert preview_en.locator(".tg-button").first.inner_text() == "🛒 Buy"
    assert page.locator("#broadcast-preview-ru .tg-button").first.inner_text() == "🛒 Купить"
    assert page.locator("#broadcast-preview-ru img.tg-photo").evaluate("i => i.naturalWidth") == 320
    page.screenshot(path=str(ARTIFACTS / f"broadcast-preview-{language}.png"), full_page=True)

    page.click("#broadcast-test")
    page.wait_for_selector("#console-messages li")
    assert set(OutboxMessage.objects.values_list("chat_id", flat=True)) == {900100}

    when = timezone.localtime() + timedelta(days=1)
    page.fill("#broadcast-send-at", when.strftime("%Y-%m-%dT%H:%M"))
    page.click("#broadcast-schedule")
    page.wait_for_selector("#console-messages li")
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SCHEDULED
    page.screenshot(path=str(ARTIFACTS / f"broadcast-scheduled-{language}.png"), full_page=True)

    page.click("#broadcast-send")
    page.wait_for_selector("#broadcast-confirm")
    page.screenshot(path=str(ARTIFACTS / f"broadcast-confirm-{language}.png"), full_page=True)
    page.click("#broadcast-confirm")
    page.wait_for_selector("#broadcast-progress-bar")
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENDING
    assert OutboxMessage.objects.filter(broadcast=broadcast, kind="broadcast").count() == 3
    # One delivered meanwhile: the page (refreshed by its meta tag) shows it.
    first = OutboxMessage.objects.filter(broadcast=broadcast, kind="broadcast").first()
    OutboxMessage.objects.filter(pk=first.pk).update(status=OutboxStatus.SENT)
    page.reload()
    assert page.locator("#broadcast-progress-bar").get_attribute("value") == "1"
    assert page.locator("#broadcast-progress-bar").get_attribute("max") == "3"
    page.screenshot(path=str(ARTIFACTS / f"broadcast-progress-{language}.png"), full_page=True)

    page.click("#broadcast-stop")
    page.wait_for_selector("#console-messages li")
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.STOPPED
    pending = OutboxMessage.objects.filter(kind="broadcast", status=OutboxStatus.PENDING)
    assert not pending.exists()
    assert OutboxMessage.objects.filter(kind="broadcast", status=OutboxStatus.SKIPPED).count() == 2
    assert page.locator("#broadcast-stop").count() == 0
    page.screenshot(path=str(ARTIFACTS / f"broadcast-stopped-{language}.png"), full_page=True)
    actions = set(
        AuditLog.objects.filter(acting_user=data["user"]).values_list(
            "extra_data__action", flat=True
        )
    )
    assert {"broadcast_test_send", "broadcast_schedule", "broadcast_start", "broadcast_stop"} <= (
        actions
    )
    context.close()
