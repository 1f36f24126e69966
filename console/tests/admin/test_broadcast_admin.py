"""Broadcasts in the console: compose with a photo and buttons, recipient count, preview,
test send, send, schedule, stop, progress; who may do what; audit rows."""

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from accounts.tests.factories import CustomerFactory
from core.models import AuditLog
from core.tests.helpers import texts
from notifications.models import Broadcast, BroadcastStatus, OutboxMessage, OutboxStatus
from notifications.tests.factories import BroadcastFactory, OutboxMessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def in_english(client):
    """Pages in English unless a test asks for Russian (the default language)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture(autouse=True)
def no_background_tasks(monkeypatch):
    started = []
    monkeypatch.setattr("console.broadcasts.broadcast_enqueue_task.delay", started.append)
    monkeypatch.setattr("notifications.services.outbox_send_task.delay", lambda pk: None)
    return started


def png(size=(40, 30), fmt="PNG", name="promo.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, format=fmt)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")


def compose(client, **data):
    payload = {
        "text_ru": "Большие <b>новости</b>",
        "text_en": "",
        "button_screen": "",
        "button_text": "",
        "button_url": "",
        "audience": "all",
        "audience_days": "30",
        "audience_tariff_id": "",
        "audience_node_id": "",
        "language": "",
        **data,
    }
    return client.post(reverse("admin:notifications_broadcast_add"), payload)


def change_url(broadcast):
    return reverse("admin:notifications_broadcast_change", args=[broadcast.pk])


def action_url(name, broadcast):
    return reverse(f"admin:notifications_broadcast_{name}", args=[broadcast.pk])


def test_compose_preview_test_send_and_send(
    as_superuser, superuser, no_background_tasks, django_capture_on_commit_callbacks
):
    CustomerFactory(language="ru")
    CustomerFactory(language="en")
    CustomerFactory(is_banned=True)
    response = compose(
        as_superuser,
        text_en="Big <b>news</b>",
        photo=png(),
        button_screen="renew",
        button_text="Site",
        button_url="example.com/sale",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    broadcast = Broadcast.objects.get()
    assert (broadcast.created_by, broadcast.status) == (superuser, BroadcastStatus.DRAFT)
    assert broadcast.photo.name.endswith(".png")
    assert broadcast.button_url == "https://example.com/sale"

    page = as_superuser.get(change_url(broadcast)).content.decode()
    assert '<span id="broadcast-audience-now">2</span>' in page
    # The preview per language: photo, text with its entities, the bot button labelled.
    assert 'id="broadcast-preview-ru"' in page
    assert 'id="broadcast-preview-en"' in page
    assert "Big <b>news</b>" in page
    assert "🔄 Продлить" in page
    assert "🔄 Renew" in page
    assert action_url("photo", broadcast) in page
    photo = as_superuser.get(action_url("photo", broadcast))
    assert photo.status_code == 200
    assert b"".join(photo.streaming_content).startswith(b"\x89PNG")

    # Test send without a Telegram id: a clear error, nothing queued.
    refused = as_superuser.post(action_url("test", broadcast))
    assert "no Telegram id" in texts(refused)[0]
    assert not OutboxMessage.objects.exists()
    superuser.telegram_id = 424242
    superuser.save()
    as_superuser.post(action_url("test", broadcast))
    assert set(OutboxMessage.objects.values_list("chat_id", flat=True)) == {424242}

    confirm = as_superuser.get(action_url("send", broadcast))
    assert confirm.context["recipients"] == 2
    assert "Yes, send to 2" in confirm.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = as_superuser.post(action_url("send", broadcast))
    assert done.status_code == 302
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.recipients_total) == (BroadcastStatus.SENDING, 2)
    assert no_background_tasks == [broadcast.pk]
    assert "being sent to 2" in texts(done)[-1]
    actions = list(
        AuditLog.objects.filter(acting_user=superuser)
        .order_by("pk")
        .values_list("extra_data__action", flat=True)
    )
    assert actions == ["broadcast_test_send", "broadcast_start"]

    # Started: read-only, progress with a bar, a stop button, refreshed by a meta tag.
    OutboxMessageFactory(chat_id=1, text="x", status=OutboxStatus.SENT, broadcast=broadcast)
    OutboxMessageFactory(chat_id=2, text="x", broadcast=broadcast)
    for row in OutboxMessage.objects.filter(broadcast=broadcast, chat_id__in=[1, 2]):
        row.kind = "broadcast"
        row.save()
    html = as_superuser.get(change_url(broadcast)).content.decode()
    assert '<progress id="broadcast-progress-bar" max="2" value="1">' in html
    assert "1 of 2 messages sent" in html
    assert '<meta http-equiv="refresh" content="10">' in html
    assert 'id="broadcast-stop"' in html
    assert 'name="text_ru"' not in html
    again = as_superuser.post(action_url("send", broadcast))
    assert "already started" in texts(again)[-1]

    stopped = as_superuser.post(action_url("stop", broadcast))
    assert "1 message(s) will not be sent" in texts(stopped)[-1]
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.STOPPED
    assert AuditLog.objects.filter(extra_data__action="broadcast_stop", acting_user=superuser)


def test_schedule_from_the_page(as_superuser, superuser):
    CustomerFactory()
    compose(as_superuser)
    broadcast = Broadcast.objects.get()
    when = timezone.localtime() + timedelta(days=1)
    response = as_superuser.post(
        action_url("schedule", broadcast), {"send_at": when.strftime("%Y-%m-%dT%H:%M")}
    )
    assert "is scheduled for" in texts(response)[-1]
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SCHEDULED
    assert abs(broadcast.send_at - when) < timedelta(minutes=1)
    assert AuditLog.objects.get(extra_data__action="broadcast_schedule").acting_user == superuser
    past = as_superuser.post(action_url("schedule", BroadcastFactory(text_ru="x")), {"send_at": ""})
    assert "Give the date and time" in texts(past)[-1]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"photo": "gif"}, "The photo is GIF; send a JPEG, PNG or WebP."),
        ({"photo": "png", "text_ru": "x" * 1025}, "caption: at most 1024 characters"),
        ({"text_ru": "x" * 4097}, "At most 4096 characters"),
        ({"text_ru": "", "text_en": ""}, "Write the text in at least one language."),
        ({"button_text": "Open"}, "A link button needs both a text and a URL."),
        ({"text_ru": "<b>x</i>"}, "Telegram cannot read this HTML"),
        ({"audience": "tariff"}, "Choose the tariff."),
    ],
)
def test_bad_input_is_shown_and_nothing_saved(as_superuser, media, data, error):
    if data.get("photo") == "gif":
        data["photo"] = png(fmt="GIF", name="x.gif")
    elif data.get("photo") == "png":
        data["photo"] = png()
    response = compose(as_superuser, **data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Broadcast.objects.exists()
    assert not any(media.rglob("*.*"))


@pytest.mark.parametrize("action", ["send", "test", "schedule", "stop"])
def test_support_can_view_but_not_send(as_support, superuser, action):
    broadcast = BroadcastFactory(created_by=superuser, text_ru="x")
    CustomerFactory()
    assert as_support.get(change_url(broadcast)).status_code == 200
    assert as_support.post(action_url(action, broadcast)).status_code == 403
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DRAFT
    assert not OutboxMessage.objects.exists()
    assert not AuditLog.objects.exists()
    assert as_support.get(reverse("admin:notifications_broadcast_add")).status_code == 403


def test_operators_may_send(as_operator, operator_user, no_background_tasks):
    CustomerFactory()
    broadcast = BroadcastFactory(text_ru="x")
    page = as_operator.get(change_url(broadcast)).content.decode()
    assert 'id="broadcast-send"' in page
    assert 'id="broadcast-test"' in page
    as_operator.post(action_url("send", broadcast))
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENDING
    assert AuditLog.objects.get(extra_data__action="broadcast_start").acting_user == operator_user


def test_errors_and_labels_in_russian(as_superuser):
    as_superuser.defaults["HTTP_ACCEPT_LANGUAGE"] = "ru"
    response = compose(as_superuser, text_ru="", text_en="")
    html = response.content.decode()
    assert "Напишите текст хотя бы на одном языке." in html
    assert "текст (русский)" in html.lower()
    assert not Broadcast.objects.exists()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_text_help_shows_the_tags_as_text(as_superuser, language):
    """Forms show help texts as HTML: tags named in one must be escaped, or the browser
    opens them (an unclosed <s> struck through the rest of the page)."""
    html = as_superuser.get(
        reverse("admin:notifications_broadcast_add"), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    assert "&lt;s&gt;" in html
    assert "<s>" not in html
    assert "<tg-spoiler>" not in html
