"""The simulator's own tests use the node tests' simulator fixtures (`sim_factory` comes from
the root conftest; every simulator is stopped at teardown, and a leaked simulator thread fails
the test)."""

from nodes.tests.conftest import FLAVOURS, PASSWORD, USERNAME
from nodes.tests.x3ui.conftest import sim

__all__ = ["FLAVOURS", "PASSWORD", "USERNAME", "sim"]
