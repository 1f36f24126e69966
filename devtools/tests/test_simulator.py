"""The simulator on its own, over raw HTTP: is each version faithful to the panel's source?

The expectations come from the 3x-ui Go source at each release tag (cited beside each
behaviour in ``devtools/x3ui_simulator/``; summary in docs/x3ui.md), not from our client:
everything here talks to the simulator with plain ``requests``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from devtools.x3ui_simulator import VERSIONS, X3UISimulator, resolve_version

from .conftest import FLAVOURS, PASSWORD, USERNAME

XHR = {"X-Requested-With": "XMLHttpRequest"}
ALICE_UUID = "b831381d-6324-4d53-ad4f-8cda48b30811"
BOB_UUID = "0f6c3e59-1b7a-4d43-9a55-2f1e4c6d7a80"
ALL = list(VERSIONS)
LEGACY = ["2.8.3", "3.0.2"]
V3 = ["3.1.0", "3.4.2", "3.6.0"]
WITH_LIMITER = ["3.0.2", *V3]
TWO_INBOUNDS = [{"id": 1, "port": 443, "remark": "A"}, {"id": 2, "port": 8443, "remark": "B"}]


def _session(sim: X3UISimulator) -> tuple[requests.Session, dict[str, str]]:
    """Log in the way a browser would; returns the session and the headers for POSTs."""
    http = requests.Session()
    headers = dict(XHR)
    if sim.csrf:
        headers["X-CSRF-Token"] = http.get(sim.url + "csrf-token", timeout=2).json()["obj"]
    answer = http.post(
        sim.url + "login",
        data={"username": USERNAME, "password": PASSWORD},
        headers=headers,
        timeout=2,
    ).json()
    assert answer["success"], answer
    return http, headers


def _login(sim: X3UISimulator, password: str, username: str = USERNAME) -> dict:
    """One login attempt in a fresh browser session."""
    http = requests.Session()
    headers = {}
    if sim.csrf:
        headers["X-CSRF-Token"] = http.get(sim.url + "csrf-token", timeout=2).json()["obj"]
    return http.post(
        sim.url + "login",
        data={"username": username, "password": password},
        headers=headers,
        timeout=2,
    ).json()


def _post(sim, http, headers, path, **kwargs):
    return http.post(sim.url + path, headers=headers, timeout=2, allow_redirects=False, **kwargs)


def _get(sim, http, headers, path):
    return http.get(sim.url + path, headers=headers, timeout=2).json()


def _legacy_add(sim, http, headers, *clients, inbound_id=None):
    settings = json.dumps({"clients": list(clients)})
    body = {"id": inbound_id or sim.inbound_id, "settings": settings}
    return _post(sim, http, headers, "panel/api/inbounds/addClient", json=body).json()


def _legacy_update(sim, http, headers, client_id, client, *, inbound_id=None):
    body = {"id": inbound_id or sim.inbound_id, "settings": json.dumps({"clients": [client]})}
    path = f"panel/api/inbounds/updateClient/{client_id}"
    return _post(sim, http, headers, path, json=body).json()


def _v3_add(sim, http, headers, client, inbound_ids=None):
    body = {"client": client, "inboundIds": inbound_ids or [sim.inbound_id]}
    return _post(sim, http, headers, "panel/api/clients/add", json=body).json()


def _v3_update(sim, http, headers, email, client, *, query=""):
    return _post(sim, http, headers, f"panel/api/clients/update/{email}{query}", json=client).json()


def _full(email, **fields):
    """A complete v3 update body (update replaces, it does not patch)."""
    body = {"email": email, "enable": True, "flow": "", "limitIp": 0, "totalGB": 0}
    body.update(expiryTime=0, tgId=0, comment="", reset=0)
    body.update(fields)
    return body


# -- versions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "version"),
    [
        ({}, "3.6.0"),
        ({"generation": "v3"}, "3.6.0"),
        ({"generation": "v3", "bulk_create": False}, "3.1.0"),
        ({"generation": "legacy"}, "3.0.2"),
        ({"generation": "legacy", "csrf": False}, "2.8.3"),
        ({"version": "3.4.2"}, "3.4.2"),
        ({"version": "v2.8.3", "generation": "legacy"}, "2.8.3"),
    ],
)
def test_generation_shorthand_maps_onto_versions(kwargs, version):
    sim = X3UISimulator(**kwargs)
    assert sim.version == version
    assert (sim.generation, sim.csrf, sim.bulk_create) == (
        VERSIONS[version].api,
        VERSIONS[version].csrf,
        VERSIONS[version].bulk_create,
    )


def test_invalid_options():
    with pytest.raises(ValueError, match="generation"):
        X3UISimulator(generation="v9")
    with pytest.raises(ValueError, match="CSRF"):
        X3UISimulator(generation="v3", csrf=False)
    with pytest.raises(ValueError, match="version must be one of"):
        X3UISimulator(version="3.2.0")
    with pytest.raises(ValueError, match="not generation"):
        resolve_version("3.1.0", "legacy")
    with pytest.raises(ValueError, match="bulk_create"):
        resolve_version("3.4.2", bulk_create=False)
    with pytest.raises(ValueError, match="already exists"):
        X3UISimulator(inbounds=[{"id": 1, "port": 1}, {"id": 1, "port": 2}])


# -- auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL)
def test_unauthenticated_answers(version, sim_factory):
    sim = sim_factory(version=version)
    url = sim.url + "panel/api/inbounds/list"
    xhr = requests.get(url, headers=XHR, timeout=2, allow_redirects=False)
    plain = requests.get(url, timeout=2, allow_redirects=False)
    if version == "2.8.3":  # v2.8.3 web/controller/base.go:19-30
        assert xhr.status_code == 401
        assert xhr.json() == {
            "success": False,
            "msg": "Your session has expired, please log in again",
            "obj": None,
        }
        assert plain.status_code == 307
        assert plain.headers["Location"] == sim.base_path
    else:  # v3.0.2 web/controller/api.go:46-52 to v3.6.0
        assert (xhr.status_code, xhr.content) == (401, b"")
        assert (plain.status_code, plain.content) == (404, b"")


@pytest.mark.parametrize("version", ALL)
def test_status_at_the_base_path_is_public_only_on_v2(version, sim_factory):
    sim = sim_factory(version=version)
    answer = requests.get(sim.url + "status", timeout=2)
    if version == "2.8.3":  # v2.8.3 web/web.go:267, gone in v2.8.4
        assert answer.json()["obj"]["xray"]["state"] == "running"
    else:
        assert (answer.status_code, answer.content) == (404, b"")


@pytest.mark.parametrize("version", ALL)
def test_unknown_route_and_wrong_base_path_are_404(version, sim_factory):
    sim = sim_factory(version=version)
    assert requests.get(sim.root_url + "/login", timeout=2).status_code == 404
    http, headers = _session(sim)
    if sim.generation == "legacy":
        answer = http.get(sim.url + "panel/api/clients/list", headers=headers, timeout=2)
    else:
        answer = http.post(sim.url + "panel/api/inbounds/addClient", headers=headers, timeout=2)
    assert (answer.status_code, answer.content) == (404, b"")


@pytest.mark.parametrize("version", ["3.0.2", "3.6.0"])
def test_csrf_token_login_flow(version, sim_factory):
    sim = sim_factory(version=version)
    http = requests.Session()
    denied = http.post(sim.url + "login", data={"username": USERNAME, "password": PASSWORD})
    assert (denied.status_code, denied.content) == (403, b"")

    first = http.get(sim.url + "csrf-token", timeout=2)
    token = first.json()["obj"]
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith("3x-ui=")
    assert f"Path={sim.base_path}" in cookie
    assert "Max-Age=21600" in cookie
    assert "HttpOnly" in cookie

    ok = http.post(
        sim.url + "login",
        json={"username": USERNAME, "password": PASSWORD},
        headers={"X-CSRF-Token": token},
        timeout=2,
    )
    assert ok.json()["success"]
    assert "Set-Cookie" in ok.headers  # a new cookie at login ...
    again = http.get(sim.url + "panel/csrf-token", headers=XHR, timeout=2).json()["obj"]
    assert again == token  # ... but the token is not rotated

    onlines = "panel/api/clients/onlines" if version != "3.0.2" else "panel/api/inbounds/onlines"
    no_token = http.post(sim.url + onlines, headers=XHR, timeout=2)
    assert (no_token.status_code, no_token.content) == (403, b"")
    form_token = http.post(sim.url + onlines, headers=XHR, data={"_csrf": token}, timeout=2)
    assert form_token.json() == {"success": True, "msg": "", "obj": None}


@pytest.mark.parametrize("version", ALL)
def test_login_answers(version, sim_factory):
    sim = sim_factory(version=version)
    bad = _login(sim, "nope")
    assert bad == {
        "success": False,
        "msg": "Invalid username or password or two-factor code.",
        "obj": None,
    }
    assert _login(sim, "")["msg"] == "Password is required"
    assert _login(sim, "x", username="")["msg"] == "Username is required"
    good = _login(sim, PASSWORD)
    # translate.en_US.toml:110 / en-US.json:114 have a leading space up to v3.0.2
    lead = " " if version in LEGACY else ""
    assert good == {
        "success": True,
        "msg": lead + "You have successfully logged into your account.",
        "obj": None,
    }


@pytest.mark.parametrize("version", ALL)
def test_logout(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = _session(sim)
    if version == "2.8.3":  # GET logout, 307 (v2.8.3 web/controller/index.go:44)
        answer = http.get(sim.url + "logout", timeout=2, allow_redirects=False)
        assert (answer.status_code, answer.headers["Location"]) == (307, sim.base_path)
    else:  # POST logout with CSRF, {"success": true} (v3.0.2 index.go:45,140-150)
        refused = http.post(sim.url + "logout", timeout=2)
        assert refused.status_code == 403
        answer = http.post(sim.url + "logout", headers=headers, timeout=2)
        assert answer.json() == {"success": True}
    after = http.get(sim.url + "panel/api/inbounds/list", headers=XHR, timeout=2)
    assert after.status_code == 401


@pytest.mark.parametrize("version", ALL)
def test_bearer_token(version, sim_factory):
    sim = sim_factory(version=version)
    headers = {**XHR, "Authorization": "Bearer tok-0123456789abcdef"}
    answer = requests.get(sim.url + "panel/api/inbounds/list", headers=headers, timeout=2)
    if version == "2.8.3":  # no API tokens before v3.0
        assert answer.status_code == 401
        return
    assert answer.json()["success"]
    headers["Authorization"] = "Bearer wrong"
    answer = requests.get(sim.url + "panel/api/inbounds/list", headers=headers, timeout=2)
    assert answer.status_code == 401  # falls through to the session check


@pytest.mark.parametrize("version", ALL)
def test_session_expires_on_the_simulated_clock(version, sim_factory):
    sim = sim_factory(version=version, session_max_age=60)
    http, headers = _session(sim)
    assert _get(sim, http, headers, "panel/api/inbounds/list")["success"]
    sim.advance(61)
    answer = http.get(sim.url + "panel/api/inbounds/list", headers=XHR, timeout=2)
    assert answer.status_code == 401


# -- login limiter and owner alerts --------------------------------------------------------


def test_v2_has_no_limiter_but_alerts_the_owner_with_the_password(sim_factory):
    sim = sim_factory(version="2.8.3")
    for attempt in range(7):
        assert not _login(sim, f"guess-{attempt}")["success"]
    assert _login(sim, PASSWORD)["success"]  # never blocked
    assert sim.login_failures == 7
    failed = [a for a in sim.owner_alerts if a["status"] == "failed"]
    assert [a["password"] for a in failed] == [f"guess-{i}" for i in range(7)]
    assert failed[0]["username"] == USERNAME
    assert sim.owner_alerts[-1]["status"] == "success"


@pytest.mark.parametrize("version", WITH_LIMITER)
def test_limiter_blocks_the_right_password_after_five_failures(version, sim_factory):
    sim = sim_factory(version=version)
    for attempt in range(5):
        assert not _login(sim, f"guess-{attempt}")["success"]
    blocked = _login(sim, PASSWORD)
    assert blocked == {  # the same answer as a wrong password
        "success": False,
        "msg": "Invalid username or password or two-factor code.",
        "obj": None,
    }
    assert sim.login_failures == 6
    # the key is IP + lower-cased username: "ADMIN" is the same key, another name is not
    assert not _login(sim, PASSWORD, username=USERNAME.upper())["success"]
    assert not _login(sim, "x", username="someone-else")["success"]
    assert _login(sim, "x", username="someone-else")["msg"].startswith("Invalid")
    sim.advance(14 * 60)
    assert not _login(sim, PASSWORD)["success"]  # blocked attempts do not extend the block
    sim.advance(61)
    assert _login(sim, PASSWORD)["success"]
    reasons = {a.get("reason") for a in sim.owner_alerts if a["status"] == "failed"}
    assert reasons == {"invalid credentials", "too many failed attempts"}
    assert all("password" not in a for a in sim.owner_alerts)


@pytest.mark.parametrize("version", WITH_LIMITER)
def test_limiter_window_slides_and_success_resets(version, sim_factory):
    sim = sim_factory(version=version)
    for attempt in range(4):
        _login(sim, f"guess-{attempt}")
    assert _login(sim, PASSWORD)["success"]  # a success clears the record
    for attempt in range(4):
        _login(sim, f"again-{attempt}")
    sim.advance(5 * 60 + 1)  # the four failures leave the 5-minute window
    for attempt in range(4):
        _login(sim, f"late-{attempt}")
    assert _login(sim, PASSWORD)["success"]


# -- inbounds, traffic and listings ---------------------------------------------------------


@pytest.mark.parametrize("version", ALL)
def test_inbound_get_and_list_shapes(version, sim_factory):
    sim = sim_factory(version=version, inbounds=TWO_INBOUNDS)
    sim.seed_client("alice", id=ALICE_UUID, sub_id="sa", up=1, down=2)
    sim.seed_client("bob", id=BOB_UUID, sub_id="sb", inbound_id=2, up=3, down=4)
    http, headers = _session(sim)
    got = _get(sim, http, headers, "panel/api/inbounds/get/1")["obj"]
    listed = _get(sim, http, headers, "panel/api/inbounds/list")["obj"]
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
    missing = _get(sim, http, headers, "panel/api/inbounds/get/99")
    assert missing == {"success": False, "msg": "Obtain (record not found)", "obj": None}


@pytest.mark.parametrize("version", V3)
def test_v3_list_rows(version, sim_factory):
    sim = sim_factory(version=version, inbounds=TWO_INBOUNDS)
    sim.seed_client("alice", id=ALICE_UUID, inbound_ids=[1, 2], up=1, down=2)
    sim.seed_client("loner", inbound_ids=[])
    http, headers = _session(sim)
    rows = _get(sim, http, headers, "panel/api/clients/list")["obj"]
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
    http, headers = _session(sim)
    route = (
        "panel/api/inbounds/getClientTraffics/"
        if sim.generation == "legacy"
        else "panel/api/clients/traffic/"
    )
    row = _get(sim, http, headers, route + "alice")["obj"]
    assert (row["up"], row["down"], row["uuid"], row["subId"]) == (5, 6, ALICE_UUID, "sa")
    unknown = _get(sim, http, headers, route + "zed")
    assert unknown == {
        "success": False,
        "msg": "Error getting traffics. (Inbound Not Found For Email: zed\n)",
        "obj": None,
    }


# -- adding the same client again ------------------------------------------------------------


@pytest.mark.parametrize("version", ALL)
def test_readding_the_same_client_to_the_same_inbound(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = _session(sim)
    alice = {"id": ALICE_UUID, "email": "alice", "subId": "sa", "enable": True, "totalGB": 5}
    add = _legacy_add if sim.generation == "legacy" else _v3_add
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
    http, headers = _session(sim)
    assert _legacy_add(sim, http, headers, {"id": ALICE_UUID, "email": "alice", "subId": "sa"})[
        "success"
    ]
    # case-insensitive in both (v2.8.3 inbound.go:121-129 ToLower; v3.0.2 :204,262)
    case = _legacy_add(sim, http, headers, {"id": BOB_UUID, "email": "ALICE", "subId": "other"})
    assert case["msg"] == "Something went wrong (Duplicate email: ALICE\n)"
    no_sub = _legacy_add(sim, http, headers, {"id": BOB_UUID, "email": "alice"})
    assert no_sub["msg"] == "Something went wrong (Duplicate email: alice\n)"
    twice = _legacy_add(
        sim, http, headers, {"id": "u3", "email": "carol"}, {"id": "u4", "email": "Carol"}
    )
    assert twice["msg"] == "Something went wrong (Duplicate email: Carol\n)"
    no_id = _legacy_add(sim, http, headers, {"email": "dave"})
    assert no_id["msg"] == "Something went wrong (empty client ID\n)"
    no_email = _legacy_add(sim, http, headers, {"id": "u5", "email": ""})
    if version == "2.8.3":  # accepted, without a traffic row
        assert no_email["success"]
        assert "" not in sim.snapshot()["traffic"]
    else:
        assert no_email["msg"] == "Something went wrong (client email is required\n)"
    unknown_inbound = _legacy_add(sim, http, headers, {"id": "u6", "email": "erin"}, inbound_id=9)
    assert unknown_inbound["msg"] == "Something went wrong (record not found)"


def test_legacy_same_email_and_subid_on_two_inbounds(sim_factory):
    sim = sim_factory(version="3.0.2", inbounds=TWO_INBOUNDS)
    http, headers = _session(sim)
    alice = {"id": ALICE_UUID, "email": "alice", "subId": "sa", "enable": True}
    assert _legacy_add(sim, http, headers, alice)["success"]
    assert _legacy_add(sim, http, headers, alice, inbound_id=2)["success"]
    assert (sim.client_copies("alice", 1), sim.client_copies("alice", 2)) == (1, 1)
    sim.set_traffic("alice", up=1, down=1)
    listed = _get(sim, http, headers, "panel/api/inbounds/list")["obj"]
    # one row per email, shown under both inbounds (shared-email mode)
    assert [[s["email"] for s in i["clientStats"]] for i in listed] == [["alice"], ["alice"]]


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_add_stores_exactly_as_sent(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = _session(sim)
    answer = _legacy_add(
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
    http, headers = _session(sim)
    body = {"id": 1, "settings": {"clients": [{"id": ALICE_UUID, "email": "a"}]}}
    answer = _post(sim, http, headers, "panel/api/inbounds/addClient", json=body).json()
    assert answer["msg"].startswith("Inbound has been successfully updated. (json: cannot")
    assert not answer["success"]
    broken = {"id": 1, "settings": json.dumps({"nope": []})}
    crashed = _post(sim, http, headers, "panel/api/inbounds/addClient", json=broken)
    assert (crashed.status_code, crashed.content) == (500, b"")


def test_legacy_form_body_works_too(sim_factory):
    sim = sim_factory(version="3.0.2")
    http, headers = _session(sim)
    form = {"id": "1", "settings": json.dumps({"clients": [{"id": ALICE_UUID, "email": "a"}]})}
    answer = _post(sim, http, headers, "panel/api/inbounds/addClient", data=form).json()
    assert answer["success"]


# -- legacy update and delete --------------------------------------------------------------


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_update_replaces_the_first_match(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = _session(sim)
    _legacy_add(sim, http, headers, {"id": ALICE_UUID, "email": "alice", "subId": "sa"})
    _legacy_add(sim, http, headers, {"id": BOB_UUID, "email": "bob", "subId": "sb"})
    created = sim.client("alice")["created_at"]
    new = {"id": ALICE_UUID, "email": "alice2", "enable": True, "totalGB": 3}
    assert _legacy_update(sim, http, headers, ALICE_UUID, new)["success"]
    stored = sim.client("alice2")
    assert "subId" not in stored  # whole-map replacement: omitted keys are dropped
    assert stored["created_at"] == created
    assert sim.snapshot()["traffic"]["alice2"]["total"] == 3  # the row follows the rename
    unknown = _legacy_update(sim, http, headers, "nope", new)
    assert unknown["msg"] == "Something went wrong (empty client ID\n)"
    clash = _legacy_update(sim, http, headers, BOB_UUID, {"id": BOB_UUID, "email": "ALICE2"})
    assert clash["msg"] == "Something went wrong (Duplicate email: ALICE2\n)"


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_delete(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = _session(sim)
    _legacy_add(sim, http, headers, {"id": ALICE_UUID, "email": "alice", "subId": "sa"})
    gone = _post(sim, http, headers, "panel/api/inbounds/1/delClient/zzz").json()
    if version == "2.8.3":
        assert gone == {"success": True, "msg": "Inbound client has been deleted.", "obj": None}
    else:
        assert gone["msg"] == "Something went wrong (Client Not Found In Inbound For ID: zzz\n)"
    last = _post(sim, http, headers, f"panel/api/inbounds/1/delClient/{ALICE_UUID}").json()
    assert last["msg"] == "Something went wrong (no client remained in Inbound\n)"
    by_email = _post(sim, http, headers, "panel/api/inbounds/1/delClientByEmail/zed").json()
    assert by_email["msg"] == "Failed to delete client by email (client with email zed not found\n)"
    _legacy_add(sim, http, headers, {"id": BOB_UUID, "email": "bob", "subId": "sb"})
    ok = _post(sim, http, headers, "panel/api/inbounds/1/delClientByEmail/bob").json()
    assert ok == {"success": True, "msg": "Client deleted successfully", "obj": None}
    assert sim.client("bob") is None


def test_legacy_delete_removes_every_copy_and_update_edits_the_first(sim_factory):
    sim = sim_factory(version="3.0.2")
    http, headers = _session(sim)
    alice = {"id": ALICE_UUID, "email": "alice", "subId": "sa", "enable": True}
    _legacy_add(sim, http, headers, {"id": BOB_UUID, "email": "bob", "subId": "sb"})
    _legacy_add(sim, http, headers, alice)
    _legacy_add(sim, http, headers, alice)
    assert sim.client_copies("alice") == 2
    _legacy_update(sim, http, headers, ALICE_UUID, {**alice, "comment": "edited"})
    assert [c.get("comment") for c in sim.clients() if c["email"] == "alice"] == ["edited", None]
    answer = _post(sim, http, headers, f"panel/api/inbounds/1/delClient/{ALICE_UUID}").json()
    assert answer["success"]
    assert sim.client_copies("alice") == 0
    assert "alice" not in sim.snapshot()["traffic"]


# -- v3 add, uniqueness, typed binding --------------------------------------------------------


@pytest.mark.parametrize("version", V3)
def test_v3_create_fills_defaults_and_forces_enable(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = _session(sim)
    answer = _v3_add(sim, http, headers, {"email": "alice", "enable": False})
    assert answer == {"success": True, "msg": "Inbound client(s) have been added.", "obj": None}
    stored = sim.client("alice")
    assert stored["enable"] is True
    assert len(stored["subId"]) == 36
    assert len(stored["id"]) == 36
    got = _get(sim, http, headers, "panel/api/clients/get/alice")["obj"]
    assert got["client"]["uuid"] == stored["id"]
    assert isinstance(got["client"]["id"], int)
    assert got["inboundIds"] == [1]
    assert ("usedTraffic" in got) == (version != "3.1.0")
    assert _v3_add(sim, http, headers, {"email": " "})["msg"] == (
        "Something went wrong (client email is required\n)"
    )
    none = _post(sim, http, headers, "panel/api/clients/add", json={"client": {"email": "x"}})
    assert none.json()["msg"] == "Something went wrong (at least one inbound is required\n)"


@pytest.mark.parametrize("version", V3)
def test_v3_uniqueness_messages(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = _session(sim)
    _v3_add(sim, http, headers, {"email": "alice", "subId": "sa"})
    _v3_add(sim, http, headers, {"email": "bob", "subId": "sb"})
    assert _v3_add(sim, http, headers, {"email": "alice", "subId": "other"})["msg"] == (
        "Something went wrong (email already in use: alice\n)"
    )
    assert _v3_add(sim, http, headers, {"email": "alice"})["msg"] == (
        "Something went wrong (email already in use: alice\n)"  # an omitted subId is fresh
    )
    # the clients lookup is exact; the settings check is not
    assert _v3_add(sim, http, headers, {"email": "ALICE", "subId": "other"})["msg"] == (
        "Something went wrong (Duplicate email: ALICE\n)"
    )
    carol = _v3_add(sim, http, headers, {"email": "carol", "subId": "sa"})
    if version == "3.1.0":  # subId uniqueness arrived in v3.2.5
        assert carol["success"]
    else:
        assert carol["msg"] == "Something went wrong (subId already in use: sa\n)"
    rename = _v3_update(sim, http, headers, "bob", _full("alice", subId="sb"))
    assert rename["msg"] == "Something went wrong (Duplicate email: alice\n)"


@pytest.mark.parametrize("version", ["3.4.2", "3.6.0"])
def test_v3_email_characters_are_checked(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = _session(sim)
    assert _v3_add(sim, http, headers, {"email": "a b"})["msg"] == (
        "Something went wrong (client email contains an invalid character: a b\n)"
    )


@pytest.mark.parametrize("version", V3)
def test_v3_typed_binding(version, sim_factory):
    sim = sim_factory(version=version)
    sim.seed_client("alice", id=ALICE_UUID, sub_id="sa")
    http, headers = _session(sim)
    [row] = _get(sim, http, headers, "panel/api/clients/list")["obj"]
    echoed = _v3_update(sim, http, headers, "alice", row)  # id is the row number
    assert echoed["msg"] == (
        "Something went wrong (json: cannot unmarshal number into Go struct field "
        "Client.id of type string)"
    )
    fixed = {k: v for k, v in row.items() if k not in {"id", "uuid", "inboundIds", "traffic"}}
    fixed["id"] = row["uuid"]
    answer = _v3_update(sim, http, headers, "alice", fixed)
    if version == "3.1.0":  # no allowedIPs field yet: an unknown key, ignored
        assert answer["success"]
        assert "allowedIPs" not in row
    else:
        assert row["allowedIPs"] == ""
        assert answer["msg"] == (
            "Something went wrong (json: cannot unmarshal string into Go struct field "
            "Client.allowedIPs of type []string)"
        )
        added = _v3_add(sim, http, headers, {"email": "bob", "allowedIPs": ""})
        assert added["msg"] == (
            "Something went wrong (json: cannot unmarshal string into Go struct field "
            "Client.client.allowedIPs of type []string)"
        )
    bad_tg = _v3_update(sim, http, headers, "alice", _full("alice", tgId=""))
    assert bad_tg["msg"] == (
        "Something went wrong (json: cannot unmarshal string into Go struct field "
        "Client.tgId of type int64)"
    )


# -- v3 update ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", V3)
def test_v3_update_replaces_everywhere(version, sim_factory):
    sim = sim_factory(version=version, inbounds=TWO_INBOUNDS)
    http, headers = _session(sim)
    client = {"email": "alice", "subId": "sa", "totalGB": 5, "limitIp": 2}
    assert _v3_add(sim, http, headers, client, inbound_ids=[1, 2])["success"]
    uuid_before = sim.client("alice")["id"]
    answer = _v3_update(sim, http, headers, "alice", {"email": "alice", "comment": "x"})
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
    kept = _v3_update(sim, http, headers, "alice", _full("alice", id=uuid_before))
    assert kept["success"]
    assert sim.records()[0]["uuid"] == uuid_before
    missing = _v3_update(sim, http, headers, "zed", _full("zed"))
    assert missing["msg"] == "Something went wrong (record not found)"
    upper = _v3_update(sim, http, headers, "ALICE", _full("ALICE"))  # "email = ?" is exact
    assert upper["msg"] == "Something went wrong (record not found)"
    no_email = _v3_update(sim, http, headers, "alice", {"comment": "y"})
    assert no_email["msg"] == "Something went wrong (client email is required\n)"


@pytest.mark.parametrize("version", V3)
def test_v3_update_inbound_filter(version, sim_factory):
    sim = sim_factory(version=version, inbounds=TWO_INBOUNDS)
    http, headers = _session(sim)
    _v3_add(sim, http, headers, {"id": ALICE_UUID, "email": "alice", "subId": "sa"}, [1, 2])
    body = _full("alice", id=ALICE_UUID, comment="only-2")
    assert _v3_update(sim, http, headers, "alice", body, query="?inboundIds=2")["success"]
    comments = (sim.client("alice", 1)["comment"], sim.client("alice", 2)["comment"])
    if version == "3.1.0":  # no ?inboundIds= before v3.2.8: every inbound
        assert comments == ("only-2", "only-2")
    else:
        assert comments == ("", "only-2")


@pytest.mark.parametrize("version", V3)
def test_v3_update_of_a_detached_client(version, sim_factory):
    sim = sim_factory(version=version)
    sim.seed_client("loner", id=ALICE_UUID, sub_id="sl", inbound_ids=[], totalGB=1)
    http, headers = _session(sim)
    body = _full("loner", id=ALICE_UUID, enable=False, totalGB=7, comment="new")
    assert _v3_update(sim, http, headers, "loner", body)["success"]
    record = sim.records()[0]
    got = (record["enable"], record["totalGB"], record["comment"])
    if version == "3.1.0":  # only updated_at is written
        assert got == (True, 1, "")
    elif version == "3.4.2":  # the rename, group and enable only
        assert got == (False, 1, "")
    else:
        assert got == (False, 7, "new")


# -- v3 delete, detach, get -----------------------------------------------------------------


@pytest.mark.parametrize("version", V3)
def test_v3_delete_and_detach(version, sim_factory):
    sim = sim_factory(version=version, inbounds=TWO_INBOUNDS)
    http, headers = _session(sim)
    _v3_add(sim, http, headers, {"email": "alice", "subId": "sa"}, [1, 2])
    _v3_add(sim, http, headers, {"email": "bob", "subId": "sb"}, [1, 2])
    detach = _post(sim, http, headers, "panel/api/clients/bob/detach", json={"inboundIds": [1]})
    assert detach.json() == {
        "success": True,
        "msg": "Inbound client has been deleted.",
        "obj": None,
    }
    assert (sim.client_copies("bob", 1), sim.client_copies("bob", 2)) == (0, 1)
    _post(sim, http, headers, "panel/api/clients/bob/detach", json={"inboundIds": [2, 9]})
    bob = next(r for r in sim.records() if r["email"] == "bob")
    assert bob["inboundIds"] is None  # the record stays
    assert ("bob" in sim.snapshot()["traffic"]) == (version != "3.1.0")
    got = _get(sim, http, headers, "panel/api/clients/get/bob")["obj"]
    assert got["inboundIds"] == []

    answer = _post(sim, http, headers, "panel/api/clients/del/alice").json()
    assert answer == {"success": True, "msg": "Inbound client has been deleted.", "obj": None}
    assert sim.client_copies("alice", 1) == sim.client_copies("alice", 2) == 0
    assert [r["email"] for r in sim.records()] == ["bob"]
    gone = _post(sim, http, headers, "panel/api/clients/del/zed").json()
    if version == "3.1.0":
        assert gone["msg"] == "Something went wrong (record not found)"
    else:
        assert gone["msg"] == (
            'Something went wrong (client "zed" not found in any inbound or client record\n)'
        )


@pytest.mark.parametrize("version", V3)
def test_v3_get_unknown_email(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = _session(sim)
    answer = _get(sim, http, headers, "panel/api/clients/get/zed")
    context = "Obtain" if version == "3.6.0" else ""  # the i18n key "get" is missing before
    assert answer == {"success": False, "msg": f"{context} (record not found)", "obj": None}


# -- bulkCreate -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL)
def test_bulk_create_where_it_exists(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = _session(sim)
    if sim.generation == "v3":
        _v3_add(sim, http, headers, {"email": "alice", "subId": "sa"})
    payloads = [
        {"client": {"email": "bob"}, "inboundIds": [1]},
        {"client": {"email": "alice", "subId": "x"}, "inboundIds": [1]},
        {"client": {"email": ""}, "inboundIds": [1]},
        {"client": {"email": "BOB"}, "inboundIds": [1]},
    ]
    answer = _post(sim, http, headers, "panel/api/clients/bulkCreate", json=payloads)
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
    again = _post(sim, http, headers, "panel/api/clients/bulkCreate", json=clean).json()
    assert again["obj"] == {"created": 1}


# -- several inbounds -----------------------------------------------------------------------


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
    http, headers = _session(sim)
    listed = _get(sim, http, headers, "panel/api/inbounds/list")["obj"]
    assert [i["remark"] for i in listed] == ["A", "B", "C"]
    if sim.generation == "v3":
        assert sim.records()[0]["inboundIds"] == [2]
        assert _v3_add(sim, http, headers, {"email": "bob", "subId": "sb"}, [1, 3])["success"]
        assert next(r for r in sim.records() if r["email"] == "bob")["inboundIds"] == [1, 3]
        # the same email + subId attaches by add to another inbound
        sub = sim.client("alice", 2)["subId"]
        assert _v3_add(sim, http, headers, {"email": "alice", "subId": sub}, [3])["success"]
        assert sim.records()[0]["inboundIds"] == [2, 3]
    else:
        assert sim.records() == []


def test_seed_rejects_duplicates(sim):
    sim.seed_client("a")
    with pytest.raises(ValueError, match="already"):
        sim.seed_client("A")


# -- late answers and other faults ----------------------------------------------------------


@pytest.mark.parametrize("version", ["3.0.2", "3.6.0"])
def test_late_answer_applies_the_change(version, sim_factory):
    sim = sim_factory(version=version)
    http, headers = _session(sim)
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
    http, headers = _session(sim)
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
    http, headers = _session(sim)
    _legacy_add(sim, http, headers, {"id": "u1", "email": "alice"})
    dup = _legacy_add(sim, http, headers, {"id": "u2", "email": "alice"})
    assert dup["msg"] == "Что-то пошло не так (Duplicate email: alice\n)"


# -- subscription and links -----------------------------------------------------------------


def _alice(sim: X3UISimulator, **fields):
    return sim.seed_client(
        "alice", id=ALICE_UUID, sub_id="k3vq9x2m7d1p0abc", tgId=0, flow="xtls-rprx-vision", **fields
    )


def test_link_matches_the_reference_worked_example(sim_factory):
    sim = sim_factory(generation="v3")
    alice = _alice(sim)
    link = sim.vless_link(alice, "vpn.example.com")
    assert link == (
        "vless://b831381d-6324-4d53-ad4f-8cda48b30811@vpn.example.com:443?encryption=none"
        "&flow=xtls-rprx-vision&fp=chrome&pbk=Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw"
        "&security=reality&sid=6ba85179e30d4fc2&sni=www.microsoft.com&spx=%2F1bf33e5c73856dc"
        "&type=tcp#DE-Reality-alice"
    )


def test_spx_matches_the_upstream_test_vector(sim_factory):
    sim = sim_factory(generation="v3")
    sim._inbound["streamSettings"]["realitySettings"]["settings"]["spiderX"] = "/seed"
    link = sim.vless_link({"id": "u", "email": "x", "subId": "subAlice"}, "h")
    assert parse_qs(urlsplit(link).query)["spx"] == ["/c252fbc3ecd3e3c"]


def test_subscription_endpoint(sim):
    _alice(sim, totalGB=0, up=5, down=7)
    answer = requests.get(f"{sim.root_url}/sub/k3vq9x2m7d1p0abc", timeout=2)
    assert answer.status_code == 200
    text = base64.b64decode(answer.content).decode()
    assert text.endswith("\n")
    assert text.startswith(f"vless://{ALICE_UUID}@127.0.0.1:443?")
    assert answer.headers["Subscription-Userinfo"] == ("upload=5; download=7; total=0; expire=0")
    assert answer.headers["Profile-Update-Interval"] == "12"
    unknown = requests.get(f"{sim.root_url}/sub/nope", timeout=2)
    if sim.generation == "v3":
        assert (unknown.status_code, unknown.content) == (404, b"")
    else:
        assert (unknown.status_code, unknown.content) == (400, b"Error!")


# -- control API, counters, persistence -----------------------------------------------------


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
    http, headers = _session(sim)
    for _ in range(3):
        http.get(sim.url + "panel/api/server/status", headers=headers, timeout=2)
    assert sim.request_counts["GET panel/api/server/status"] == 3
    assert sim.request_total == sum(sim.request_counts.values())
    requests.post(f"{sim.root_url}/__sim__/counts/reset", timeout=2)
    assert sim.request_total == 0


def test_state_file_survives_restart_with_sessions(tmp_path, sim_factory):
    state = tmp_path / "sim.json"
    first = sim_factory(version="3.4.2", state_file=state, inbounds=TWO_INBOUNDS)
    http, headers = _session(first)
    _v3_add(first, http, headers, {"email": "alice", "subId": "sa"}, [1, 2])
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
