"""The simulator over raw HTTP: inbounds, traffic, re-adding a client, the legacy client API."""

from __future__ import annotations

import json

import pytest

from .panel_http import (
    ALICE_UUID,
    ALL,
    BOB_UUID,
    LEGACY,
    TWO_INBOUNDS,
    V3,
    browser,
    get_json,
    legacy_add,
    legacy_update,
    post,
    v3_add,
)


@pytest.mark.parametrize("version", ALL)
def test_inbound_get_and_list_shapes(version, sim_factory):
    sim = sim_factory(version=version, inbounds=TWO_INBOUNDS)
    sim.seed_client("alice", id=ALICE_UUID, sub_id="sa", up=1, down=2)
    sim.seed_client("bob", id=BOB_UUID, sub_id="sb", inbound_id=2, up=3, down=4)
    http, headers = browser(sim)
    got = get_json(sim, http, headers, "panel/api/inbounds/get/1")["obj"]
    listed = get_json(sim, http, headers, "panel/api/inbounds/list")["obj"]
    assert [i["id"] for i in listed] == [1, 2]
    # GetInbound has no Preload up to v3.2.5 (v3.1.0 web/service/inbound.go:657-665)
    if version in {"2.8.3", "3.0.2", "3.1.0"}:
        assert got["clientStats"] is None
    else:
        assert [s["email"] for s in got["clientStats"]] == ["alice"]
    assert [s["email"] for s in listed[0]["clientStats"]] == ["alice"]
    assert [(s["up"], s["down"]) for s in listed[1]["clientStats"]] == [(3, 4)]
    stats = listed[0]["clientStats"][0]
    # v2.8.3 leaves uuid/subId empty; enrichClientStats fills them from v3.0.2
    expected = ("", "") if version == "2.8.3" else (ALICE_UUID, "sa")
    assert (stats["uuid"], stats["subId"]) == expected
    if sim.generation == "legacy":
        assert isinstance(got["settings"], str)
        assert got["settings"].startswith("{\n  ")  # pretty-printed, 2-space indent
        assert isinstance(listed[1]["streamSettings"], str)
        assert "allTime" in got
        assert "allTime" in stats
    else:
        assert isinstance(got["settings"], dict)
        assert isinstance(listed[1]["streamSettings"], dict)
        assert "allTime" not in got
        assert "allTime" not in stats
    missing = get_json(sim, http, headers, "panel/api/inbounds/get/99")
    assert missing == {"success": False, "msg": "Obtain (record not found)", "obj": None}


@pytest.mark.parametrize("version", V3)
def test_v3_list_rows(version, sim_factory):
    sim = sim_factory(version=version, inbounds=TWO_INBOUNDS)
    sim.seed_client("alice", id=ALICE_UUID, inbound_ids=[1, 2], up=1, down=2)
    sim.seed_client("loner", inbound_ids=[])
    http, headers = browser(sim)
    rows = get_json(sim, http, headers, "panel/api/clients/list")["obj"]
    alice, loner = rows
    assert isinstance(alice["id"], int)
    assert alice["uuid"] == ALICE_UUID
    assert alice["inboundIds"] == [1, 2]
    assert (alice["traffic"]["up"], alice["traffic"]["down"]) == (1, 2)
    assert (alice["traffic"]["uuid"], alice["traffic"]["subId"]) == ("", "")
    assert loner["inboundIds"] is None
    assert "traffic" not in loner
    assert ("allowedIPs" in alice) == (version != "3.1.0")
    assert ("secret" in alice) == (version == "3.6.0")
    assert sim.records()[1]["inboundIds"] is None


@pytest.mark.parametrize("version", ALL)
def test_traffic_by_email(version, sim_factory):
    sim = sim_factory(version=version)
    sim.seed_client("alice", id=ALICE_UUID, sub_id="sa", up=5, down=6, enable=False)
    http, headers = browser(sim)
    route = (
        "panel/api/inbounds/getClientTraffics/"
        if sim.generation == "legacy"
        else "panel/api/clients/traffic/"
    )
    row = get_json(sim, http, headers, route + "alice")["obj"]
    assert (row["up"], row["down"], row["uuid"], row["subId"]) == (5, 6, ALICE_UUID, "sa")
    unknown = get_json(sim, http, headers, route + "zed")
    assert unknown == {
        "success": False,
        "msg": "Error getting traffics. (Inbound Not Found For Email: zed\n)",
        "obj": None,
    }


@pytest.mark.parametrize("version", ALL)
def test_readding_the_same_client_to_the_same_inbound(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    alice = {"id": ALICE_UUID, "email": "alice", "subId": "sa", "enable": True, "totalGB": 5}
    add = legacy_add if sim.generation == "legacy" else v3_add
    assert add(sim, http, headers, alice)["success"]
    sim.set_traffic("alice", up=7, down=8)
    again = add(sim, http, headers, {**alice, "totalGB": 9, "comment": "second"})
    copies = sim.client_copies("alice")
    if version == "2.8.3":
        assert again["msg"] == "Something went wrong (Duplicate email: alice\n)"
        assert copies == 1
    elif version == "3.0.2":  # appended; the traffic row kept (ON CONFLICT DO NOTHING)
        assert again["success"]
        assert copies == 2
        assert sim.snapshot()["traffic"]["alice"]["total"] == 5
    elif version == "3.1.0":  # the client_inbounds primary key, rolled back
        assert again["msg"] == (
            "Something went wrong (UNIQUE constraint failed: "
            "client_inbounds.client_id, client_inbounds.inbound_id)"
        )
        assert copies == 1
        assert sim.records()[0]["totalGB"] == 5
    elif version == "3.4.2":  # appended, and the shared record takes the new values
        assert again == {"success": True, "msg": "Inbound client(s) have been added.", "obj": None}
        assert copies == 2
        assert (sim.records()[0]["totalGB"], sim.records()[0]["comment"]) == (9, "second")
    else:  # 3.6.0: a silent no-op
        assert again == {"success": True, "msg": "Inbound client(s) have been added.", "obj": None}
        assert copies == 1
        assert (sim.records()[0]["totalGB"], sim.records()[0]["comment"]) == (5, "")
    traffic = sim.snapshot()["traffic"]["alice"]
    assert (traffic["up"], traffic["down"]) == (7, 8)


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_uniqueness(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    assert legacy_add(sim, http, headers, {"id": ALICE_UUID, "email": "alice", "subId": "sa"})[
        "success"
    ]
    # case-insensitive in both (v2.8.3 inbound.go:121-129 ToLower; v3.0.2 :204,262)
    case = legacy_add(sim, http, headers, {"id": BOB_UUID, "email": "ALICE", "subId": "other"})
    assert case["msg"] == "Something went wrong (Duplicate email: ALICE\n)"
    no_sub = legacy_add(sim, http, headers, {"id": BOB_UUID, "email": "alice"})
    assert no_sub["msg"] == "Something went wrong (Duplicate email: alice\n)"
    twice = legacy_add(
        sim, http, headers, {"id": "u3", "email": "carol"}, {"id": "u4", "email": "Carol"}
    )
    assert twice["msg"] == "Something went wrong (Duplicate email: Carol\n)"
    no_id = legacy_add(sim, http, headers, {"email": "dave"})
    assert no_id["msg"] == "Something went wrong (empty client ID\n)"
    no_email = legacy_add(sim, http, headers, {"id": "u5", "email": ""})
    if version == "2.8.3":  # accepted, without a traffic row
        assert no_email["success"]
        assert "" not in sim.snapshot()["traffic"]
    else:
        assert no_email["msg"] == "Something went wrong (client email is required\n)"
    unknown_inbound = legacy_add(sim, http, headers, {"id": "u6", "email": "erin"}, inbound_id=9)
    assert unknown_inbound["msg"] == "Something went wrong (record not found)"


def test_legacy_same_email_and_subid_on_two_inbounds(sim_factory):
    sim = sim_factory(version="3.0.2", inbounds=TWO_INBOUNDS)
    http, headers = browser(sim)
    alice = {"id": ALICE_UUID, "email": "alice", "subId": "sa", "enable": True}
    assert legacy_add(sim, http, headers, alice)["success"]
    assert legacy_add(sim, http, headers, alice, inbound_id=2)["success"]
    assert (sim.client_copies("alice", 1), sim.client_copies("alice", 2)) == (1, 1)
    sim.set_traffic("alice", up=1, down=1)
    listed = get_json(sim, http, headers, "panel/api/inbounds/list")["obj"]
    # one row per email, shown under both inbounds (shared-email mode)
    assert [[s["email"] for s in i["clientStats"]] for i in listed] == [["alice"], ["alice"]]


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_add_stores_exactly_as_sent(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    answer = legacy_add(
        sim, http, headers, {"id": ALICE_UUID, "email": "alice", "tgId": "", "allowedIPs": ""}
    )
    assert answer == {"success": True, "msg": "Inbound client(s) have been added.", "obj": None}
    stored = sim.client("alice")
    assert stored["tgId"] == ""
    assert stored["allowedIPs"] == ""  # map[string]any: extra keys stored as sent
    assert "enable" not in stored
    assert sim.snapshot()["traffic"]["alice"]["enable"] is False  # omitted means disabled
    assert "subId" not in stored  # addClient generates no subId
    assert stored["created_at"] > 0


def test_legacy_settings_must_be_a_string_in_json(sim_factory):
    sim = sim_factory(version="3.0.2")
    http, headers = browser(sim)
    body = {"id": 1, "settings": {"clients": [{"id": ALICE_UUID, "email": "a"}]}}
    answer = post(sim, http, headers, "panel/api/inbounds/addClient", json=body).json()
    assert answer["msg"].startswith("Inbound has been successfully updated. (json: cannot")
    assert not answer["success"]
    broken = {"id": 1, "settings": json.dumps({"nope": []})}
    crashed = post(sim, http, headers, "panel/api/inbounds/addClient", json=broken)
    assert (crashed.status_code, crashed.content) == (500, b"")


def test_legacy_form_body_works_too(sim_factory):
    sim = sim_factory(version="3.0.2")
    http, headers = browser(sim)
    form = {"id": "1", "settings": json.dumps({"clients": [{"id": ALICE_UUID, "email": "a"}]})}
    answer = post(sim, http, headers, "panel/api/inbounds/addClient", data=form).json()
    assert answer["success"]


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_update_replaces_the_first_match(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    legacy_add(sim, http, headers, {"id": ALICE_UUID, "email": "alice", "subId": "sa"})
    legacy_add(sim, http, headers, {"id": BOB_UUID, "email": "bob", "subId": "sb"})
    created = sim.client("alice")["created_at"]
    new = {"id": ALICE_UUID, "email": "alice2", "enable": True, "totalGB": 3}
    assert legacy_update(sim, http, headers, ALICE_UUID, new)["success"]
    stored = sim.client("alice2")
    assert "subId" not in stored  # whole-map replacement: omitted keys are dropped
    assert stored["created_at"] == created
    assert sim.snapshot()["traffic"]["alice2"]["total"] == 3  # the row follows the rename
    unknown = legacy_update(sim, http, headers, "nope", new)
    assert unknown["msg"] == "Something went wrong (empty client ID\n)"
    clash = legacy_update(sim, http, headers, BOB_UUID, {"id": BOB_UUID, "email": "ALICE2"})
    assert clash["msg"] == "Something went wrong (Duplicate email: ALICE2\n)"


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_delete(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    legacy_add(sim, http, headers, {"id": ALICE_UUID, "email": "alice", "subId": "sa"})
    gone = post(sim, http, headers, "panel/api/inbounds/1/delClient/zzz").json()
    if version == "2.8.3":
        assert gone == {"success": True, "msg": "Inbound client has been deleted.", "obj": None}
    else:
        assert gone["msg"] == "Something went wrong (Client Not Found In Inbound For ID: zzz\n)"
    last = post(sim, http, headers, f"panel/api/inbounds/1/delClient/{ALICE_UUID}").json()
    assert last["msg"] == "Something went wrong (no client remained in Inbound\n)"
    by_email = post(sim, http, headers, "panel/api/inbounds/1/delClientByEmail/zed").json()
    assert by_email["msg"] == "Failed to delete client by email (client with email zed not found\n)"
    legacy_add(sim, http, headers, {"id": BOB_UUID, "email": "bob", "subId": "sb"})
    ok = post(sim, http, headers, "panel/api/inbounds/1/delClientByEmail/bob").json()
    assert ok == {"success": True, "msg": "Client deleted successfully", "obj": None}
    assert sim.client("bob") is None


def test_legacy_delete_removes_every_copy_and_update_edits_the_first(sim_factory):
    sim = sim_factory(version="3.0.2")
    http, headers = browser(sim)
    alice = {"id": ALICE_UUID, "email": "alice", "subId": "sa", "enable": True}
    legacy_add(sim, http, headers, {"id": BOB_UUID, "email": "bob", "subId": "sb"})
    legacy_add(sim, http, headers, alice)
    legacy_add(sim, http, headers, alice)
    assert sim.client_copies("alice") == 2
    legacy_update(sim, http, headers, ALICE_UUID, {**alice, "comment": "edited"})
    assert [c.get("comment") for c in sim.clients() if c["email"] == "alice"] == ["edited", None]
    answer = post(sim, http, headers, f"panel/api/inbounds/1/delClient/{ALICE_UUID}").json()
    assert answer["success"]
    assert sim.client_copies("alice") == 0
    assert "alice" not in sim.snapshot()["traffic"]
