"""The panel's own traffic job (devtools/x3ui_simulator/jobs.py), release by release, seen
through the routes a client reads (``inbounds/list``, ``clients/list``)."""

from __future__ import annotations

import json
import time

import pytest
import requests

from .panel_http import ALL, V3, browser, get_json

DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def tick(sim) -> None:
    """Move the clock past the first tick (5 s after start plus one period)."""
    sim.advance(5 + sim.spec.traffic_job_seconds)


def read(sim, inbound_index: int = 0):
    """(settings entries, clientStats rows, v3 records), each by email, as listed."""
    http, headers = browser(sim)
    inbound = get_json(sim, http, headers, "panel/api/inbounds/list")["obj"][inbound_index]
    settings = inbound["settings"]
    settings = json.loads(settings) if isinstance(settings, str) else settings
    entries = {c["email"]: c for c in settings["clients"]}
    stats = {row["email"]: row for row in inbound["clientStats"] or []}
    records = {}
    if sim.generation == "v3":
        rows = get_json(sim, http, headers, "panel/api/clients/list")["obj"]
        records = {row["email"]: row for row in rows}
    return entries, stats, records


@pytest.mark.parametrize("version", ALL)
def test_an_expired_client_is_disabled_at_the_first_tick(version, sim_factory):
    sim = sim_factory(version=version)
    sim.seed_client("gone", expiryTime=now_ms() - 1000, totalGB=5 * 1024**3)
    sim.seed_client("ahead", expiryTime=now_ms() + 3_600_000)
    period = sim.spec.traffic_job_seconds
    assert period == (10 if version == "2.8.3" else 5)  # web.go "@every 10s" / "@every 5s"

    sim.advance(5 + period - 3)  # before the first tick (3 s left for this test's own work)
    entries, stats, _ = read(sim)
    assert entries["gone"]["enable"] is True
    assert stats["gone"]["enable"] is True

    sim.advance(3.5)
    entries, stats, records = read(sim)
    assert stats["gone"]["enable"] is False
    assert (entries["ahead"]["enable"], stats["ahead"]["enable"]) == (True, True)
    if version == "2.8.3":  # only the traffic row: the settings entry stays enabled
        assert entries["gone"]["enable"] is True
    else:
        assert entries["gone"]["enable"] is False
        assert entries["gone"]["expiryTime"] == stats["gone"]["expiryTime"]
        assert entries["gone"]["totalGB"] == stats["gone"]["total"]
    if version in V3:
        assert (records["gone"]["enable"], records["ahead"]["enable"]) == (False, True)
        assert records["gone"]["traffic"]["enable"] is False


@pytest.mark.parametrize("version", ALL)
def test_a_client_over_its_total_is_disabled(version, sim_factory):
    sim = sim_factory(version=version)
    sim.seed_client("heavy", totalGB=1000, up=600, down=400)
    sim.seed_client("light", totalGB=1000, up=600, down=399)
    sim.seed_client("unlimited", totalGB=0, up=10**12, down=0)
    tick(sim)
    _entries, stats, _records = read(sim)
    assert {email: row["enable"] for email, row in stats.items()} == {
        "heavy": False,
        "light": True,
        "unlimited": True,
    }


@pytest.mark.parametrize("version", ALL)
def test_a_client_with_reset_days_is_renewed_not_disabled(version, sim_factory):
    sim = sim_factory(version=version)
    ended = now_ms() - 1000
    sim.seed_client("monthly", expiryTime=ended, reset=30, enable=False, up=5, down=7)
    tick(sim)
    entries, stats, records = read(sim)
    assert stats["monthly"]["expiryTime"] == ended + 30 * DAY_MS
    assert (stats["monthly"]["up"], stats["monthly"]["down"]) == (0, 0)
    assert stats["monthly"]["enable"] is True
    assert entries["monthly"]["expiryTime"] == ended + 30 * DAY_MS
    # v2.8.3 turns the traffic row back on only; from v3.0.2 the settings entry too.
    assert entries["monthly"]["enable"] is (version != "2.8.3")
    if version in V3:
        assert records["monthly"]["enable"] is True
        assert records["monthly"]["expiryTime"] == ended + 30 * DAY_MS


def test_v302_disables_the_same_subid_on_other_inbounds_only(sim_factory):
    sim = sim_factory(version="3.0.2", inbounds=[{"id": 1, "port": 443}, {"id": 2, "port": 8443}])
    past = now_ms() - 1000
    for inbound_id in (1, 2):
        sim.seed_client("alice", inbound_id=inbound_id, sub_id="sa", expiryTime=past)
    sim.seed_client("bob", inbound_id=1, sub_id="sb", expiryTime=past)
    sim.seed_client("bob", inbound_id=2, sub_id="other", expiryTime=past)
    tick(sim)
    first, _stats, _ = read(sim, 0)
    second, _stats, _ = read(sim, 1)
    assert (first["alice"]["enable"], second["alice"]["enable"]) == (False, False)
    assert (first["bob"]["enable"], second["bob"]["enable"]) == (False, True)


@pytest.mark.parametrize("version", V3)
def test_v3_disables_a_record_on_every_inbound_it_is_linked_to(version, sim_factory):
    sim = sim_factory(version=version, inbounds=[{"id": 1, "port": 443}, {"id": 2, "port": 8443}])
    sim.seed_client("shared", inbound_ids=[1, 2], expiryTime=now_ms() - 1000)
    tick(sim)
    first, _stats, records = read(sim, 0)
    second, _stats, _ = read(sim, 1)
    assert (first["shared"]["enable"], second["shared"]["enable"]) == (False, False)
    assert records["shared"]["enable"] is False


@pytest.mark.parametrize("version", V3)
def test_renewal_reaches_every_linked_inbound_from_v342(version, sim_factory):
    sim = sim_factory(version=version, inbounds=[{"id": 1, "port": 443}, {"id": 2, "port": 8443}])
    ended = now_ms() - 1000
    sim.seed_client("shared", inbound_ids=[1, 2], expiryTime=ended, reset=7)
    tick(sim)
    first, _stats, _ = read(sim, 0)
    second, _stats, _ = read(sim, 1)
    renewed = ended + 7 * DAY_MS
    assert first["shared"]["expiryTime"] == renewed
    # up to v3.1.0 only the traffic row's own inbound; from v3.4.2 every linked one
    assert second["shared"]["expiryTime"] == (ended if version == "3.1.0" else renewed)


@pytest.mark.parametrize("version", ALL)
def test_an_expired_inbound_is_disabled(version, sim_factory):
    sim = sim_factory(version=version)
    sim.add_inbound(port=8443, remark="old", expiryTime=now_ms() - 1000)
    sim.add_inbound(port=8444, remark="full", total=100, up=60, down=40)
    tick(sim)
    http, headers = browser(sim)
    listed = get_json(sim, http, headers, "panel/api/inbounds/list")["obj"]
    assert [i["enable"] for i in listed] == [True, False, False]


@pytest.mark.parametrize("version", ["2.8.3", "3.6.0"])
def test_the_job_runs_when_the_panel_starts(version, tmp_path, sim_factory):
    """``GetXrayConfig`` runs ``AddTraffic(nil, nil)`` when Xray starts with the panel."""
    state = tmp_path / "panel.json"
    first = sim_factory(version=version, state_file=state)
    first.seed_client("gone", expiryTime=now_ms() - 1000)
    assert first.snapshot()["traffic"]["gone"]["enable"] is True
    first.stop()

    again = sim_factory(version=version, state_file=state)
    assert again.snapshot()["traffic"]["gone"]["enable"] is False  # no tick needed


def test_the_job_runs_on_request_over_http(sim_factory):
    sim = sim_factory(version="3.6.0")
    sim.seed_client("gone", expiryTime=now_ms() - 1000)
    answer = requests.post(f"{sim.root_url}/__sim__/traffic-job", timeout=2).json()
    assert answer == {"renewed": 0, "disabled": 1, "inbounds_disabled": 0}
    assert sim.records()[0]["enable"] is False
