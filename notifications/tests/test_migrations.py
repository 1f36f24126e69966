"""The move of OutboxMessage and Broadcast from telegram_bot to notifications (their tables stay).

Migrates a database back to before the move, writes an outbox row and a log entry there with
the old app's models, and forward again: the row reads as ``notifications.OutboxMessage``, and
the content types (so permissions, the console groups and log entries) follow the models.
"""

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.tests.factories import CustomerFactory, UserFactory
from notifications.models import Broadcast, OutboxMessage, OutboxStatus

# Migrations need real transactions (SQLite's schema editor refuses to run inside one). An
# earlier transactional test may have flushed the console groups: each test makes its own.
pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_MOVE = [("telegram_bot", "0002_broadcast"), ("notifications", None)]


def _migrate(targets=None):
    """Migrate to `targets` (default: the latest migrations); the state reached."""
    executor = MigrationExecutor(connection)
    state = executor.migrate(targets or executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()
    return state.apps


def _content_types(model: str) -> list[tuple[int, str]]:
    return list(
        ContentType.objects.filter(model=model).order_by("pk").values_list("pk", "app_label")
    )


def _group_with(name: str, *codenames: str) -> Group:
    group = Group.objects.create(name=name)
    group.permissions.set(Permission.objects.filter(codename__in=codenames))
    return group


def test_an_outbox_row_written_before_the_move_reads_as_notifications_outbox_message():
    customer = CustomerFactory()
    old = _migrate(BEFORE_MOVE)
    assert _content_types("outboxmessage")[0][1] == "telegram_bot"
    outbox_type = ContentType.objects.get(app_label="telegram_bot", model="outboxmessage")
    operator = UserFactory(is_superuser=False)
    group = _group_with("movers", "send_broadcast", "change_outboxmessage")
    operator.groups.add(group)
    assert operator.has_perm("telegram_bot.send_broadcast")
    old_broadcast = old.get_model("telegram_bot", "Broadcast")
    old_outbox_message = old.get_model("telegram_bot", "OutboxMessage")
    broadcast = old_broadcast.objects.create(text="Hello everyone")
    row = old_outbox_message.objects.create(
        customer_id=customer.pk,
        chat_id=customer.telegram_id,
        text="Payment received",
        dedupe_key="moved:1",
        broadcast_id=broadcast.pk,
    )
    entry = LogEntry.objects.create(
        user_id=operator.pk,
        content_type_id=outbox_type.pk,
        object_id=str(row.pk),
        object_repr="moved",
        action_flag=ADDITION,
    )

    _migrate()

    moved = OutboxMessage.objects.select_related("broadcast", "customer").get(pk=row.pk)
    assert (moved.text, moved.dedupe_key, moved.status) == (
        "Payment received",
        "moved:1",
        OutboxStatus.PENDING,
    )
    assert moved.customer == customer
    assert moved.broadcast == Broadcast.objects.get(pk=broadcast.pk)
    # The same content type row, relabelled: the log entry and the permissions follow it.
    assert _content_types("outboxmessage") == [(outbox_type.pk, "notifications")]
    assert ContentType.objects.get_for_model(OutboxMessage).pk == outbox_type.pk
    entry.refresh_from_db()
    assert entry.get_edited_object() == moved
    operator = type(operator).objects.get(pk=operator.pk)
    assert operator.has_perm("notifications.send_broadcast")
    assert operator.has_perm("notifications.change_outboxmessage")
    assert not operator.has_perm("telegram_bot.send_broadcast")


def test_post_migrate_after_the_move_creates_no_second_content_type():
    permissions = Permission.objects.count()
    outbox_type = _content_types("outboxmessage")
    broadcast_type = _content_types("broadcast")
    assert [label for _pk, label in outbox_type + broadcast_type] == ["notifications"] * 2

    emit_post_migrate_signal(verbosity=0, interactive=False, db=connection.alias)

    assert _content_types("outboxmessage") == outbox_type
    assert _content_types("broadcast") == broadcast_type
    assert Permission.objects.count() == permissions


def test_moving_back_and_forth_keeps_one_content_type_per_model():
    """Rolled back, post_migrate (run by this code) makes notifications' content types anew;
    forward again, the original ones win and the new ones go."""
    outbox_type = _content_types("outboxmessage")
    send = Permission.objects.get(codename="send_broadcast")
    group = _group_with("movers", "send_broadcast")

    _migrate(BEFORE_MOVE)
    assert _content_types("outboxmessage") == [(outbox_type[0][0], "telegram_bot")]
    emit_post_migrate_signal(verbosity=0, interactive=False, db=connection.alias)
    assert [label for _pk, label in _content_types("outboxmessage")] == [
        "telegram_bot",
        "notifications",
    ]

    _migrate()

    assert _content_types("outboxmessage") == outbox_type
    assert Permission.objects.filter(codename="send_broadcast").get() == send
    assert list(group.permissions.all()) == [send]
