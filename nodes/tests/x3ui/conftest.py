"""Fixtures: a simulator per panel flavour on a free loopback port, and clients for it.

Every simulator is stopped at teardown and a final check makes sure no simulator thread
outlives its test, so a leaked server fails loudly instead of slowing the suite down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nodes.x3ui import X3UIClient
from nodes.x3ui.simulator import X3UISimulator

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


@pytest.fixture(params=["v3", "legacy"])
def sim(request: pytest.FixtureRequest, sim_factory) -> X3UISimulator:
    """One simulator per API generation (legacy = v3.0.2, with CSRF)."""
    return sim_factory(**FLAVOURS[request.param])


@pytest.fixture(params=list(FLAVOURS))
def any_sim(request: pytest.FixtureRequest, sim_factory) -> X3UISimulator:
    """Every flavour, including the no-CSRF v2.8.3 one."""
    return sim_factory(**FLAVOURS[request.param])


@pytest.fixture
def client_factory() -> Iterator[Callable[..., X3UIClient]]:
    """Build clients for a simulator (password auth unless told otherwise)."""
    made: list[X3UIClient] = []

    def make(sim: X3UISimulator, **kwargs: Any) -> X3UIClient:
        if "api_token" not in kwargs:
            kwargs.setdefault("username", USERNAME)
            kwargs.setdefault("password", PASSWORD)
        kwargs.setdefault("inbound_id", sim.inbound_id)
        kwargs.setdefault("timeout", FAST_TIMEOUT)
        client = X3UIClient(sim.url, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(sim: X3UISimulator, client_factory) -> X3UIClient:
    return client_factory(sim)
