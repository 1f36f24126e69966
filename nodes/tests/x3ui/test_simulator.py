"""The simulator on its own, with raw HTTP: is it faithful to x3ui-api.md?"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from nodes.x3ui.simulator import X3UISimulator

from .conftest import FLAVOURS, PASSWORD, USERNAME

XHR = {"X-Requested-With": "XMLHttpRequest"}
ALICE_UUID = "b831381d-6324-4d53-ad4f-8cda48b30811"


def _session(sim: X3UISimulator) -> tuple[requests.Session, dict[str, str]]:
    """Log in the way a browser would; returns the session and the headers for POSTs."""
    http = requests.Session()
    headers = dict(XHR)
    if sim.csrf:
        token = http.get(sim.url + "csrf-token", timeout=2).json()["obj"]
        headers["X-CSRF-Token"] = token
    answer = http.post(
        sim.url + "login",
        data={"username": USERNAME, "password": PASSWORD},
        headers=headers,
        timeout=2,
    ).json()
    assert answer["success"], answer
    return http, headers


def _post(sim, http, headers, path, **kwargs):
    return http.post(sim.url + path, headers=headers, timeout=2, allow_redirects=False, **kwargs)


def _legacy_add(sim, http, headers, *clients):
    body = {"id": sim.inbound_id, "settings": json.dumps({"clients": list(clients)})}
    return _post(sim, http, headers, "panel/api/inbounds/addClient", json=body).json()


def _v3_add(sim, http, headers, client):
    body = {"client": client, "inboundIds": [sim.inbound_id]}
    return _post(sim, http, headers, "panel/api/clients/add", json=body).json()


# -- auth --------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", list(FLAVOURS))
def test_unauthenticated_answers_match_the_version_table(flavour, sim_factory):
    sim = sim_factory(**FLAVOURS[flavour])
    url = sim.url + "panel/api/inbounds/list"
    xhr = requests.get(url, headers=XHR, timeout=2, allow_redirects=False)
    plain = requests.get(url, timeout=2, allow_redirects=False)
    if flavour == "legacy-nocsrf":  # ≤ v2.8.3
        assert xhr.status_code == 401
        assert xhr.json() == {
            "success": False,
            "msg": "Your session has expired, please log in again",
            "obj": None,
        }
        assert plain.status_code == 307
        assert plain.headers["Location"] == sim.base_path
    else:  # v3.0.2 to HEAD
        assert (xhr.status_code, xhr.content) == (401, b"")
        assert (plain.status_code, plain.content) == (404, b"")


def test_unknown_route_and_wrong_base_path_are_404(sim):
    assert requests.get(sim.root_url + "/login", timeout=2).status_code == 404
    other = (
        "panel/api/clients/list" if sim.generation == "legacy" else "panel/api/inbounds/addClient"
    )
    http, headers = _session(sim)
    answer = http.request(
        "GET" if "list" in other else "POST", sim.url + other, headers=headers, timeout=2
    )
    assert (answer.status_code, answer.content) == (404, b"")


def test_csrf_token_login_flow(sim_factory):
    sim = sim_factory(generation="v3")
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

    no_token = http.post(sim.url + "panel/api/clients/onlines", headers=XHR, timeout=2)
    assert (no_token.status_code, no_token.content) == (403, b"")
    form_token = http.post(
        sim.url + "panel/api/clients/onlines", headers=XHR, data={"_csrf": token}, timeout=2
    )
    assert form_token.json() == {"success": True, "msg": "", "obj": None}


def test_bad_credentials_answer_200_success_false(sim):
    http = requests.Session()
    headers = {}
    if sim.csrf:
        headers["X-CSRF-Token"] = http.get(sim.url + "csrf-token", timeout=2).json()["obj"]
    answer = http.post(
        sim.url + "login", data={"username": USERNAME, "password": "nope"}, headers=headers
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "success": False,
        "msg": "Invalid username or password or two-factor code.",
        "obj": None,
    }


def test_pre_v3_panel_has_no_csrf_endpoint(sim_factory):
    sim = sim_factory(**FLAVOURS["legacy-nocsrf"])
    assert requests.get(sim.url + "csrf-token", timeout=2).status_code == 404
    http, headers = _session(sim)
    assert _legacy_add(sim, http, headers, {"id": ALICE_UUID, "email": "a"})["success"]


def test_bearer_token(sim):
    headers = {**XHR, "Authorization": "Bearer tok-0123456789abcdef"}
    answer = requests.get(sim.url + "panel/api/inbounds/list", headers=headers, timeout=2)
    assert answer.json()["success"]
    headers["Authorization"] = "Bearer wrong"
    answer = requests.get(sim.url + "panel/api/inbounds/list", headers=headers, timeout=2)
    assert answer.status_code == 401  # falls through to the session check


# -- legacy client API -------------------------------------------------------------------


def test_legacy_add_stores_exactly_as_sent(sim_factory):
    sim = sim_factory(generation="legacy")
    http, headers = _session(sim)
    answer = _legacy_add(
        sim, http, headers, {"id": ALICE_UUID, "email": "alice", "tgId": "", "custom": 1}
    )
    assert answer == {"success": True, "msg": "Inbound client(s) have been added.", "obj": None}
    stored = sim.client("alice")
    assert stored["tgId"] == ""
    assert stored["custom"] == 1
    assert "enable" not in stored
    assert sim.snapshot()["traffic"]["alice"]["enable"] is False  # omitted means disabled
    assert "subId" not in stored  # addClient generates no subId
    assert stored["created_at"] > 0


def test_legacy_settings_must_be_a_string_in_json(sim_factory):
    sim = sim_factory(generation="legacy")
    http, headers = _session(sim)
    body = {"id": 1, "settings": {"clients": [{"id": ALICE_UUID, "email": "a"}]}}
    answer = _post(sim, http, headers, "panel/api/inbounds/addClient", json=body).json()
    assert not answer["success"]
    assert "cannot unmarshal object" in answer["msg"]
    broken = {"id": 1, "settings": json.dumps({"nope": []})}
    crashed = _post(sim, http, headers, "panel/api/inbounds/addClient", json=broken)
    assert (crashed.status_code, crashed.content) == (500, b"")


def test_legacy_form_body_works_too(sim_factory):
    sim = sim_factory(generation="legacy")
    http, headers = _session(sim)
    form = {"id": "1", "settings": json.dumps({"clients": [{"id": ALICE_UUID, "email": "a"}]})}
    answer = _post(sim, http, headers, "panel/api/inbounds/addClient", data=form).json()
    assert answer["success"]


def test_legacy_rules_and_messages(sim_factory):
    sim = sim_factory(generation="legacy")
    http, headers = _session(sim)
    _legacy_add(sim, http, headers, {"id": ALICE_UUID, "email": "alice", "enable": True})
    dup = _legacy_add(sim, http, headers, {"id": "u2", "email": "ALICE"})
    assert dup["msg"] == "Something went wrong (Duplicate email: ALICE\n)"
    no_email = _legacy_add(sim, http, headers, {"id": "u2", "email": ""})
    assert no_email["msg"] == "Something went wrong (client email is required\n)"
    no_id = _legacy_add(sim, http, headers, {"email": "bob"})
    assert no_id["msg"] == "Something went wrong (empty client ID\n)"

    update = {"id": 1, "settings": json.dumps({"clients": [{"id": "x", "email": "zed"}]})}
    unknown = _post(sim, http, headers, "panel/api/inbounds/updateClient/zzz", json=update)
    assert unknown.json()["msg"] == "Something went wrong (empty client ID\n)"

    gone = _post(sim, http, headers, "panel/api/inbounds/1/delClient/zzz").json()
    assert gone["msg"] == "Something went wrong (Client Not Found In Inbound For ID: zzz\n)"
    last = _post(sim, http, headers, f"panel/api/inbounds/1/delClient/{ALICE_UUID}").json()
    assert last["msg"] == "Something went wrong (no client remained in Inbound\n)"


def test_v2_legacy_is_case_sensitive_and_ignores_unknown_deletes(sim_factory):
    sim = sim_factory(**FLAVOURS["legacy-nocsrf"])
    http, headers = _session(sim)
    assert _legacy_add(sim, http, headers, {"id": "u1", "email": "alice"})["success"]
    assert _legacy_add(sim, http, headers, {"id": "u2", "email": "Alice"})["success"]
    assert _post(sim, http, headers, "panel/api/inbounds/1/delClient/zzz").json()["success"]


def test_inbound_json_columns_by_generation(sim):
    http, headers = _session(sim)
    obj = http.get(sim.url + "panel/api/inbounds/get/1", headers=headers, timeout=2).json()["obj"]
    if sim.generation == "legacy":
        assert isinstance(obj["settings"], str)
        assert obj["settings"].startswith("{\n  ")  # pretty-printed, 2-space indent
        assert isinstance(obj["streamSettings"], str)
        assert "allTime" in obj
    else:
        assert isinstance(obj["settings"], dict)
        assert isinstance(obj["streamSettings"], dict)
    missing = http.get(sim.url + "panel/api/inbounds/get/99", headers=headers, timeout=2).json()
    assert missing == {"success": False, "msg": "Obtain (record not found)", "obj": None}


# -- v3 client API -----------------------------------------------------------------------


def test_v3_create_fills_defaults_and_forces_enable(sim_factory):
    sim = sim_factory(generation="v3")
    http, headers = _session(sim)
    answer = _v3_add(sim, http, headers, {"email": "alice", "enable": False})
    assert answer == {"success": True, "msg": "Inbound client(s) have been added.", "obj": None}
    stored = sim.client("alice")
    assert stored["enable"] is True
    assert len(stored["subId"]) == 36
    assert len(stored["id"]) == 36
    got = http.get(sim.url + "panel/api/clients/get/alice", headers=headers, timeout=2).json()
    assert got["obj"]["client"]["uuid"] == stored["id"]
    assert isinstance(got["obj"]["client"]["id"], int)
    assert got["obj"]["inboundIds"] == [1]


def test_v3_uniqueness_messages(sim_factory):
    sim = sim_factory(generation="v3")
    http, headers = _session(sim)
    _v3_add(sim, http, headers, {"email": "alice", "subId": "sa"})
    _v3_add(sim, http, headers, {"email": "bob", "subId": "sb"})
    assert _v3_add(sim, http, headers, {"email": "alice", "subId": "other"})["msg"] == (
        "Something went wrong (email already in use: alice\n)"
    )
    assert _v3_add(sim, http, headers, {"email": "ALICE", "subId": "other"})["msg"] == (
        "Something went wrong (Duplicate email: ALICE\n)"
    )
    assert _v3_add(sim, http, headers, {"email": "carol", "subId": "sa"})["msg"] == (
        "Something went wrong (subId already in use: sa\n)"
    )
    rename = _post(sim, http, headers, "panel/api/clients/update/bob", json={"email": "alice"})
    assert rename.json()["msg"] == "Something went wrong (Duplicate email: alice\n)"
    gone = _post(sim, http, headers, "panel/api/clients/del/zed").json()
    assert gone["msg"] == (
        'Something went wrong (client "zed" not found in any inbound or client record)'
    )


def test_v3_update_replaces_not_patches(sim_factory):
    sim = sim_factory(generation="v3")
    http, headers = _session(sim)
    _v3_add(sim, http, headers, {"email": "alice", "subId": "sa", "totalGB": 5, "limitIp": 2})
    uuid_before = sim.client("alice")["id"]
    answer = _post(sim, http, headers, "panel/api/clients/update/alice", json={"comment": "x"})
    assert answer.json()["success"]
    stored = sim.client("alice")
    assert (stored["enable"], stored["totalGB"], stored["limitIp"]) == (False, 0, 0)
    assert (stored["id"], stored["subId"]) == (uuid_before, "sa")  # credentials kept


def test_v3_bulk_create_reports_skipped(sim_factory):
    sim = sim_factory(generation="v3")
    http, headers = _session(sim)
    _v3_add(sim, http, headers, {"email": "alice", "subId": "sa"})
    payloads = [
        {"client": {"email": "bob"}, "inboundIds": [1]},
        {"client": {"email": "alice", "subId": "x"}, "inboundIds": [1]},
    ]
    answer = _post(sim, http, headers, "panel/api/clients/bulkCreate", json=payloads).json()
    assert answer["obj"] == {
        "created": 1,
        "skipped": [{"email": "alice", "reason": "email already in use: alice\n"}],
    }


def test_v3_list_embeds_traffic_and_inbound_ids(sim_factory):
    sim = sim_factory(generation="v3")
    sim.seed_client("alice", up=1, down=2)
    http, headers = _session(sim)
    [row] = http.get(sim.url + "panel/api/clients/list", headers=headers, timeout=2).json()["obj"]
    assert row["inboundIds"] == [1]
    assert (row["traffic"]["up"], row["traffic"]["down"]) == (1, 2)
    assert row["uuid"] == sim.client("alice")["id"]


def test_translated_context_keeps_the_go_error_in_english(sim_factory):
    sim = sim_factory(generation="legacy", lang="ru")
    http, headers = _session(sim)
    _legacy_add(sim, http, headers, {"id": "u1", "email": "alice"})
    dup = _legacy_add(sim, http, headers, {"id": "u2", "email": "alice"})
    assert dup["msg"] == "Что-то пошло не так (Duplicate email: alice\n)"


# -- subscription and links --------------------------------------------------------------


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


# -- control API, counters, persistence --------------------------------------------------


def test_control_api_over_http(sim):
    root = f"{sim.root_url}/__sim__"
    seeded = requests.post(
        f"{root}/seed", json={"clients": [{"email": "f1", "enable": False}]}, timeout=2
    ).json()
    assert seeded["clients"][0]["email"] == "f1"
    assert requests.post(f"{root}/traffic", json={"email": "f1", "up": 9}, timeout=2).ok
    state = requests.get(f"{root}/state", timeout=2).json()
    assert state["traffic"]["f1"]["up"] == 9
    assert state["generation"] == sim.generation

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
    first = sim_factory(generation="v3", state_file=state)
    http, headers = _session(first)
    _v3_add(first, http, headers, {"email": "alice", "subId": "sa"})
    first.set_traffic("alice", up=1, down=2)
    first.stop()

    second = sim_factory(generation="v3", state_file=state, port=first.port)
    assert second.client("alice")["subId"] == "sa"
    assert second.snapshot()["traffic"]["alice"]["down"] == 2
    # The cookie still works after the restart, as a real panel's signed cookie would.
    answer = http.get(second.url + "panel/api/clients/list", headers=headers, timeout=2)
    assert answer.json()["success"]


def test_seed_rejects_duplicates(sim):
    sim.seed_client("a")
    with pytest.raises(ValueError, match="already"):
        sim.seed_client("A")


def test_invalid_options():
    with pytest.raises(ValueError, match="generation"):
        X3UISimulator(generation="v9")
    with pytest.raises(ValueError, match="CSRF"):
        X3UISimulator(generation="v3", csrf=False)
