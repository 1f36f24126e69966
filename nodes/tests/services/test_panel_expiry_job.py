"""Expiry on every release, with the panel's own traffic job (docs/x3ui.md, "The panel's own
expiry job"): a key the panel disabled itself costs no update where the panel's listing shows
it as we want it (v3.0.2+), and still one where it does not (v2.8.3)."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from nodes.models import NodeClient, SyncState
from nodes.services.push import node_keys_push
from nodes.tests.conftest import node_for
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.services.lifecycle import subscription_extend, subscriptions_expire_due

from .test_panel_releases import RELEASES, bought

pytestmark = pytest.mark.django_db

LISTING = {"legacy": "GET panel/api/inbounds/list", "v3": "GET panel/api/clients/list"}
UPDATE_ROUTES = (
    "POST panel/api/inbounds/updateClient/{clientId}",
    "POST panel/api/clients/update/{email}",
)


def lapsed(sub, node, sim) -> NodeClient:
    """The subscription's end is a minute past and its key, still enabled, holds that end on
    the panel (the moments between the end and our sweep); then the panel's job ticks."""
    past = timezone.now() - timedelta(minutes=1)
    Subscription.objects.filter(pk=sub.pk).update(
        started_at=past - timedelta(days=30), expires_at=past
    )
    key = sub.keys.get()
    NodeClient.objects.filter(pk=key.pk).update(
        expiry_time_ms=int(past.timestamp() * 1000),
        desired_version=F("desired_version") + 1,
        sync_state=SyncState.PENDING,
    )
    node_keys_push(node_id=node.pk, key_ids=[key.pk])
    assert sim.client(key.email)["enable"] is True
    return key


def job_ticks(sim) -> None:
    """Past the simulator's next tick: 5 s after start plus one period."""
    sim.advance(5 + sim.spec.traffic_job_seconds)


def updates(sim) -> int:
    return sum(sim.snapshot()["request_counts"].get(route, 0) for route in UPDATE_ROUTES)


@pytest.fixture(params=RELEASES)
def release(request, sim_factory):
    sim = sim_factory(version=request.param)
    return request.param, sim, node_for(sim, name=f"panel-{request.param}")


def test_expired_keys_the_panel_disabled_cost_one_listing_from_v302(
    release, django_capture_on_commit_callbacks
):
    version, sim, node = release
    subs = [bought(django_capture_on_commit_callbacks) for _ in range(3)]
    keys = [lapsed(sub, node, sim) for sub in subs]
    job_ticks(sim)
    traffic = sim.snapshot()["traffic"]
    assert all(traffic[key.email]["enable"] is False for key in keys)  # the panel's job
    sim.reset_counts()

    with django_capture_on_commit_callbacks(execute=True):
        assert len(subscriptions_expire_due()) == 3

    counts = sim.snapshot()["request_counts"]
    listing = LISTING["legacy" if version in {"2.8.3", "3.0.2"} else "v3"]
    assert counts.get(listing) == 1
    # v2.8.3 leaves the settings entry enabled (only its traffic row is off), so the
    # listing differs from what we want and the update is still sent, one per key.
    assert updates(sim) == (3 if version == "2.8.3" else 0)
    assert sum(counts.values()) == 1 + updates(sim)
    for key in keys:
        key.refresh_from_db()
        assert key.enable is False
        assert key.sync_state == SyncState.SYNCED
        assert key.synced_version == key.desired_version
        assert sim.client(key.email)["enable"] is False


def test_one_expired_key_the_panel_disabled_is_only_read_on_v3(
    release, django_capture_on_commit_callbacks
):
    """One key is pushed without a listing: legacy panels get the update blind (one
    request either way); v3.1+ read the record first and, as wanted, write nothing."""
    version, sim, node = release
    sub = bought(django_capture_on_commit_callbacks)
    key = lapsed(sub, node, sim)
    job_ticks(sim)
    sim.reset_counts()

    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions_expire_due() == [sub.pk]

    counts = sim.snapshot()["request_counts"]
    if version in {"2.8.3", "3.0.2"}:
        assert counts == {"POST panel/api/inbounds/updateClient/{clientId}": 1}
    else:
        assert counts == {"GET panel/api/clients/get/{email}": 1}
    key.refresh_from_db()
    assert (key.sync_state, key.synced_version) == (SyncState.SYNCED, key.desired_version)
    assert sim.client(key.email)["enable"] is False


def test_a_renewal_after_the_panels_own_disable_brings_the_key_back(
    release, django_capture_on_commit_callbacks
):
    _version, sim, node = release
    subs = [bought(django_capture_on_commit_callbacks) for _ in range(2)]
    keys = [lapsed(sub, node, sim) for sub in subs]
    job_ticks(sim)
    with django_capture_on_commit_callbacks(execute=True):
        subscriptions_expire_due()

    with django_capture_on_commit_callbacks(execute=True):
        renewed = subscription_extend(subscription=subs[0], days=30)
    assert renewed.status == SubscriptionStatus.ACTIVE
    job_ticks(sim)  # the job leaves a client whose new end is ahead alone

    on_panel = sim.client(keys[0].email)
    assert on_panel["enable"] is True
    assert on_panel["expiryTime"] == int(renewed.expires_at.timestamp() * 1000)
    assert sim.snapshot()["traffic"][keys[0].email]["enable"] is True
    assert sim.client(keys[1].email)["enable"] is False
