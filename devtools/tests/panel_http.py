"""Talking to a simulator over plain HTTP, as a browser or a script would (the
simulator's own tests)."""

from __future__ import annotations

import json

import requests

from devtools.x3ui_simulator import VERSIONS, X3UISimulator

from .conftest import PASSWORD, USERNAME

XHR = {"X-Requested-With": "XMLHttpRequest"}
ALICE_UUID = "b831381d-6324-4d53-ad4f-8cda48b30811"
BOB_UUID = "0f6c3e59-1b7a-4d43-9a55-2f1e4c6d7a80"
ALL = list(VERSIONS)
LEGACY = ["2.8.3", "3.0.2"]
V3 = ["3.1.0", "3.4.2", "3.6.0"]
WITH_LIMITER = ["3.0.2", *V3]
TWO_INBOUNDS = [{"id": 1, "port": 443, "remark": "A"}, {"id": 2, "port": 8443, "remark": "B"}]


def browser(sim: X3UISimulator) -> tuple[requests.Session, dict[str, str]]:
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


def try_login(sim: X3UISimulator, password: str, username: str = USERNAME) -> dict:
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


def post(sim, http, headers, path, **kwargs):
    return http.post(sim.url + path, headers=headers, timeout=2, allow_redirects=False, **kwargs)


def get_json(sim, http, headers, path):
    return http.get(sim.url + path, headers=headers, timeout=2).json()


def legacy_add(sim, http, headers, *clients, inbound_id=None):
    settings = json.dumps({"clients": list(clients)})
    body = {"id": inbound_id or sim.inbound_id, "settings": settings}
    return post(sim, http, headers, "panel/api/inbounds/addClient", json=body).json()


def legacy_update(sim, http, headers, client_id, client, *, inbound_id=None):
    body = {"id": inbound_id or sim.inbound_id, "settings": json.dumps({"clients": [client]})}
    path = f"panel/api/inbounds/updateClient/{client_id}"
    return post(sim, http, headers, path, json=body).json()


def v3_add(sim, http, headers, client, inbound_ids=None):
    body = {"client": client, "inboundIds": inbound_ids or [sim.inbound_id]}
    return post(sim, http, headers, "panel/api/clients/add", json=body).json()


def v3_update(sim, http, headers, email, client, *, query=""):
    return post(sim, http, headers, f"panel/api/clients/update/{email}{query}", json=client).json()


def full_body(email, **fields):
    """A complete v3 update body (update replaces, it does not patch)."""
    body = {"email": email, "enable": True, "flow": "", "limitIp": 0, "totalGB": 0}
    body.update(expiryTime=0, tgId=0, comment="", reset=0)
    body.update(fields)
    return body
