"""Fixtures: a simulator per panel flavour on a free loopback port, and clients for it.

Every simulator is stopped at teardown and a final check makes sure no simulator thread
outlives its test, so a leaked server fails loudly instead of slowing the suite down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devtools.x3ui_simulator import X3UISimulator
from nodes.tests.conftest import API_TOKEN, FAST_TIMEOUT, FLAVOURS, PASSWORD, USERNAME  # noqa: F401
from nodes.x3ui import X3UIClient


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
