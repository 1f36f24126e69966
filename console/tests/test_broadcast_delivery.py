"""A broadcast's delivery against the local Bot API double: the photo is uploaded once and
then sent by its file_id; a duplicated start (two enqueue runs at once, PostgreSQL threads)
sends each recipient one message; a photo Telegram would refuse is refused first."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.utils import translation
from PIL import Image

from accounts.tests.factories import CustomerFactory, UserFactory
from console.broadcasts import broadcast_create, broadcast_enqueue, broadcast_start
from core.tests.helpers import run_concurrently
from notifications.models import (
    Broadcast,
    BroadcastButton,
    BroadcastStatus,
    OutboxMessage,
    OutboxStatus,
    broadcast_photo_validate,
)
from notifications.services import outbox_message_send
from tests.doubles.telegram_api import TelegramApiDouble, Upload


def image(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def photo_upload(fmt: str = "PNG", size=(64, 48), name: str = "sale.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image(fmt, size), content_type=f"image/{fmt.lower()}")


@pytest.fixture(autouse=True)
def in_english():
    """Errors in the operator's words, in English (the default language is Russian)."""
    with translation.override("en"):
        yield


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def telegram_api(settings):
    with TelegramApiDouble(token=settings.TELEGRAM_BOT_TOKEN) as api:
        settings.TELEGRAM_API_BASE_URL = api.base_url
        yield api


@pytest.mark.django_db
def test_the_photo_is_uploaded_once_then_sent_by_its_file_id(media, telegram_api):
    customers = [CustomerFactory(language=lang) for lang in ("ru", "en", "ru")]
    operator = UserFactory()
    broadcast = broadcast_create(
        text_ru="<b>Скидка 20%</b>",
        text_en="<b>20% off</b>",
        photo=photo_upload(),
        button_screen=BroadcastButton.BUY,
        audience="all",
        actor=operator,
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        broadcast_start(broadcast=broadcast, actor=operator)
    calls = telegram_api.calls_to("sendPhoto")
    assert len(calls) == 3
    assert {call.params["chat_id"] for call in calls} == {c.telegram_id for c in customers}
    uploads = [call for call in calls if isinstance(call.params["photo"], Upload)]
    assert len(uploads) == 1
    broadcast.refresh_from_db()
    assert broadcast.photo_file_id
    assert [c.params["photo"] for c in calls if c not in uploads] == [broadcast.photo_file_id] * 2
    english = next(c for c in calls if c.params["chat_id"] == customers[1].telegram_id)
    assert english.params["caption"] == "<b>20% off</b>"
    assert english.params["parse_mode"] == "HTML"
    assert english.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "🛒 Buy", "callback_data": "buy"}]]
    }
    assert not telegram_api.calls_to("sendMessage")
    assert OutboxMessage.objects.filter(status=OutboxStatus.SENT).count() == 3


@pytest.mark.django_db
def test_a_send_waits_while_another_uploads_the_photo(media, telegram_api, monkeypatch):
    monkeypatch.setattr("console.broadcasts.outbox_send_task.delay", lambda pk: None)
    CustomerFactory()
    broadcast = broadcast_create(
        text_ru="x", photo=photo_upload(), audience="all", actor=UserFactory()
    )
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)
    broadcast_enqueue(broadcast_id=broadcast.pk)
    row = OutboxMessage.objects.get(broadcast=broadcast)
    from django.core.cache import cache

    cache.add(f"broadcast:photo-upload:{broadcast.pk}", 1, timeout=60)
    result = outbox_message_send(message_id=row.pk)
    assert result.status == "photo-uploading"
    assert result.retry_in
    assert telegram_api.calls == []
    row.refresh_from_db()
    assert row.status == OutboxStatus.PENDING


@pytest.mark.parametrize(
    ("upload", "error"),
    [
        (lambda: photo_upload("GIF", name="a.gif"), "The photo is GIF"),
        (lambda: SimpleUploadedFile("a.png", b"not an image"), "not an image"),
        (lambda: photo_upload(size=(2000, 90)), "at most 20 times"),
        (lambda: photo_upload(size=(6000, 5000)), "up to 10000 and a side"),
    ],
)
def test_a_photo_telegram_would_refuse_is_refused(upload, error):
    with pytest.raises(ValidationError, match=error):
        broadcast_photo_validate(upload())


def test_a_photo_over_10_mb_is_refused_before_it_is_read():
    big = SimpleUploadedFile("big.png", b"\0" * (10 * 1024 * 1024 + 1))
    with pytest.raises(ValidationError, match="at most 10 MB"):
        broadcast_photo_validate(big)
    broadcast_photo_validate(photo_upload("WEBP", name="ok.webp"))  # accepted


@pytest.mark.django_db
def test_the_caption_limit_applies_with_a_photo(media):
    from core.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="caption: at most 1024 characters, this is 1025"):
        broadcast_create(
            text_ru="x" * 1025, photo=photo_upload(), audience="all", actor=UserFactory()
        )
    assert not Broadcast.objects.exists()
    assert not any(media.rglob("*.png"))  # nothing saved, not even the file


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_duplicated_start_sends_each_recipient_once(on_postgres, telegram_api):
    """Two enqueue runs of one broadcast at once (a task delivered twice), each sending
    through the outbox as it writes: every recipient gets exactly one message."""
    customers = [CustomerFactory() for _ in range(12)]
    broadcast = broadcast_create(text_ru="Once", audience="all", actor=UserFactory())
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)

    def run():
        broadcast_enqueue(broadcast_id=broadcast.pk, batch_size=3)

    assert run_concurrently([run, run, run]) == []
    sent = [call.params["chat_id"] for call in telegram_api.calls_to("sendMessage")]
    assert sorted(sent) == sorted(c.telegram_id for c in customers)
    assert OutboxMessage.objects.filter(broadcast=broadcast).count() == 12
    assert OutboxMessage.objects.filter(broadcast=broadcast, status=OutboxStatus.SENT).count() == 12
