"""``manage.py x3ui_simulator``: flags map onto the simulator, and it starts and stops."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from nodes.management.commands.x3ui_simulator import Command, simulator_from_options


def _parse(*argv: str) -> dict:
    parser = Command().create_parser("manage.py", "x3ui_simulator")
    return vars(parser.parse_args(list(argv)))


def test_flags_map_onto_the_simulator(tmp_path):
    options = _parse(
        "--port",
        "0",
        "--generation",
        "legacy",
        "--no-csrf",
        "--state",
        str(tmp_path / "s.json"),
        "--username",
        "u",
        "--password",
        "p",
        "--base-path",
        "abc",
        "--inbound-port",
        "8443",
        "--api-token",
        "t1",
        "--api-token",
        "t2",
        "--session-max-age",
        "60",
    )
    sim = simulator_from_options(options)
    assert (sim.generation, sim.csrf, sim.version) == ("legacy", False, "2.8.3")
    assert sim.base_path == "/abc/"
    assert sim.snapshot()["inbound"]["port"] == 8443
    assert sim.session_max_age == 60
    assert sim.state_file == tmp_path / "s.json"
    assert len(sim._tokens) == 2


def test_defaults():
    sim = simulator_from_options(_parse())
    assert (sim.generation, sim.version, sim.base_path, sim.inbound_id) == ("v3", "3.6.0", "/", 1)
    assert sim.url == "http://127.0.0.1:2053/"


def test_bad_generation_is_rejected():
    with pytest.raises(CommandError, match="invalid choice"):
        _parse("--generation", "v9")


def test_runs_and_stops(tmp_path):
    out = io.StringIO()
    state = tmp_path / "state.json"
    call_command(
        "x3ui_simulator", "--port", "0", "--exit-after", "0.1", "--state", str(state), stdout=out
    )
    assert re.search(r"at http://127\.0\.0\.1:\d+/ ", out.getvalue())
    assert "stopped" in out.getvalue()
    assert state.exists()
