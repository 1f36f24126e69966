"""The embedded broker (core/broker.py): a consumer never takes a message file before its
writer has finished it (kombu issue #1551 killed the worker with ``JSONDecodeError``)."""

from queue import Empty

import pytest
from kombu import Connection
from kombu.transport import filesystem

from core import broker
from tests.fresh_process import python_run


def connection(url: str, folder) -> Connection:
    queue = folder / "queue"
    queue.mkdir(exist_ok=True)
    return Connection(
        url,
        transport_options={
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "staging_folder": str(folder / "staging"),
            "control_folder": str(folder / "control"),
        },
    )


def test_the_embedded_broker_publishes_message_files_atomically(tmp_path, monkeypatch):
    """A consumer polls the queue while the publisher is writing a message's bytes (both
    transports encode the message with ``str_to_bytes`` right before writing it): it must
    find nothing then, and the whole message afterwards."""
    producer = connection("filesystem-atomic://", tmp_path)
    consumer = connection("filesystem-atomic://", tmp_path)
    outbox = producer.SimpleQueue("tasks")
    inbox = consumer.SimpleQueue("tasks")
    outbox.put({"n": 0})  # declares the queue and its exchange
    assert inbox.get(timeout=1).payload == {"n": 0}

    seen_while_writing = []
    encode = broker.str_to_bytes

    def encode_while_a_consumer_polls(data):
        try:
            message = inbox.get(block=False)
        except Empty:
            seen_while_writing.append("nothing")
        except Exception as exc:  # noqa: BLE001 - what the worker would have died of
            seen_while_writing.append(repr(exc))
        else:
            seen_while_writing.append(message.payload)
        return encode(data)

    for module in (broker, filesystem):
        monkeypatch.setattr(module, "str_to_bytes", encode_while_a_consumer_polls)
    outbox.put({"n": 1, "text": "x" * 10_000})
    monkeypatch.undo()

    assert seen_while_writing == ["nothing"]
    assert inbox.get(timeout=1).payload == {"n": 1, "text": "x" * 10_000}
    assert not list((tmp_path / "staging").iterdir())  # nothing left behind
    for queue in (outbox, inbox):
        queue.close()
    producer.release()
    consumer.release()


@pytest.mark.parametrize(
    ("environment", "url"),
    [
        ({"REDIS_URL": ""}, "filesystem-atomic://"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "redis://"),
    ],
)
def test_the_embedded_broker_is_the_atomic_transport(tmp_path, environment, url):
    """Without REDIS_URL, settings select the atomic transport, in every process."""
    result = python_run(
        "from django.conf import settings; from vpnsite.celery import app;"
        "print(settings.CELERY_BROKER_URL);"
        "print(type(app.connection_for_write().transport).__module__)",
        env={
            "PATH": "/usr/bin:/bin",
            "VPNSITE_VAR_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "vpnsite.settings.test",
            **environment,
        },
    )
    printed_url, module = result.stdout.split()
    assert printed_url.startswith(url)
    if url == "filesystem-atomic://":
        assert module == "core.broker"
        assert (tmp_path / "var" / "celery" / "staging").is_dir()
