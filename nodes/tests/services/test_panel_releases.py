"""Keys hold on every real 3x-ui release we support (docs/x3ui.md), each test against the
simulator of the releases where the real panel behaves that way."""

import contextlib
import json
from datetime import timedelta
from unittest import mock

import pytest
import requests
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db.models import F
from django.test import override_settings
from django.utils import timezone, translation

from accounts.tests.factories import CustomerFactory
from nodes.models import Node, NodeClient, NodeHealth, SyncState, panel_url_normalize
from nodes.services.clients import x3ui_clients_reset
from nodes.services.health import node_health_check
from nodes.services.keys import key_email
from nodes.services.nodes import node_create
from nodes.services.push import node_keys_push, node_keys_retry
from nodes.services.reconcile import node_reconcile
from nodes.tests.conftest import PASSWORD, USERNAME, node_for, seed_orphan
from nodes.x3ui import X3UIInboundNotFound, X3UIUnavailable
from notifications.models import OutboxMessage
from notifications.tests.helpers import ADMIN_CHATS
from subscriptions.services.keys import subscription_keys_converge
from subscriptions.services.lifecycle import subscription_create, subscription_extend
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db

RELEASES = ["2.8.3", "3.0.2", "3.1.0", "3.4.2", "3.6.0"]
LEGACY = {"2.8.3", "3.0.2"}
# Where a request lands, by release family (for faults aimed at one kind of write).
ADD_PATH = {"legacy": "inbounds/addClient", "v3": "clients/add"}
DELETE_PATH = {"legacy": "/delClient/", "v3": "clients/del/"}


def family(version: str) -> str:
    return "legacy" if version in LEGACY else "v3"


def bought(capture, tariff=None, *, execute=True):
    """A subscription whose keys were pushed (or, with execute=False, only queued).

    `capture` is pytest-django's ``django_capture_on_commit_callbacks``.
    """
    with capture(execute=execute):
        return subscription_create(customer=CustomerFactory(), tariff=tariff or TariffFactory())


def panel_post(sim, path: str, body: dict) -> None:
    """A write through the panel's own API, as its web UI would make it (behind our back)."""
    with requests.Session() as session:
        base = sim.url
        token = session.get(base + "csrf-token", timeout=5).json()["obj"]
        headers = {"X-CSRF-Token": token, "X-Requested-With": "XMLHttpRequest"}
        login = {"username": USERNAME, "password": PASSWORD}
        assert session.post(base + "login", data=login, headers=headers, timeout=5).json()[
            "success"
        ]
        answer = session.post(base + path, json=body, headers=headers, timeout=5).json()
        assert answer["success"], answer


@pytest.fixture(params=RELEASES)
def release(request, sim_factory):
    sim = sim_factory(version=request.param)
    return request.param, sim, node_for(sim, name=f"panel-{request.param}")


def test_traffic_is_read_on_every_release(release, django_capture_on_commit_callbacks):
    """v2.x/v3.0 ``inbounds/get/{id}`` has no clientStats."""
    _version, sim, node = release
    tariff = TariffFactory(traffic_limit_gb=1)
    sub = bought(django_capture_on_commit_callbacks, tariff)
    key = sub.keys.get()
    sim.set_traffic(key.email, up=600 * 1024**2, down=500 * 1024**2)

    with django_capture_on_commit_callbacks(execute=True):
        node_reconcile(node=node)

    key.refresh_from_db()
    sub.refresh_from_db()
    assert (key.traffic_up, key.traffic_down) == (600 * 1024**2, 500 * 1024**2)
    assert sub.traffic_used_bytes == 1100 * 1024**2
    # Over the limit: the key is disabled on the panel (the cross-node limit is enforced).
    assert sim.client(key.email)["enable"] is False


@override_settings(X3UI_READ_TIMEOUT=0.5)
def test_a_retried_add_after_a_late_answer_leaves_one_working_client(
    release, django_capture_on_commit_callbacks
):
    """A re-add duplicates the client (v3.0.x, v3.2.8-v3.4.2) or is refused (v3.1.0-v3.2.7)."""
    version, sim, node = release
    x3ui_clients_reset()
    sub = bought(django_capture_on_commit_callbacks, execute=False)
    key = sub.keys.get()
    sim.add_fault("late", delay=1.5, path=ADD_PATH[family(version)], count=1)

    with pytest.raises(X3UIUnavailable, match="timed out"):
        node_keys_push(node_id=node.pk, key_ids=[key.pk])
    assert sim.client(key.email) is not None  # the panel did apply it
    node_keys_push(node_id=node.pk, key_ids=[key.pk])  # the task's retry

    key.refresh_from_db()
    assert key.sync_state == SyncState.SYNCED, key.last_error
    assert sim.client_copies(key.email) == 1
    assert sim.client(key.email)["id"] == str(sub.client_uuid)
    assert not OutboxMessage.objects.filter(kind="key-refused").exists()


@override_settings(X3UI_READ_TIMEOUT=0.5)
def test_a_retried_delete_after_a_late_answer_is_done(release, django_capture_on_commit_callbacks):
    """On v3.0+ the retry of a delete the panel applied is refused (not found)."""
    version, sim, node = release
    sim.seed_client("someone-else", comment="made by hand")  # legacy keeps a last client
    sub = bought(django_capture_on_commit_callbacks)
    key = sub.keys.get()
    NodeClient.objects.filter(pk=key.pk).update(
        sync_state=SyncState.REMOVING, enable=False, desired_version=F("desired_version") + 1
    )
    x3ui_clients_reset()
    sim.add_fault("late", delay=1.5, path=DELETE_PATH[family(version)], count=1)

    with pytest.raises(X3UIUnavailable, match="timed out"):
        node_keys_push(node_id=node.pk, key_ids=[key.pk])
    assert sim.client(key.email) is None  # applied
    node_keys_push(node_id=node.pk, key_ids=[key.pk])

    key.refresh_from_db()
    assert key.sync_state == SyncState.REMOVED, key.last_error
    assert sim.client("someone-else") is not None


def test_reconcile_disables_our_left_over_client(release):
    """On v3.4.2+ the listing row sent back as is (``"allowedIPs": ""``) fails the update."""
    _version, sim, node = release
    orphan = seed_orphan(sim)
    result = node_reconcile(node=node)
    assert result["ok"] is True, result
    assert result["orphans_disabled"] == 1
    assert sim.client(orphan)["enable"] is False
    assert node_reconcile(node=node)["orphans_disabled"] == 0


def test_a_foreign_client_with_our_email_is_never_touched(
    release, django_capture_on_commit_callbacks
):
    """A foreign client with our email keeps its uuid, subId and comment."""
    _version, sim, node = release
    sub = bought(django_capture_on_commit_callbacks, execute=False)
    key = sub.keys.get()
    sim.seed_client(key.email, comment="made by hand", sub_id="foreignsub123456")
    foreign = sim.client(key.email)

    node_keys_push(node_id=node.pk, key_ids=[key.pk])
    node_reconcile(node=node)
    node_reconcile(node=node)

    assert sim.client(key.email) == foreign
    key.refresh_from_db()
    assert key.sync_state == SyncState.ERROR
    assert "not ours" in key.last_error
    alerts = OutboxMessage.objects.filter(kind="key-refused")
    assert alerts.count() == ADMIN_CHATS  # once, however often it is retried
    assert node.name in alerts.first().text
    assert key.email in alerts.first().text


def test_the_same_panel_inbound_cannot_be_two_nodes(sim_factory):
    """A second node on the same inbound would take the first one's keys for orphans."""
    sim = sim_factory(version="3.6.0")
    node_create(name="one", panel_url=sim.url, inbound_id=1, username=USERNAME, password=PASSWORD)
    same = sim.url.replace("http://", "HTTP://").rstrip("/")  # another spelling
    with translation.override("en"), pytest.raises(ValidationError, match="already uses inbound 1"):
        node_create(name="two", panel_url=same, inbound_id=1, username="x", password="y")
    assert Node.objects.count() == 1


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://Panel.Example.COM:443/AbC", "https://panel.example.com/AbC/"),
        ("http://panel.example.com:80/", "http://panel.example.com/"),
        ("https://panel.example.com:2053/AbC/", "https://panel.example.com:2053/AbC/"),
    ],
)
def test_one_spelling_per_panel(url, normal):
    assert panel_url_normalize(url) == normal


def test_a_key_of_another_node_on_the_same_panel_is_no_orphan(
    sim_factory, django_capture_on_commit_callbacks
):
    sim = sim_factory(version="3.6.0", inbounds=[{"id": 1, "port": 443}, {"id": 2, "port": 8443}])
    node_one = node_for(sim, name="one", inbound_id=1)
    node_two = node_for(sim, name="two", inbound_id=2)
    sub = bought(django_capture_on_commit_callbacks)
    key = sub.keys.get()
    other = node_two if key.node_id == node_one.pk else node_one
    # Our client of `key`, also attached to the other node's inbound behind our back (a
    # disable there would disable it everywhere: 3x-ui v3 shares one record per email).
    panel_post(sim, f"panel/api/clients/{key.email}/attach", {"inboundIds": [other.inbound_id]})
    result = node_reconcile(node=other)
    assert result["orphans_disabled"] == 0
    assert sim.client(key.email, inbound_id=key.node.inbound_id)["enable"] is True


@pytest.mark.parametrize("version", ["3.0.2", "3.1.0", "3.4.2", "3.6.0"])
def test_keys_on_two_inbounds_of_one_panel_are_separate_clients(
    version, sim_factory, django_capture_on_commit_callbacks
):
    """One email on two inbounds: a change on one node leaves the other node's client."""
    sim = sim_factory(version=version, inbounds=[{"id": 1, "port": 443}, {"id": 2, "port": 8443}])
    node_one = node_for(sim, name="one", inbound_id=1)
    node_two = node_for(sim, name="two", inbound_id=2)
    everywhere = TariffFactory(node_count=0)
    sub = bought(django_capture_on_commit_callbacks, everywhere)
    key_one, key_two = sub.keys.get(node=node_one), sub.keys.get(node=node_two)
    assert key_one.email != key_two.email
    assert {key_one.sync_state, key_two.sync_state} == {SyncState.SYNCED}

    # A removal on node one leaves node two's client alone.
    NodeClient.objects.filter(pk=key_one.pk).update(
        sync_state=SyncState.REMOVING, enable=False, desired_version=F("desired_version") + 1
    )
    sim.seed_client("keeps-inbound-1-alive", inbound_id=1)
    node_keys_push(node_id=node_one.pk, key_ids=[key_one.pk])
    assert sim.client(key_one.email, inbound_id=1) is None
    assert sim.client(key_two.email, inbound_id=2)["enable"] is True

    # A renewal reaches node two's client.
    with django_capture_on_commit_callbacks(execute=True):
        subscription_extend(subscription=sub, days=30)
    sub.refresh_from_db()
    expiry = int(sub.expires_at.timestamp() * 1000)
    assert sim.client(key_two.email, inbound_id=2)["expiryTime"] == expiry


@pytest.mark.parametrize("version", ["3.1.0", "3.4.2", "3.6.0"])
def test_a_client_detached_from_our_inbound_is_put_back(
    version, sim_factory, django_capture_on_commit_callbacks
):
    """A record on no inbound (``inboundIds: null``) is not present."""
    sim, node, sub, key = _detached_key(sim_factory, version, django_capture_on_commit_callbacks)
    assert sim.client(key.email) is None

    result = node_reconcile(node=node)

    assert result["unchanged"] == 0
    assert sim.client(key.email)["id"] == str(sub.client_uuid)


def test_a_refused_login_is_not_retried_before_the_limiter_window(release):
    """Retries must not trip the login limiter (v3.0+) nor mail the owner our password (v2.8.3)."""
    version, sim, node = release
    Node.objects.filter(pk=node.pk).update(panel_password="an-old-password")
    node.refresh_from_db()
    x3ui_clients_reset()

    for _ in range(8):  # health checks every minute, pushes, reconciles
        node_health_check(node=node)
        node.refresh_from_db()
    with pytest.raises(Exception, match="login"):
        node_reconcile(node=node)

    assert sim.login_failures == 1
    if version == "2.8.3":  # each failure sends the panel's owner the password tried
        failed = [a for a in sim.owner_alerts if a["status"] == "failed"]
        assert len(failed) == 1
    assert OutboxMessage.objects.filter(kind="panel-login-refused").count() == ADMIN_CHATS

    # The operator fixes the password: the next check logs in at once, and the panel's
    # limiter never blocked the user.
    Node.objects.filter(pk=node.pk).update(panel_password=PASSWORD)
    node.refresh_from_db()
    assert node_health_check(node=node) == NodeHealth.UP
    node.refresh_from_db()
    assert node.login_refusals == 0


def test_a_paused_login_is_tried_again_after_the_window(release):
    _version, sim, node = release
    Node.objects.filter(pk=node.pk).update(panel_password="wrong")
    node.refresh_from_db()
    x3ui_clients_reset()
    node_health_check(node=node)
    node.refresh_from_db()
    node_health_check(node=node)
    assert sim.login_failures == 1

    Node.objects.filter(pk=node.pk).update(login_refused_at=timezone.now() - timedelta(minutes=16))
    node.refresh_from_db()
    node_health_check(node=node)
    node.refresh_from_db()
    assert sim.login_failures == 2
    assert node.login_refusals == 2  # the next pause is twice as long
    assert OutboxMessage.objects.filter(kind="panel-login-refused").count() == ADMIN_CHATS


def test_node_add_fails_on_a_failed_check_unless_forced(sim_factory):
    sim = sim_factory(version="3.4.2")
    args = ["node", "add", "--name", "n1", "--url", sim.url, "--inbound-id", "1"]
    with pytest.raises(CommandError, match="login refused"):
        call_command(*args, "--username", USERNAME, "--password", "wrong")
    assert not Node.objects.exists()
    with pytest.raises(CommandError, match="record not found"):
        call_command(*args[:-1], "7", "--username", USERNAME, "--password", PASSWORD)
    call_command(*args, "--username", USERNAME, "--password", "wrong", "--force")
    assert Node.objects.filter(name="n1").exists()


@override_settings(X3UI_READ_TIMEOUT=0.5)
def test_an_add_in_doubt_survives_a_renewal_before_the_retry(
    release, django_capture_on_commit_callbacks
):
    version, sim, node = release
    x3ui_clients_reset()
    sub = bought(django_capture_on_commit_callbacks, execute=False)
    key = sub.keys.get()
    sim.add_fault("late", delay=1.5, path=ADD_PATH[family(version)], count=1)
    with pytest.raises(X3UIUnavailable):
        node_keys_push(node_id=node.pk, key_ids=[key.pk])
    with django_capture_on_commit_callbacks(execute=False):
        subscription_extend(subscription=sub, days=30)  # a change before the retry

    node_keys_push(node_id=node.pk, key_ids=[key.pk])

    key.refresh_from_db()
    sub.refresh_from_db()
    assert key.sync_state == SyncState.SYNCED, key.last_error
    assert key.add_sent_at is None
    assert sim.client_copies(key.email) == 1
    assert sim.client(key.email)["expiryTime"] == int(sub.expires_at.timestamp() * 1000)


@pytest.mark.parametrize("version", ["3.0.2", "3.4.2"])
@override_settings(X3UI_READ_TIMEOUT=0.5)
def test_a_reconcile_whose_add_came_back_late_leaves_one_client(
    version, sim_factory, django_capture_on_commit_callbacks
):
    sim = sim_factory(version=version)
    node = node_for(sim)
    x3ui_clients_reset()
    sub = bought(django_capture_on_commit_callbacks, execute=False)
    key = sub.keys.get()
    sim.add_fault("late", delay=1.5, path=ADD_PATH[family(version)], count=1)
    with pytest.raises(X3UIUnavailable):
        node_reconcile(node=node)
    node_keys_push(node_id=node.pk, key_ids=[key.pk])
    assert sim.client_copies(key.email) == 1


def test_a_client_the_panel_holds_twice_is_reported_and_kept_converged(sim_factory):
    """v3.0.2 keeps a second copy of a re-added client; its update changes the first only.

    Deleting the copies would also drop the panel's traffic row (the customer's usage), so
    the first copy is kept up to date and the admins are told once to remove the others.
    """
    sim = sim_factory(version="3.0.2")
    sim.seed_client("keeps-the-inbound-busy")
    node = node_for(sim)
    sub = SubscriptionFactory(tariff=TariffFactory())
    email = key_email(subscription_id=sub.pk, node_id=node.pk)
    ours = {"id": str(sub.client_uuid), "email": email, "enable": True, "subId": "x"}
    ours["comment"] = f"vpnsite:s{sub.pk}"
    body = {"id": node.inbound_id, "settings": json.dumps({"clients": [ours]})}
    for _ in range(2):  # what a blind re-add left behind: the panel appends a second copy
        panel_post(sim, "panel/api/inbounds/addClient", body)
    assert sim.client_copies(email) == 2
    with _no_push():
        subscription_keys_converge(subscription=sub)

    results = [node_reconcile(node=node) for _ in range(3)]

    assert sub.keys.get().sync_state == SyncState.SYNCED
    assert results[0]["updated"] == 1  # the first copy gets our subId, expiry and limits
    assert [(r["updated"], r["added"]) for r in results[1:]] == [(0, 0), (0, 0)]
    assert OutboxMessage.objects.filter(kind="key-duplicated").count() == ADMIN_CHATS


@pytest.mark.parametrize("version", ["2.8.3", "3.4.2"])
def test_a_pause_is_lifted_only_by_a_login_the_panel_accepted(
    version, sim_factory, django_capture_on_commit_callbacks
):
    """v2.x sessions outlive a password change: a request on an old cookie proves nothing."""
    from nodes.services import clients as services

    sim = sim_factory(version=version)
    node = node_for(sim)  # this process's session cookie stays valid on 2.8.3
    sub = bought(django_capture_on_commit_callbacks)
    key = sub.keys.get()
    first_process = dict(services._clients)
    sim._password = "changed-on-the-panel"  # the owner changes the password
    services._clients.clear()  # another worker process, without the cookie
    node_health_check(node=node)
    assert sim.login_failures == 1

    services._clients.update(first_process)
    NodeClient.objects.filter(pk=key.pk).update(
        desired_version=F("desired_version") + 1, expiry_time_ms=F("expiry_time_ms") + 1000
    )
    node.refresh_from_db()
    node_keys_push(node_id=node.pk, key_ids=[key.pk])
    services._clients.clear()
    node.refresh_from_db()
    node_health_check(node=node)

    assert sim.login_failures == 1


@pytest.mark.parametrize("version", ["3.1.0", "3.4.2", "3.6.0"])
def test_a_renewal_of_a_detached_client_puts_it_back(
    version, sim_factory, django_capture_on_commit_callbacks
):
    """An update of a record on no inbound answers success and changes nothing there."""
    sim, node, _sub, key = _detached_key(sim_factory, version, django_capture_on_commit_callbacks)
    NodeClient.objects.filter(pk=key.pk).update(
        desired_version=F("desired_version") + 1,
        expiry_time_ms=F("expiry_time_ms") + 86_400_000,
        sync_state=SyncState.PENDING,
    )

    node_keys_push(node_id=node.pk, key_ids=[key.pk])

    key.refresh_from_db()
    assert key.sync_state == SyncState.SYNCED
    assert sim.client(key.email)["expiryTime"] == key.expiry_time_ms


def test_a_missing_inbound_is_a_node_problem_not_a_refusal_of_each_key(
    sim_factory, django_capture_on_commit_callbacks
):
    sim = sim_factory(version="3.0.2")
    node = node_for(sim, weight=100)
    other = node_for(sim_factory(version="3.0.2"), name="other", weight=1)
    subs = [bought(django_capture_on_commit_callbacks, execute=False) for _ in range(2)]
    keys = [s.keys.get(node=node) for s in subs]
    Node.objects.filter(pk=node.pk).update(inbound_id=9)  # not on that panel

    result = node_keys_push(node_id=node.pk, key_ids=[k.pk for k in keys])

    assert result.errors == {}
    assert OutboxMessage.objects.filter(kind="inbound-missing").count() == ADMIN_CHATS
    assert not OutboxMessage.objects.filter(kind="key-refused").exists()
    assert not NodeClient.objects.filter(node=other).exists()  # nobody re-placed


@pytest.mark.parametrize("version", ["3.0.2", "3.4.2"])
def test_one_email_on_two_inbounds_is_counted_once(version, sim_factory):
    """Keys made before per-node emails share one traffic row on a panel."""
    sim = sim_factory(version=version, inbounds=[{"id": 1, "port": 443}, {"id": 2, "port": 8443}])
    one = node_for(sim, name="one", inbound_id=1)
    two = node_for(sim, name="two", inbound_id=2)
    sub = SubscriptionFactory(tariff=TariffFactory(node_count=0, traffic_limit_gb=1))
    email = f"s{sub.pk}"
    fields = {"id": str(sub.client_uuid), "sub_id": sub.sub_id, "comment": f"vpnsite:s{sub.pk}"}
    if version == "3.0.2":
        sim.seed_client(email, inbound_id=1, **fields)
        sim.seed_client(email, inbound_id=2, **fields)
    else:
        sim.seed_client(email, inbound_ids=[1, 2], **fields)
    sim.set_traffic(email, up=300 * 1024**2, down=300 * 1024**2)
    for node in (one, two):
        NodeClient.objects.create(
            subscription=sub, node=node, email=email, sync_state=SyncState.SYNCED, synced_version=1
        )

    node_reconcile(node=one)
    node_reconcile(node=two)

    sub.refresh_from_db()
    assert sub.traffic_used_bytes == 600 * 1024**2


def _detached_key(sim_factory, version, capture):
    """A synced key whose client was then detached from our inbound behind our back."""
    sim = sim_factory(version=version)
    sim.seed_client("keeps-the-inbound-busy")
    node = node_for(sim)
    sub = bought(capture)
    key = sub.keys.get()
    panel_post(sim, f"panel/api/clients/{key.email}/detach", {"inboundIds": [node.inbound_id]})
    return sim, node, sub, key


def _no_push():
    return mock.patch("subscriptions.services.keys.keys_push_on_commit")


def _loading_then(action):
    """`node_keys_for_sync` that lets `action` run right after the caller loaded its keys
    (or, for a reconcile, right after its listing): a second worker in between."""
    from nodes.services import push, reconcile

    real, state = push.node_keys_for_sync, {"done": False}

    def loading(*, node, key_ids=None):
        if key_ids is None and not state["done"]:  # a reconcile, after its listing
            state["done"] = True
            action()
        keys = real(node=node, key_ids=key_ids)
        if key_ids is not None and not state["done"]:  # a push, after loading its keys
            state["done"] = True
            action()
        return keys

    stack = contextlib.ExitStack()  # a push and a reconcile each load the keys themselves
    for module in (push, reconcile):
        stack.enter_context(mock.patch.object(module, "node_keys_for_sync", loading))
    return stack


@pytest.mark.parametrize("version", ["3.0.2", "3.4.2"])
@pytest.mark.parametrize("racing", ["push", "reconcile"])
def test_a_push_racing_a_push_or_a_reconcile_adds_the_key_once(
    version, racing, sim_factory, django_capture_on_commit_callbacks
):
    sim = sim_factory(version=version)
    sim.seed_client("keeps-the-inbound-busy")
    node = node_for(sim)
    key = bought(django_capture_on_commit_callbacks, execute=False).keys.get()
    with _loading_then(lambda: node_keys_push(node_id=node.pk, key_ids=[key.pk])):
        if racing == "push":
            node_keys_push(node_id=node.pk, key_ids=[key.pk])
        else:
            node_reconcile(node=node)
    if racing == "reconcile":
        node_reconcile(node=node)
    assert sim.client_copies(key.email) == 1


@pytest.mark.parametrize("version", ["3.0.2", "3.4.2"])
def test_a_missing_inbound_on_a_one_key_push_is_a_node_problem(
    version, sim_factory, django_capture_on_commit_callbacks
):
    sim = sim_factory(version=version)
    node = node_for(sim, weight=100)
    other = node_for(sim_factory(version=version), name="other", weight=1)
    key = bought(django_capture_on_commit_callbacks, execute=False).keys.get(node=node)
    Node.objects.filter(pk=node.pk).update(inbound_id=9)
    x3ui_clients_reset()

    node_keys_push(node_id=node.pk, key_ids=[key.pk])

    assert not OutboxMessage.objects.filter(kind="key-refused").exists()
    assert OutboxMessage.objects.filter(kind="inbound-missing").count() == ADMIN_CHATS
    assert not NodeClient.objects.filter(node=other).exists()


def test_a_missing_inbound_on_a_v3_reconcile_refuses_no_key(
    sim_factory, django_capture_on_commit_callbacks
):
    sim = sim_factory(version="3.4.2")
    node = node_for(sim, weight=100)
    node_for(sim_factory(version="3.4.2"), name="other", weight=1)
    for _ in range(3):
        bought(django_capture_on_commit_callbacks, execute=False)
    Node.objects.filter(pk=node.pk).update(inbound_id=9)
    node.refresh_from_db()
    x3ui_clients_reset()

    with pytest.raises(X3UIInboundNotFound):
        node_reconcile(node=node)

    assert not OutboxMessage.objects.filter(kind="key-refused").exists()
    assert OutboxMessage.objects.filter(kind="inbound-missing").count() == ADMIN_CHATS


def test_an_operators_retry_brings_a_refused_key_back(
    sim_factory, django_capture_on_commit_callbacks
):
    sim_a, sim_b = sim_factory(version="3.6.0"), sim_factory(version="3.6.0")
    node_for(sim_a, name="a", weight=1)
    node_b = node_for(sim_b, name="b", weight=100)
    sub = SubscriptionFactory(tariff=TariffFactory(node_count=0))
    email_b = key_email(subscription_id=sub.pk, node_id=node_b.pk)
    sim_b.seed_client(email_b, comment="made by hand")
    with django_capture_on_commit_callbacks(execute=True):
        subscription_keys_converge(subscription=sub)
    refused = sub.keys.get(node=node_b)
    assert refused.sync_state == SyncState.REMOVED
    with django_capture_on_commit_callbacks(execute=True):
        subscription_keys_converge(subscription=sub)
    assert sub.keys.get(node=node_b).sync_state == SyncState.REMOVED  # not retried at once

    panel_post(sim_b, f"panel/api/clients/del/{email_b}", {})  # the operator clears it
    with django_capture_on_commit_callbacks(execute=True):
        node_keys_retry(key_ids=[refused.pk])

    refused.refresh_from_db()
    assert refused.sync_state == SyncState.SYNCED
    assert sim_b.client(email_b)["id"] == str(sub.client_uuid)
