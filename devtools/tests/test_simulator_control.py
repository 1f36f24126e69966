"""The simulator over raw HTTP: faults, the control API, the state file."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from devtools.x3ui_simulator import resolve_version

from .conftest import FLAVOURS
from .panel_http import ALICE_UUID, TWO_INBOUNDS, browser, legacy_add, v3_add


@pytest.mark.parametrize("version", ["3.0.2", "3.6.0"])
def test_late_answer_applies_the_change(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    sim.add_fault("late", delay=1.0, count=1, path="add")
    client = {"id": ALICE_UUID, "email": "alice", "subId": "sa", "enable": True}
    body = (
        {"id": 1, "settings": json.dumps({"clients": [client]})}
        if sim.generation == "legacy"
        else {"client": client, "inboundIds": [1]}
    )
    path = "panel/api/inbounds/addClient" if sim.generation == "legacy" else "panel/api/clients/add"
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.post(sim.url + path, json=body, headers=headers, timeout=(1, 0.3))
    assert sim.client("alice") is not None  # the panel made the change anyway


def test_late_fault_over_http_and_stop_does_not_hang(sim_factory):
    sim = sim_factory(version="3.6.0")
    http, headers = browser(sim)
    faults = requests.post(
        f"{sim.root_url}/__sim__/faults", json={"mode": "late", "delay": 30}, timeout=2
    ).json()["faults"]
    assert faults[0]["mode"] == "late"
    errors = []

    def call():
        try:
            http.get(sim.url + "panel/api/inbounds/list", headers=headers, timeout=40)
        except requests.RequestException as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 2
    while sim.request_counts["GET panel/api/inbounds/list"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 3
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert errors  # the sleeping handler dropped its connection


def test_translated_context_keeps_the_go_error_in_english(sim_factory):
    sim = sim_factory(version="3.0.2", lang="ru")
    http, headers = browser(sim)
    legacy_add(sim, http, headers, {"id": "u1", "email": "alice"})
    dup = legacy_add(sim, http, headers, {"id": "u2", "email": "alice"})
    assert dup["msg"] == "Что-то пошло не так (Duplicate email: alice\n)"


def test_control_api_over_http(sim):
    root = f"{sim.root_url}/__sim__"
    seeded = requests.post(
        f"{root}/seed", json={"clients": [{"email": "f1", "enable": False}]}, timeout=2
    ).json()
    assert seeded["clients"][0]["email"] == "f1"
    assert requests.post(f"{root}/traffic", json={"email": "f1", "up": 9}, timeout=2).ok
    state = requests.get(f"{root}/state", timeout=2).json()
    assert state["traffic"]["f1"]["up"] == 9
    assert (state["generation"], state["version"]) == (sim.generation, sim.version)
    added = requests.post(f"{root}/inbounds", json={"remark": "B"}, timeout=2).json()
    assert added["inbound"]["id"] == 2
    seeded = requests.post(
        f"{root}/seed", json={"clients": [{"email": "f2", "inbound_id": 2}]}, timeout=2
    )
    assert seeded.ok
    assert sim.client("f2", 2) is not None
    assert requests.post(f"{root}/advance", json={"seconds": 5}, timeout=2).json() == {
        "clock_offset": 5.0
    }

    bad = requests.post(f"{root}/faults", json={"mode": "nonsense"}, timeout=2)
    assert bad.status_code == 400
    faults = requests.post(
        f"{root}/faults",
        json={"faults": [{"mode": "slow", "delay": 0.01}, {"mode": "html", "count": 2}]},
        timeout=2,
    ).json()["faults"]
    assert [f["mode"] for f in faults] == ["slow", "html"]
    assert requests.delete(f"{root}/faults", timeout=2).json() == {"faults": []}


def test_down_over_http_comes_back(sim):
    root = f"{sim.root_url}/__sim__"
    assert requests.post(f"{root}/faults", json={"mode": "down"}, timeout=2).status_code == 400
    assert requests.post(f"{root}/faults", json={"mode": "down", "seconds": 0.5}, timeout=2).ok
    deadline = time.monotonic() + 0.45
    while time.monotonic() < deadline and not sim.is_down:
        time.sleep(0.01)
    assert sim.is_down
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{root}/state", timeout=1)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            assert requests.get(f"{root}/state", timeout=1).ok
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    else:
        pytest.fail("simulator did not come back up")


def test_request_counts_per_route(sim):
    http, headers = browser(sim)
    for _ in range(3):
        http.get(sim.url + "panel/api/server/status", headers=headers, timeout=2)
    assert sim.request_counts["GET panel/api/server/status"] == 3
    assert sim.request_total == sum(sim.request_counts.values())
    requests.post(f"{sim.root_url}/__sim__/counts/reset", timeout=2)
    assert sim.request_total == 0


def test_state_file_survives_restart_with_sessions(tmp_path, sim_factory):
    state = tmp_path / "sim.json"
    first = sim_factory(version="3.4.2", state_file=state, inbounds=TWO_INBOUNDS)
    http, headers = browser(first)
    v3_add(first, http, headers, {"email": "alice", "subId": "sa"}, [1, 2])
    first.set_traffic("alice", up=1, down=2)
    first.stop()

    second = sim_factory(version="3.4.2", state_file=state, port=first.port)
    assert second.client("alice", 2)["subId"] == "sa"
    assert second.records()[0]["inboundIds"] == [1, 2]
    assert second.snapshot()["traffic"]["alice"]["down"] == 2
    # The cookie still works after the restart, as a real panel's signed cookie would.
    answer = http.get(second.url + "panel/api/clients/list", headers=headers, timeout=2)
    assert answer.json()["success"]


def test_upgrade_from_a_legacy_state_builds_the_clients_table(tmp_path, sim_factory):
    state = tmp_path / "sim.json"
    legacy = sim_factory(version="3.0.2", state_file=state)
    legacy.seed_client("alice", id=ALICE_UUID, sub_id="sa", up=3, down=4)
    legacy.stop()
    upgraded = sim_factory(version="3.6.0", state_file=state)
    [record] = upgraded.records()
    assert (record["email"], record["uuid"], record["inboundIds"]) == ("alice", ALICE_UUID, [1])
    assert "allTime" not in upgraded.snapshot()["traffic"]["alice"]


def test_flavours_still_cover_the_generations():
    assert {resolve_version(**f).name for f in FLAVOURS.values()} == {"3.6.0", "3.0.2", "2.8.3"}
