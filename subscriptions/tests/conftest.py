"""Panel simulators for the key tests (the fixture lives with the nodes tests)."""

from nodes.tests.conftest import sim_factory  # noqa: F401 - a fixture
