"""``manage.py x3ui_simulator``: flags map onto the simulator, and it starts and stops."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from devtools.management.commands.x3ui_simulator import Command, simulator_from_options


def _parse(*argv: str) -> dict:
    parser = Command().create_parser("manage.py", "x3ui_simulator")
    return vars(parser.parse_args(list(argv)))


def test_flags_map_onto_the_simulator(tmp_path):
    options = _parse(
        *("--port", "0", "--generation", "legacy", "--no-csrf"),
        *("--state", str(tmp_path / "s.json")),
        *("--username", "u", "--password", "p", "--base-path", "abc", "--inbound-port", "8443"),
        *("--api-token", "t1", "--api-token", "t2", "--session-max-age", "60"),
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


@pytest.mark.parametrize("version", ["2.8.3", "3.0.2", "3.1.0", "3.4.2", "3.6.0"])
def test_version_flag_picks_the_release(version):
    sim = simulator_from_options(_parse("--version", version))
    assert sim.version == version


@pytest.mark.parametrize(
    ("argv", "version"),
    [
        (("--generation", "legacy"), "3.0.2"),
        (("--generation", "legacy", "--no-csrf"), "2.8.3"),
        (("--generation", "v3"), "3.6.0"),
        (("--generation", "v3", "--no-bulk-create"), "3.1.0"),
        (("--version", "3.1.0", "--no-bulk-create"), "3.1.0"),
    ],
)
def test_shorthand_flags_map_onto_versions(argv, version):
    assert simulator_from_options(_parse(*argv)).version == version


def test_bad_version_is_rejected():
    with pytest.raises(CommandError, match="invalid choice"):
        _parse("--version", "3.2.0")


def test_contradictory_flags_are_refused():
    with pytest.raises(CommandError, match="csrf"):
        call_command("x3ui_simulator", "--version", "3.6.0", "--no-csrf", "--exit-after", "0")
    with pytest.raises(CommandError, match="CSRF"):
        call_command("x3ui_simulator", "--no-csrf", "--port", "0", "--exit-after", "0")


def test_runs_and_stops(tmp_path):
    out = io.StringIO()
    state = tmp_path / "state.json"
    call_command(
        "x3ui_simulator", "--port", "0", "--exit-after", "0.1", "--state", str(state), stdout=out
    )
    assert re.search(r"v3\.6\.0.* at http://127\.0\.0\.1:\d+/ ", out.getvalue())
    assert "stopped" in out.getvalue()
    assert state.exists()
