"""The simulator over raw HTTP: versions, login, sessions, CSRF, tokens, the limiter.

Here and in the other test_simulator_* files the expectations come from the 3x-ui Go source
(docs/x3ui.md), not from our client: everything talks to the simulator with plain ``requests``.
"""

from __future__ import annotations

import pytest
import requests

from devtools.x3ui_simulator import VERSIONS, X3UISimulator, resolve_version

from .conftest import PASSWORD, USERNAME
from .panel_http import ALL, LEGACY, WITH_LIMITER, XHR, browser, get_json, try_login


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
    http, headers = browser(sim)
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
    bad = try_login(sim, "nope")
    assert bad == {
        "success": False,
        "msg": "Invalid username or password or two-factor code.",
        "obj": None,
    }
    assert try_login(sim, "")["msg"] == "Password is required"
    assert try_login(sim, "x", username="")["msg"] == "Username is required"
    good = try_login(sim, PASSWORD)
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
    http, headers = browser(sim)
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
    http, headers = browser(sim)
    assert get_json(sim, http, headers, "panel/api/inbounds/list")["success"]
    sim.advance(61)
    answer = http.get(sim.url + "panel/api/inbounds/list", headers=XHR, timeout=2)
    assert answer.status_code == 401


def test_v2_has_no_limiter_but_alerts_the_owner_with_the_password(sim_factory):
    sim = sim_factory(version="2.8.3")
    for attempt in range(7):
        assert not try_login(sim, f"guess-{attempt}")["success"]
    assert try_login(sim, PASSWORD)["success"]  # never blocked
    assert sim.login_failures == 7
    failed = [a for a in sim.owner_alerts if a["status"] == "failed"]
    assert [a["password"] for a in failed] == [f"guess-{i}" for i in range(7)]
    assert failed[0]["username"] == USERNAME
    assert sim.owner_alerts[-1]["status"] == "success"


@pytest.mark.parametrize("version", WITH_LIMITER)
def test_limiter_blocks_the_right_password_after_five_failures(version, sim_factory):
    sim = sim_factory(version=version)
    for attempt in range(5):
        assert not try_login(sim, f"guess-{attempt}")["success"]
    blocked = try_login(sim, PASSWORD)
    assert blocked == {  # the same answer as a wrong password
        "success": False,
        "msg": "Invalid username or password or two-factor code.",
        "obj": None,
    }
    assert sim.login_failures == 6
    # the key is IP + lower-cased username: "ADMIN" is the same key, another name is not
    assert not try_login(sim, PASSWORD, username=USERNAME.upper())["success"]
    assert not try_login(sim, "x", username="someone-else")["success"]
    assert try_login(sim, "x", username="someone-else")["msg"].startswith("Invalid")
    sim.advance(14 * 60)
    assert not try_login(sim, PASSWORD)["success"]  # blocked attempts do not extend the block
    sim.advance(61)
    assert try_login(sim, PASSWORD)["success"]
    reasons = {a.get("reason") for a in sim.owner_alerts if a["status"] == "failed"}
    assert reasons == {"invalid credentials", "too many failed attempts"}
    assert all("password" not in a for a in sim.owner_alerts)


@pytest.mark.parametrize("version", WITH_LIMITER)
def test_limiter_window_slides_and_success_resets(version, sim_factory):
    sim = sim_factory(version=version)
    for attempt in range(4):
        try_login(sim, f"guess-{attempt}")
    assert try_login(sim, PASSWORD)["success"]  # a success clears the record
    for attempt in range(4):
        try_login(sim, f"again-{attempt}")
    sim.advance(5 * 60 + 1)  # the four failures leave the 5-minute window
    for attempt in range(4):
        try_login(sim, f"late-{attempt}")
    assert try_login(sim, PASSWORD)["success"]
