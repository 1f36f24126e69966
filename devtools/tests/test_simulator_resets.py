"""The simulator over raw HTTP: resetting one client's traffic counters on every release
(legacy ``inbounds/{id}/resetClientTraffic/{email}``, v3.1+ ``clients/resetTraffic/{email}``)."""

from __future__ import annotations

import pytest

from .panel_http import ALICE_UUID, ALL, BOB_UUID, LEGACY, V3, browser, post

OK = {"success": True, "msg": "Traffic has been reset.", "obj": None}


def reset_path(sim, email: str, inbound_id: int | str | None = None) -> str:
    if sim.generation == "legacy":
        return f"panel/api/inbounds/{inbound_id or sim.inbound_id}/resetClientTraffic/{email}"
    return f"panel/api/clients/resetTraffic/{email}"


@pytest.mark.parametrize("version", ALL)
def test_reset_zeroes_the_counters_of_one_client(version, sim_factory):
    sim = sim_factory(version=version)
    sim.seed_client("alice", id=ALICE_UUID, up=100, down=200)
    sim.seed_client("bob", id=BOB_UUID, up=5, down=6)
    http, headers = browser(sim)

    answer = post(sim, http, headers, reset_path(sim, "alice")).json()

    assert answer == OK
    traffic = sim.snapshot()["traffic"]
    assert (traffic["alice"]["up"], traffic["alice"]["down"]) == (0, 0)
    assert (traffic["bob"]["up"], traffic["bob"]["down"]) == (5, 6)
    # From v3.0.2 the inbound remembers when a client's traffic was last reset.
    stamped = sim.snapshot()["inbound"]["lastTrafficResetTime"]
    assert (stamped > 0) == (version != "2.8.3")
    assert sim.request_counts[f"POST {reset_path(sim, '{email}', '{id}')}"] == 1


@pytest.mark.parametrize("version", ALL)
def test_reset_of_an_unknown_email_is_refused(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    answer = post(sim, http, headers, reset_path(sim, "nobody")).json()
    expected = (
        "Something went wrong (Inbound Not Found For Email: nobody\n)"
        if version in LEGACY
        else "Something went wrong (record not found)"
    )
    assert answer == {"success": False, "msg": expected, "obj": None}


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_reset_parses_the_inbound_id_but_does_not_match_it(version, sim_factory):
    sim = sim_factory(version=version)
    sim.seed_client("alice", id=ALICE_UUID, up=1, down=2)
    http, headers = browser(sim)
    bad = post(sim, http, headers, reset_path(sim, "alice", inbound_id="x")).json()
    assert bad["success"] is False
    assert bad["msg"] == (
        'Inbound has been successfully updated. (strconv.Atoi: parsing "x": invalid syntax)'
    )
    # An enabled client is reset whatever inbound id the path names.
    assert post(sim, http, headers, reset_path(sim, "alice", inbound_id=7)).json() == OK


@pytest.mark.parametrize("version", ALL)
def test_reset_enables_the_traffic_row_and_from_v331_a_disabled_client(version, sim_factory):
    """The panel's traffic job disables a depleted client's row; the reset sets it back.
    A client disabled in its settings stays disabled up to v3.3.0; v3.3.1+ enables it."""
    sim = sim_factory(version=version)
    sim.seed_client("alice", id=ALICE_UUID, enable=False, up=10, down=10)
    http, headers = browser(sim)

    assert post(sim, http, headers, reset_path(sim, "alice")).json() == OK

    assert sim.snapshot()["traffic"]["alice"]["enable"] is True
    enabled = version in {"3.4.2", "3.6.0"}
    assert sim.client("alice")["enable"] is enabled
    if sim.generation == "v3":
        assert sim.records()[0]["enable"] is enabled


@pytest.mark.parametrize("version", V3)
def test_v3_reset_of_a_record_on_no_inbound_resets_its_row(version, sim_factory):
    sim = sim_factory(version=version)
    sim.seed_client("alice", id=ALICE_UUID, inbound_ids=[], up=3, down=4)
    http, headers = browser(sim)
    assert post(sim, http, headers, reset_path(sim, "alice")).json() == OK
    row = sim.snapshot()["traffic"]["alice"]
    assert (row["up"], row["down"]) == (0, 0)


def test_reset_answers_in_the_panel_language(sim_factory):
    sim = sim_factory(version="3.6.0")
    sim.seed_client("alice", id=ALICE_UUID, up=1, down=1)
    http, headers = browser(sim)
    http.cookies.set("lang", "ru-RU")
    answer = post(sim, http, headers, reset_path(sim, "alice")).json()
    assert answer == {"success": True, "msg": "Трафик сброшен", "obj": None}
