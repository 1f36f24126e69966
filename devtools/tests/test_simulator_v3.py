"""The simulator over raw HTTP: the v3 client API, bulkCreate, several inbounds, seeding."""

from __future__ import annotations

import pytest

from .panel_http import (
    ALICE_UUID,
    ALL,
    TWO_INBOUNDS,
    V3,
    browser,
    full_body,
    get_json,
    post,
    v3_add,
    v3_update,
)


@pytest.mark.parametrize("version", V3)
def test_v3_create_fills_defaults_and_forces_enable(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    answer = v3_add(sim, http, headers, {"email": "alice", "enable": False})
    assert answer == {"success": True, "msg": "Inbound client(s) have been added.", "obj": None}
    stored = sim.client("alice")
    assert stored["enable"] is True
    assert len(stored["subId"]) == 36
    assert len(stored["id"]) == 36
    got = get_json(sim, http, headers, "panel/api/clients/get/alice")["obj"]
    assert got["client"]["uuid"] == stored["id"]
    assert isinstance(got["client"]["id"], int)
    assert got["inboundIds"] == [1]
    assert ("usedTraffic" in got) == (version != "3.1.0")
    assert v3_add(sim, http, headers, {"email": " "})["msg"] == (
        "Something went wrong (client email is required\n)"
    )
    none = post(sim, http, headers, "panel/api/clients/add", json={"client": {"email": "x"}})
    assert none.json()["msg"] == "Something went wrong (at least one inbound is required\n)"


@pytest.mark.parametrize("version", V3)
def test_v3_uniqueness_messages(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    v3_add(sim, http, headers, {"email": "alice", "subId": "sa"})
    v3_add(sim, http, headers, {"email": "bob", "subId": "sb"})
    assert v3_add(sim, http, headers, {"email": "alice", "subId": "other"})["msg"] == (
        "Something went wrong (email already in use: alice\n)"
    )
    assert v3_add(sim, http, headers, {"email": "alice"})["msg"] == (
        "Something went wrong (email already in use: alice\n)"  # an omitted subId is fresh
    )
    # the clients lookup is exact; the settings check is not
    assert v3_add(sim, http, headers, {"email": "ALICE", "subId": "other"})["msg"] == (
        "Something went wrong (Duplicate email: ALICE\n)"
    )
    carol = v3_add(sim, http, headers, {"email": "carol", "subId": "sa"})
    if version == "3.1.0":  # subId uniqueness arrived in v3.2.5
        assert carol["success"]
    else:
        assert carol["msg"] == "Something went wrong (subId already in use: sa\n)"
    rename = v3_update(sim, http, headers, "bob", full_body("alice", subId="sb"))
    assert rename["msg"] == "Something went wrong (Duplicate email: alice\n)"


@pytest.mark.parametrize("version", ["3.4.2", "3.6.0"])
def test_v3_email_characters_are_checked(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    assert v3_add(sim, http, headers, {"email": "a b"})["msg"] == (
        "Something went wrong (client email contains an invalid character: a b\n)"
    )


@pytest.mark.parametrize("version", V3)
def test_v3_typed_binding(version, sim_factory):
    sim = sim_factory(version=version)
    sim.seed_client("alice", id=ALICE_UUID, sub_id="sa")
    http, headers = browser(sim)
    [row] = get_json(sim, http, headers, "panel/api/clients/list")["obj"]
    echoed = v3_update(sim, http, headers, "alice", row)  # id is the row number
    assert echoed["msg"] == (
        "Something went wrong (json: cannot unmarshal number into Go struct field "
        "Client.id of type string)"
    )
    fixed = {k: v for k, v in row.items() if k not in {"id", "uuid", "inboundIds", "traffic"}}
    fixed["id"] = row["uuid"]
    answer = v3_update(sim, http, headers, "alice", fixed)
    if version == "3.1.0":  # no allowedIPs field yet: an unknown key, ignored
        assert answer["success"]
        assert "allowedIPs" not in row
    else:
        assert row["allowedIPs"] == ""
        assert answer["msg"] == (
            "Something went wrong (json: cannot unmarshal string into Go struct field "
            "Client.allowedIPs of type []string)"
        )
        added = v3_add(sim, http, headers, {"email": "bob", "allowedIPs": ""})
        assert added["msg"] == (
            "Something went wrong (json: cannot unmarshal string into Go struct field "
            "Client.client.allowedIPs of type []string)"
        )
    bad_tg = v3_update(sim, http, headers, "alice", full_body("alice", tgId=""))
    assert bad_tg["msg"] == (
        "Something went wrong (json: cannot unmarshal string into Go struct field "
        "Client.tgId of type int64)"
    )


@pytest.mark.parametrize("version", V3)
def test_v3_update_replaces_everywhere(version, sim_factory):
    sim = sim_factory(version=version, inbounds=TWO_INBOUNDS)
    http, headers = browser(sim)
    client = {"email": "alice", "subId": "sa", "totalGB": 5, "limitIp": 2}
    assert v3_add(sim, http, headers, client, inbound_ids=[1, 2])["success"]
    uuid_before = sim.client("alice")["id"]
    answer = v3_update(sim, http, headers, "alice", {"email": "alice", "comment": "x"})
    assert answer == {"success": True, "msg": "Inbound client has been updated.", "obj": None}
    for inbound_id in (1, 2):
        stored = sim.client("alice", inbound_id)
        assert (stored["enable"], stored["totalGB"], stored["limitIp"]) == (False, 0, 0)
        assert (stored["subId"], stored["comment"]) == ("sa", "x")
    record = sim.records()[0]
    assert (record["enable"], record["comment"]) == (False, "x")
    if version == "3.1.0":  # fillProtocolDefaults mints a uuid when id is omitted
        assert sim.client("alice")["id"] != uuid_before
    else:
        assert sim.client("alice")["id"] == uuid_before
    kept = v3_update(sim, http, headers, "alice", full_body("alice", id=uuid_before))
    assert kept["success"]
    assert sim.records()[0]["uuid"] == uuid_before
    missing = v3_update(sim, http, headers, "zed", full_body("zed"))
    assert missing["msg"] == "Something went wrong (record not found)"
    upper = v3_update(sim, http, headers, "ALICE", full_body("ALICE"))  # "email = ?" is exact
    assert upper["msg"] == "Something went wrong (record not found)"
    no_email = v3_update(sim, http, headers, "alice", {"comment": "y"})
    assert no_email["msg"] == "Something went wrong (client email is required\n)"


@pytest.mark.parametrize("version", V3)
def test_v3_update_inbound_filter(version, sim_factory):
    sim = sim_factory(version=version, inbounds=TWO_INBOUNDS)
    http, headers = browser(sim)
    v3_add(sim, http, headers, {"id": ALICE_UUID, "email": "alice", "subId": "sa"}, [1, 2])
    body = full_body("alice", id=ALICE_UUID, comment="only-2")
    assert v3_update(sim, http, headers, "alice", body, query="?inboundIds=2")["success"]
    comments = (sim.client("alice", 1)["comment"], sim.client("alice", 2)["comment"])
    if version == "3.1.0":  # no ?inboundIds= before v3.2.8: every inbound
        assert comments == ("only-2", "only-2")
    else:
        assert comments == ("", "only-2")


@pytest.mark.parametrize("version", V3)
def test_v3_update_of_a_detached_client(version, sim_factory):
    sim = sim_factory(version=version)
    sim.seed_client("loner", id=ALICE_UUID, sub_id="sl", inbound_ids=[], totalGB=1)
    http, headers = browser(sim)
    body = full_body("loner", id=ALICE_UUID, enable=False, totalGB=7, comment="new")
    assert v3_update(sim, http, headers, "loner", body)["success"]
    record = sim.records()[0]
    got = (record["enable"], record["totalGB"], record["comment"])
    if version == "3.1.0":  # only updated_at is written
        assert got == (True, 1, "")
    elif version == "3.4.2":  # the rename, group and enable only
        assert got == (False, 1, "")
    else:
        assert got == (False, 7, "new")


@pytest.mark.parametrize("version", V3)
def test_v3_delete_and_detach(version, sim_factory):
    sim = sim_factory(version=version, inbounds=TWO_INBOUNDS)
    http, headers = browser(sim)
    v3_add(sim, http, headers, {"email": "alice", "subId": "sa"}, [1, 2])
    v3_add(sim, http, headers, {"email": "bob", "subId": "sb"}, [1, 2])
    detach = post(sim, http, headers, "panel/api/clients/bob/detach", json={"inboundIds": [1]})
    assert detach.json() == {
        "success": True,
        "msg": "Inbound client has been deleted.",
        "obj": None,
    }
    assert (sim.client_copies("bob", 1), sim.client_copies("bob", 2)) == (0, 1)
    post(sim, http, headers, "panel/api/clients/bob/detach", json={"inboundIds": [2, 9]})
    bob = next(r for r in sim.records() if r["email"] == "bob")
    assert bob["inboundIds"] is None  # the record stays
    assert ("bob" in sim.snapshot()["traffic"]) == (version != "3.1.0")
    got = get_json(sim, http, headers, "panel/api/clients/get/bob")["obj"]
    assert got["inboundIds"] == []

    answer = post(sim, http, headers, "panel/api/clients/del/alice").json()
    assert answer == {"success": True, "msg": "Inbound client has been deleted.", "obj": None}
    assert sim.client_copies("alice", 1) == sim.client_copies("alice", 2) == 0
    assert [r["email"] for r in sim.records()] == ["bob"]
    gone = post(sim, http, headers, "panel/api/clients/del/zed").json()
    if version == "3.1.0":
        assert gone["msg"] == "Something went wrong (record not found)"
    else:
        assert gone["msg"] == (
            'Something went wrong (client "zed" not found in any inbound or client record\n)'
        )


@pytest.mark.parametrize("version", V3)
def test_v3_get_unknown_email(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    answer = get_json(sim, http, headers, "panel/api/clients/get/zed")
    context = "Obtain" if version == "3.6.0" else ""  # the i18n key "get" is missing before
    assert answer == {"success": False, "msg": f"{context} (record not found)", "obj": None}


@pytest.mark.parametrize("version", ALL)
def test_bulk_create_where_it_exists(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = browser(sim)
    if sim.generation == "v3":
        v3_add(sim, http, headers, {"email": "alice", "subId": "sa"})
    payloads = [
        {"client": {"email": "bob"}, "inboundIds": [1]},
        {"client": {"email": "alice", "subId": "x"}, "inboundIds": [1]},
        {"client": {"email": ""}, "inboundIds": [1]},
        {"client": {"email": "BOB"}, "inboundIds": [1]},
    ]
    answer = post(sim, http, headers, "panel/api/clients/bulkCreate", json=payloads)
    if version not in {"3.4.2", "3.6.0"}:  # from v3.2.0
        assert (answer.status_code, answer.content) == (404, b"")
        return
    assert answer.json()["obj"] == {
        "created": 1,
        "skipped": [  # pass-1 skips first, then the failures found against the DB
            {"email": "", "reason": "client email is required"},
            {"email": "BOB", "reason": "email already in use: BOB"},
            {"email": "alice", "reason": "email already in use: alice"},
        ],
    }
    clean = [{"client": {"email": "carol"}, "inboundIds": [1]}]
    again = post(sim, http, headers, "panel/api/clients/bulkCreate", json=clean).json()
    assert again["obj"] == {"created": 1}


@pytest.mark.parametrize("version", ALL)
def test_several_inbounds(version, sim_factory):
    sim = sim_factory(version=version, inbounds=TWO_INBOUNDS)
    third = sim.add_inbound(remark="C")
    assert (third["id"], third["port"]) == (3, 8444)
    assert sim.inbound_ids == [1, 2, 3]
    sim.seed_client("alice", inbound_id=2)
    assert sim.client("alice") is None  # the first inbound is the default
    assert sim.client("alice", inbound_id=2)["email"] == "alice"
    assert sim.clients(3) == []
    http, headers = browser(sim)
    listed = get_json(sim, http, headers, "panel/api/inbounds/list")["obj"]
    assert [i["remark"] for i in listed] == ["A", "B", "C"]
    if sim.generation == "v3":
        assert sim.records()[0]["inboundIds"] == [2]
        assert v3_add(sim, http, headers, {"email": "bob", "subId": "sb"}, [1, 3])["success"]
        assert next(r for r in sim.records() if r["email"] == "bob")["inboundIds"] == [1, 3]
        # the same email + subId attaches by add to another inbound
        sub = sim.client("alice", 2)["subId"]
        assert v3_add(sim, http, headers, {"email": "alice", "subId": sub}, [3])["success"]
        assert sim.records()[0]["inboundIds"] == [2, 3]
    else:
        assert sim.records() == []


def test_seed_rejects_duplicates(sim):
    sim.seed_client("a")
    with pytest.raises(ValueError, match="already"):
        sim.seed_client("A")
