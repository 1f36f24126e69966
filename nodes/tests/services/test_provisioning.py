"""Keys converge on real (simulated) panels over HTTP, for both API generations."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from core.tests.helpers import run_concurrently
from nodes.models import NodeClient, SyncState
from nodes.services.keys import OURS_COMMENT_PREFIX
from nodes.services.push import node_keys_push
from nodes.services.reconcile import node_reconcile
from nodes.tests.conftest import FLAVOURS, PASSWORD, USERNAME, node_for, panel_email, seed_orphan
from notifications.models import OutboxMessage
from subscriptions.models import Subscription
from subscriptions.services.keys import subscription_keys_converge
from subscriptions.services.lifecycle import (
    subscription_create,
    subscription_expire,
    subscription_extend,
)
from subscriptions.tests.factories import TariffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["v3", "legacy"])
def generation(request):
    return request.param


@pytest.fixture
def panel(sim_factory, generation):
    sim = sim_factory(**FLAVOURS[generation])
    return sim, node_for(sim, name=f"panel-{generation}")


def ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def test_provisioning_from_empty(panel, customer, django_capture_on_commit_callbacks):
    sim, node = panel
    tariff = TariffFactory(device_limit=3, traffic_limit_gb=50)
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_create(customer=customer, tariff=tariff)
    on_panel = sim.client(f"s{sub.pk}n{node.pk}")
    assert on_panel is not None
    assert on_panel["id"] == str(sub.client_uuid)
    assert on_panel["enable"] is True
    assert on_panel["expiryTime"] == ms(sub.expires_at)
    assert on_panel["limitIp"] == 3
    assert on_panel["totalGB"] == 50 * 1024**3
    assert on_panel["subId"] == f"{sub.sub_id}n{node.pk}"
    assert on_panel["comment"] == f"{OURS_COMMENT_PREFIX}s{sub.pk}"
    key = sub.keys.get()
    assert (key.sync_state, key.synced_version) == (SyncState.SYNCED, key.desired_version)
    node.refresh_from_db()
    assert node.panel_generation == sim.generation
    # The customer is sent their keys once, now that one is on a panel.
    sub.refresh_from_db()
    assert sub.keys_notified_at is not None
    ready = OutboxMessage.objects.get(kind="keys-ready", customer=customer)
    assert "vless://" in ready.text
    assert sub.feed_token in ready.text
    assert OutboxMessage.objects.filter(kind="keys-qr", customer=customer).count() == 1


def test_extension_updates_and_expiry_disables(panel, customer, django_capture_on_commit_callbacks):
    sim, _ = panel
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_create(customer=customer, tariff=TariffFactory())
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_extend(subscription=sub, days=30)
    assert sim.client(panel_email(sub, sim))["expiryTime"] == ms(sub.expires_at)
    with django_capture_on_commit_callbacks(execute=True):
        subscription_expire(subscription=sub)
    assert sim.client(panel_email(sub, sim))["enable"] is False
    key = sub.keys.get()
    assert key.sync_state == SyncState.SYNCED
    # Still only one keys message: renewals do not resend keys.
    assert OutboxMessage.objects.filter(kind="keys-ready").count() == 1


def test_duplicate_add_is_treated_as_update(panel, customer, django_capture_on_commit_callbacks):
    sim, _ = panel
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sub = subscription_create(customer=customer, tariff=TariffFactory())
    # The panel already has this email (an earlier attempt whose answer was lost).
    sim.seed_client(
        panel_email(sub, sim),
        id=str(sub.client_uuid),
        comment=f"{OURS_COMMENT_PREFIX}s{sub.pk}",
        expiryTime=1,
        limitIp=99,
    )
    for callback in callbacks:
        callback()
    on_panel = sim.client(panel_email(sub, sim))
    assert on_panel["expiryTime"] == ms(sub.expires_at)
    assert on_panel["limitIp"] == sub.device_limit
    assert len([c for c in sim.clients() if c["email"] == panel_email(sub, sim)]) == 1
    assert sub.keys.get().sync_state == SyncState.SYNCED


def test_session_expiry_mid_run_relogs_transparently(
    panel, customer, django_capture_on_commit_callbacks
):
    sim, _ = panel
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_create(customer=customer, tariff=TariffFactory())
    sim.expire_sessions()
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_extend(subscription=sub, days=5)
    assert sim.client(panel_email(sub, sim))["expiryTime"] == ms(sub.expires_at)


def test_panel_error_then_retry_converges(panel, customer, django_capture_on_commit_callbacks):
    sim, _ = panel
    sim.add_fault("http500", count=50)
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_create(customer=customer, tariff=TariffFactory())
    key = sub.keys.get()
    assert key.sync_state == SyncState.ERROR  # last retry (0 in tests) failed
    assert "500" in key.last_error or key.last_error
    assert OutboxMessage.objects.filter(kind="provision-failed").exists()
    sim.clear_faults()
    result = node_reconcile(node=key.node)
    assert result["added"] == 1
    key.refresh_from_db()
    assert key.sync_state == SyncState.SYNCED
    assert sim.client(panel_email(sub, sim))["enable"] is True


def test_batch_push_uses_one_listing_and_batched_adds(sim_factory):
    sim = sim_factory(**FLAVOURS["legacy"])
    node = node_for(sim)
    tariff = TariffFactory()
    subs = [subscription_create(customer=CustomerFactory(), tariff=tariff) for _ in range(20)]
    key_ids = [s.keys.get().pk for s in subs]
    sim.reset_counts()
    result = node_keys_push(node_id=node.pk, key_ids=key_ids)
    assert result.added == 20
    adds = sum(n for route, n in sim.request_counts.items() if "addClient" in route)
    assert adds == 1
    assert NodeClient.objects.filter(pk__in=key_ids, sync_state=SyncState.SYNCED).count() == 20


def test_reconcile_converges_drift_in_one_run_and_never_touches_foreign_clients(
    panel, django_capture_on_commit_callbacks
):
    sim, node = panel
    tariff = TariffFactory()
    with django_capture_on_commit_callbacks(execute=True):
        subs = [subscription_create(customer=CustomerFactory(), tariff=tariff) for _ in range(4)]
    deleted, drifted, disabled_wrongly, _in_sync = subs
    sim.seed_client("foreign-user", comment="made by hand", expiryTime=123)
    orphan = seed_orphan(sim)
    # Drift made behind our back on the panel.
    from nodes.x3ui import X3UIClient

    raw = X3UIClient(sim.url, username=USERNAME, password=PASSWORD, inbound_id=sim.inbound_id)
    raw.delete_client(email=panel_email(deleted, sim), client_id=str(deleted.client_uuid))
    current = {c.email: c for c in raw.list_clients()}
    raw.update_client(
        type(current[panel_email(drifted, sim)])(
            **{**current[panel_email(drifted, sim)].__dict__, "expiry_time_ms": 42}
        )
    )
    raw.update_client(
        type(current[panel_email(disabled_wrongly, sim)])(
            **{**current[panel_email(disabled_wrongly, sim)].__dict__, "enable": False}
        )
    )
    raw.close()
    foreign_before = sim.client("foreign-user")

    result = node_reconcile(node=node)

    assert result["added"] == 1
    assert result["updated"] == 2
    assert result["orphans_disabled"] == 1
    assert result["errors"] == 0
    for sub in subs:
        on_panel = sim.client(panel_email(sub, sim))
        assert on_panel["enable"] is True
        assert on_panel["expiryTime"] == ms(sub.expires_at)
    assert sim.client("foreign-user") == foreign_before
    assert sim.client(orphan)["enable"] is False
    # In sync now: a second run changes nothing.
    again = node_reconcile(node=node)
    assert (again["added"], again["updated"], again["orphans_disabled"]) == (0, 0, 0)
    assert again["unchanged"] == 4
    node.refresh_from_db()
    assert node.last_reconcile_result["unchanged"] == 4


@override_settings(NODE_ORPHAN_GRACE_HOURS=1)
def test_orphans_are_deleted_after_the_grace_period(panel):
    sim, node = panel
    sim.seed_client("keep-me", comment="foreign")
    orphan = seed_orphan(sim)
    # Marked as ours but with a UUID that is not ours: someone else's, never touched.
    sim.seed_client("s778", comment=f"{OURS_COMMENT_PREFIX}s778")
    node_reconcile(node=node)
    assert sim.client(orphan)["enable"] is False
    node.refresh_from_db()
    result = node_reconcile(node=node, now=timezone.now() + timedelta(hours=2))
    assert result["orphans_deleted"] == 1
    assert sim.client(orphan) is None
    assert sim.client("s778")["enable"] is True
    assert sim.client("keep-me") is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_provisioning_the_same_key_leave_one_client(
    on_postgres, sim_factory, generation
):
    # PostgreSQL only: the key's row lock is what serialises the two workers. SQLite's
    # shared-cache test database answered one of them "table is locked" (about 1 run in 10).
    sim = sim_factory(**FLAVOURS[generation])
    node = node_for(sim)
    sub = subscription_create(customer=CustomerFactory(), tariff=TariffFactory())
    key = sub.keys.get()

    def push():
        node_keys_push(node_id=node.pk, key_ids=[key.pk])

    assert run_concurrently([push, push]) == []
    assert [c["email"] for c in sim.clients()].count(panel_email(sub, sim)) == 1
    key.refresh_from_db()
    assert key.sync_state == SyncState.SYNCED
    assert Subscription.objects.get(pk=sub.pk).keys_notified_at is not None


def test_resync_keeps_state_when_nothing_changed(
    panel, customer, django_capture_on_commit_callbacks
):
    sim, _ = panel
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_create(customer=customer, tariff=TariffFactory())
    sim.reset_counts()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        subscription_keys_converge(subscription=sub)
    assert callbacks == []
    assert sim.request_total == 0
