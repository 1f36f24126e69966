"""Shared node fixtures: simulators on free loopback ports, stopped after each test."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devtools.x3ui_simulator import X3UISimulator

USERNAME = "admin"
PASSWORD = "s3cret-Pa55"
API_TOKEN = "tok-0123456789abcdef"
# Short timeouts: everything is on loopback, and a hung test should fail fast.
FAST_TIMEOUT = (1.0, 2.0)

#: (generation, csrf): v3.x; legacy v3.0.2 (CSRF + tokens); legacy v2.8.3 (neither).
FLAVOURS = {
    "v3": {"generation": "v3"},
    "legacy": {"generation": "legacy"},
    "legacy-nocsrf": {"generation": "legacy", "csrf": False},
}


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., X3UISimulator]]:
    """Start simulators with any options; all of them are stopped after the test."""
    started: list[X3UISimulator] = []

    def make(**kwargs: Any) -> X3UISimulator:
        kwargs.setdefault("username", USERNAME)
        kwargs.setdefault("password", PASSWORD)
        kwargs.setdefault("api_tokens", [API_TOKEN])
        kwargs.setdefault("base_path", "/panelXyz123/")
        sim = X3UISimulator(**kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()
    leftovers = [t.name for t in threading.enumerate() if t.name.startswith("x3ui-sim")]
    assert not leftovers, f"simulator threads leaked: {leftovers}"


def panel_email(subscription, sim) -> str:
    """The email of `subscription`'s key on the node that points at `sim`."""
    from nodes.models import Node, panel_url_normalize
    from nodes.services.keys import key_email

    node = Node.objects.get(panel_url=panel_url_normalize(sim.url), inbound_id=sim.inbound_id)
    return key_email(subscription_id=subscription.pk, node_id=node.pk)


def seed_orphan(sim, email: str = "") -> str:
    """Seed a client that is ours (marker + the UUID of a real subscription) with no key."""
    from nodes.services.keys import OURS_COMMENT_PREFIX
    from subscriptions.tests.factories import SubscriptionFactory

    subscription = SubscriptionFactory()
    email = email or f"s{subscription.pk}n999"
    sim.seed_client(
        email, id=str(subscription.client_uuid), comment=f"{OURS_COMMENT_PREFIX}s{subscription.pk}"
    )
    return email


def node_for(sim, *, inbound_id: int | None = None, **kwargs):
    """A node on `sim`'s panel, checked once (its inbound fetched for links, as beat would)."""
    from nodes.models import NodeHealth
    from nodes.services.health import node_health_check
    from nodes.tests.factories import NodeFactory

    kwargs.setdefault("health", NodeHealth.UP)
    node = NodeFactory(
        panel_url=sim.url,
        panel_username=USERNAME,
        panel_password=PASSWORD,
        inbound_id=inbound_id or sim.inbound_id,
        **kwargs,
    )
    node_health_check(node=node)
    node.refresh_from_db()
    return node
