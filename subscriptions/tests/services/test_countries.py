"""The subscriber's country: placement honours it, a change moves the keys (issue 19)."""

import pytest
from django.db import transaction

from accounts.tests.factories import CustomerFactory
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from nodes.models import NodeClient, NodeHealth, SyncState
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.models import OutboxMessage
from subscriptions.models import SubscriptionStatus
from subscriptions.services.countries import subscription_country_set, tariff_countries
from subscriptions.services.keys import subscription_keys_converge
from subscriptions.services.placement import node_pick_for_new_client
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """Two nodes in Germany (the busier one is heavier), one in the Netherlands."""
    return {
        "de1": NodeFactory(name="de1", country="DE", health=NodeHealth.UP, weight=5),
        "de2": NodeFactory(name="de2", country="DE", health=NodeHealth.UP, weight=5),
        "nl": NodeFactory(name="nl", country="NL", health=NodeHealth.UP, weight=1),
    }


def live_key(subscription, node):
    key = NodeClientFactory(subscription=subscription, node=node)
    NodeClient.objects.filter(pk=key.pk).update(sync_state=SyncState.SYNCED, synced_version=1)
    return key


def test_the_countries_a_tariff_offers(world):
    NodeFactory(name="down", country="FI", health=NodeHealth.DOWN)
    assert tariff_countries(tariff=TariffFactory()) == ["DE", "NL"]
    only_de = TariffFactory()
    only_de.eligible_nodes.set([world["de1"], world["de2"]])
    assert tariff_countries(tariff=only_de) == ["DE"]


def test_placement_honours_the_country(world):
    tariff = TariffFactory()
    with transaction.atomic():
        picks = {node_pick_for_new_client(tariff=tariff, country="NL").name for _ in range(5)}
    assert picks == {"nl"}  # round-robin alone would give the heavier German nodes


def test_placement_falls_back_when_the_country_cannot_take_a_key(world):
    world["nl"].health = NodeHealth.DOWN
    world["nl"].save()
    with transaction.atomic():
        node = node_pick_for_new_client(tariff=TariffFactory(), country="NL")
    assert node.country == "DE"  # keys somewhere rather than none


def test_a_new_subscriptions_keys_go_to_its_country(world):
    subscription = SubscriptionFactory(country="NL")
    keys = subscription_keys_converge(subscription=subscription)
    assert [k.node.name for k in keys] == ["nl"]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_changing_the_country_moves_the_keys_and_sends_new_links(
    world, django_capture_on_commit_callbacks, language
):
    from django.utils import timezone

    subscription = SubscriptionFactory(
        customer=CustomerFactory(language=language), keys_notified_at=timezone.now()
    )
    old = live_key(subscription, world["de1"])
    subscription_country_set(subscription=subscription, country="nl")
    subscription.refresh_from_db()
    assert subscription.country == "NL"
    old.refresh_from_db()
    assert old.sync_state == SyncState.REMOVING
    new = NodeClient.objects.get(subscription=subscription, node=world["nl"])
    assert new.sync_state == SyncState.PENDING
    moved = {"en": "Your key was moved to another server", "ru": "Ваш ключ перенесён"}
    assert moved[language] in OutboxMessage.objects.get(kind="keys-moved").text
    assert AuditLog.objects.filter(event_type=AuditEvent.KEY_MOVED).exists()


def test_changing_the_country_of_a_multi_node_subscription(world):
    subscription = SubscriptionFactory(node_count=2)
    live_key(subscription, world["de1"])
    live_key(subscription, world["de2"])
    NodeFactory(name="nl2", country="NL", health=NodeHealth.UP)
    subscription_country_set(subscription=subscription, country="NL")
    states = dict(
        NodeClient.objects.filter(subscription=subscription).values_list("node__name", "sync_state")
    )
    assert states == {
        "de1": SyncState.REMOVING,
        "de2": SyncState.REMOVING,
        "nl": SyncState.PENDING,
        "nl2": SyncState.PENDING,
    }


def test_keys_already_in_the_country_stay(world):
    subscription = SubscriptionFactory()
    key = live_key(subscription, world["nl"])
    subscription_country_set(subscription=subscription, country="NL")
    key.refresh_from_db()
    assert key.sync_state == SyncState.SYNCED
    assert NodeClient.objects.filter(subscription=subscription).count() == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("unknown", "This country is not available for this subscription."),
        ("expired", "The country can be changed only for an active paid subscription."),
        ("trial", "The country can be changed only for an active paid subscription."),
        ("full", "No server in this country can take your keys right now. Please try later."),
    ],
)
def test_refusals_change_nothing(world, change, message):
    subscription = SubscriptionFactory(
        customer=CustomerFactory(language="en"),
        status=SubscriptionStatus.EXPIRED if change == "expired" else SubscriptionStatus.ACTIVE,
        is_trial=change == "trial",
    )
    key = live_key(subscription, world["de1"])
    if change == "full":
        world["nl"].max_clients = 1
        world["nl"].save()
        live_key(SubscriptionFactory(), world["nl"])
    with pytest.raises(ApplicationError) as caught:
        subscription_country_set(
            subscription=subscription, country="FI" if change == "unknown" else "NL"
        )
    assert caught.value.message == message
    subscription.refresh_from_db()
    key.refresh_from_db()
    assert (subscription.country, key.sync_state) == ("", SyncState.SYNCED)
