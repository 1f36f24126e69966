"""Raw edge cases real panels produce, replayed with ``responses`` (no sockets).

The JSON under ``responses/`` follows the panel's shapes (docs/x3ui.md): the legacy inbound
is a py3xui recording, served by ``inbounds/list`` with its ``clientStats`` and by
``inbounds/get/{id}`` without them (``GetInbound`` preloads no stats on v2.x/v3.0); the v3
ones follow ``ClientRecord`` and ``Status``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses

from nodes.x3ui import (
    PanelClient,
    X3UIAuthError,
    X3UIClient,
    X3UIDuplicateClient,
    X3UINotFound,
    X3UIRejected,
    X3UIUnavailable,
)

BASE = "https://panel.example.com:2053/Abc123xyz/"
FIXTURES = Path(__file__).parent / "responses"
PASSWORD = "hunter2-Secret"
TOKEN = "tok-abcdef"


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _ok(obj=None, msg: str = "") -> dict:
    return {"success": True, "msg": msg, "obj": obj}


def _client(**kwargs) -> X3UIClient:
    kwargs.setdefault("inbound_id", 1)
    if "api_token" not in kwargs:
        kwargs.setdefault("username", "admin")
        kwargs.setdefault("password", PASSWORD)
    return X3UIClient(BASE.rstrip("/"), **kwargs)  # trailing slash is normalised


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _login_ok(mocked, *, csrf: bool = True) -> None:
    if csrf:
        mocked.get(BASE + "csrf-token", json=_ok("csrf-abc"))
    else:
        mocked.get(BASE + "csrf-token", status=404)
    mocked.post(
        BASE + "login",
        json=_ok(msg="You have successfully logged into your account."),
        headers={"Set-Cookie": "3x-ui=sess; Path=/Abc123xyz/; Max-Age=21600; HttpOnly"},
    )


LEGACY_LIST = BASE + "panel/api/inbounds/list"


def test_legacy_settings_as_strings_and_tg_id_as_empty_string(mocked):
    _login_ok(mocked, csrf=False)
    mocked.get(LEGACY_LIST, json=_fixture("legacy_inbounds_list.json"))
    client = _client(generation="legacy")
    foreign, ours = client.list_clients()
    assert foreign.tg_id == 0  # "" in the panel
    assert (foreign.up, foreign.down) == (100, 200)
    assert ours == PanelClient(
        id="5b3a9a4e-8f71-4d0c-9c3e-0a2bd2f1c002",
        email="s42",
        enable=False,
        expiry_time_ms=1893456000000,
        limit_ip=2,
        total_bytes=53687091200,
        sub_id="k3vq9x2m7d1p0abc",
        tg_id=123456789,
        comment="ours",
        flow="xtls-rprx-vision",
        up=3000,
        down=4000,
    )
    assert ours.extra["created_at"] == 1750000000000  # kept for a full-replacement update
    assert client.request_count == 3


@pytest.mark.parametrize("fixture", ["legacy_inbound_get.json", "v3_inbound_get.json"])
def test_inbound_json_columns_as_string_or_object(fixture, mocked):
    mocked.get(BASE + "panel/api/inbounds/get/1", json=_fixture(fixture))
    inbound = _client(api_token=TOKEN).get_inbound()
    assert (inbound.port, inbound.protocol, inbound.security) == (37316, "vless", "reality")
    assert inbound.stream_settings["realitySettings"]["shortIds"] == ["6ba85179e30d4fc2"]
    assert inbound.sniffing["enabled"] is True
    assert [c.email for c in inbound.clients] == ["alhtim2x", "s42"]


def test_v3_records_use_uuid_and_are_filtered_by_inbound(mocked):
    mocked.get(BASE + "panel/api/clients/list", json=_fixture("v3_clients_list.json"))
    clients = _client(api_token=TOKEN).list_clients()
    assert [c.email for c in clients] == ["s42", "no-traffic-yet"]
    s42, fresh = clients
    assert s42.id == "5b3a9a4e-8f71-4d0c-9c3e-0a2bd2f1c002"  # not the row id 7
    assert (s42.up, s42.down) == (3000, 4000)
    assert (fresh.up, fresh.down, fresh.expiry_time_ms) == (0, 0, -604800000)
    assert "inboundIds" not in s42.to_panel()
    assert "password" not in s42.to_panel()  # empty credentials of other protocols dropped


def test_obj_null_is_an_empty_list(mocked):
    mocked.get(BASE + "panel/api/clients/list", json=_ok(None))
    client = _client(api_token=TOKEN)
    assert client.list_clients() == []
    assert client.generation == "v3"


def test_malformed_settings_string_is_unavailable(mocked):
    broken = _fixture("legacy_inbound_get.json")
    broken["obj"]["settings"] = '{"clients": ['
    mocked.get(BASE + "panel/api/inbounds/get/1", json=broken)
    with pytest.raises(X3UIUnavailable, match="malformed"):
        _client(api_token=TOKEN).get_inbound()


def test_status_parsed_and_null_status_tolerated(mocked):
    mocked.get(BASE + "panel/api/server/status", json=_fixture("server_status.json"))
    status = _client(api_token=TOKEN).server_status()
    assert status.xray_running
    assert status.raw["panelVersion"] == "3.6.0"
    mocked.replace(responses.GET, BASE + "panel/api/server/status", json=_ok(None))
    assert _client(api_token=TOKEN).server_status().xray_state == "unknown"


def test_legacy_add_body_and_empty_body_success(mocked):
    _login_ok(mocked)
    add = mocked.post(BASE + "panel/api/inbounds/addClient", body=b"")  # 3x-ui #3052
    client = _client(generation="legacy")
    client.add_clients(
        [PanelClient(id="u1", email="s1", sub_id="a"), PanelClient(id="u2", email="s2")]
    )
    sent = json.loads(add.calls[0].request.body)
    assert sent["id"] == 1
    assert isinstance(sent["settings"], str)  # a JSON string inside the JSON body
    clients = json.loads(sent["settings"])["clients"]
    assert [c["email"] for c in clients] == ["s1", "s2"]
    assert clients[0]["totalGB"] == 0
    assert add.calls[0].request.headers["X-CSRF-Token"] == "csrf-abc"


def test_empty_body_outside_add_is_unavailable(mocked):
    mocked.get(BASE + "panel/api/clients/list", body=b"")
    with pytest.raises(X3UIUnavailable, match="empty body"):
        _client(api_token=TOKEN, generation="v3").list_clients()


@pytest.mark.parametrize(
    "msg",
    [
        "Что-то пошло не так (Duplicate email: s1\n)",
        "出了点问题 (email already in use: s1\n)",
        "Something went wrong (DUPLICATE EMAIL: s1\n)",
    ],
)
def test_translated_duplicate_message(msg, mocked):
    mocked.post(BASE + "panel/api/clients/add", json={"success": False, "msg": msg, "obj": None})
    with pytest.raises(X3UIDuplicateClient) as caught:
        _client(api_token=TOKEN, generation="v3").add_client(PanelClient(id="u", email="s1"))
    assert caught.value.emails == ("s1",)
    assert caught.value.msg == msg


def test_other_translated_refusal_is_plain_rejected(mocked):
    msg = "Что-то пошло не так (subId already in use: abc\n)"
    mocked.post(BASE + "panel/api/clients/add", json={"success": False, "msg": msg, "obj": None})
    with pytest.raises(X3UIRejected) as caught:
        _client(api_token=TOKEN, generation="v3").add_client(PanelClient(id="u", email="s1"))
    assert not isinstance(caught.value, X3UIDuplicateClient | X3UIUnavailable)


def test_v3_update_body_is_flat_and_keyed_by_email(mocked):
    update = mocked.post(BASE + "panel/api/clients/update/a%2Bb@x", json=_ok())
    _client(api_token=TOKEN, generation="v3").update_client(
        PanelClient(id="u1", email="a+b@x", enable=False, total_bytes=7)
    )
    body = json.loads(update.calls[0].request.body)
    assert body["id"] == "u1"
    assert (body["enable"], body["totalGB"]) == (False, 7)


def test_headers_timeout_and_bearer(mocked):
    listing = mocked.get(BASE + "panel/api/clients/list", json=_ok([]))
    _client(api_token=TOKEN, timeout=(2, 9)).list_clients()
    request = listing.calls[0].request
    assert request.headers["X-Requested-With"] == "XMLHttpRequest"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "X-CSRF-Token" not in request.headers
    assert request.req_kwargs["timeout"] == (2.0, 9.0)


def test_every_request_gets_the_timeout(mocked):
    _login_ok(mocked)
    mocked.get(LEGACY_LIST, json=_fixture("legacy_inbounds_list.json"))
    _client(generation="legacy").list_clients()
    assert [call.request.req_kwargs["timeout"] for call in mocked.calls] == [(5.0, 15.0)] * 3


def test_307_redirect_is_not_followed_and_relogin_happens_once(mocked):
    _login_ok(mocked, csrf=False)
    redirect = mocked.get(LEGACY_LIST, status=307, headers={"Location": "/Abc123xyz/"})
    landing = mocked.get(BASE, body="<html>login</html>")
    client = _client(generation="legacy")
    with pytest.raises(X3UIAuthError, match="could not be restored"):
        client.list_clients()
    assert redirect.call_count == 2  # first try, then once after a fresh login ...
    assert landing.call_count == 0  # ... and the redirect itself never followed
    assert sum(1 for c in mocked.calls if c.request.url.endswith("/login")) == 2


def test_401_json_of_old_panels_triggers_one_relogin(mocked):
    _login_ok(mocked, csrf=False)
    expired = {"success": False, "msg": "Your session has expired, please log in again"}
    mocked.get(LEGACY_LIST, status=401, json=expired)
    mocked.get(LEGACY_LIST, json=_fixture("legacy_inbounds_list.json"))
    client = _client(generation="legacy", session=_session_with_cookie())
    assert len(client.list_clients()) == 2
    assert sum(1 for c in mocked.calls if c.request.url.endswith("/login")) == 1


def _session_with_cookie() -> requests.Session:
    session = requests.Session()
    session.cookies.set("3x-ui", "old", domain="panel.example.com", path="/Abc123xyz/")
    return session


def test_reused_session_fetches_csrf_before_first_post(mocked):
    mocked.get(BASE + "csrf-token", json=_ok("tok-from-session"))
    add = mocked.post(BASE + "panel/api/clients/add", json=_ok())
    client = _client(generation="v3", session=_session_with_cookie())
    client.add_client(PanelClient(id="u", email="s1"))
    assert add.calls[0].request.headers["X-CSRF-Token"] == "tok-from-session"
    assert client.request_count == 2  # no login


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"status": 500, "body": b""}, "HTTP 500"),
        ({"status": 502, "body": b"<html>Bad gateway</html>"}, "HTTP 502"),
        ({"body": b"<!DOCTYPE html><html></html>"}, "HTML"),
        ({"body": b"{}", "content_type": "text/html"}, "HTML"),
        ({"body": b"not json"}, "not JSON"),
        ({"json": {"data": []}}, "envelope"),
        ({"body": requests.ConnectTimeout("boom")}, "timed out"),
        ({"body": requests.ConnectionError("refused")}, "connection failed"),
    ],
)
def test_garbage_and_transport_errors_are_unavailable(kwargs, expected, mocked):
    mocked.get(BASE + "panel/api/clients/list", **kwargs)
    with pytest.raises(X3UIUnavailable, match=expected):
        _client(api_token=TOKEN, generation="v3").list_clients()


def test_login_errors(mocked):
    mocked.get(BASE + "csrf-token", json=_ok("t"))
    mocked.post(BASE + "login", status=503)
    with pytest.raises(X3UIUnavailable):
        _client().login()
    mocked.replace(responses.POST, BASE + "login", status=404)
    with pytest.raises(X3UIAuthError, match="base path"):
        _client().login()
    mocked.replace(
        responses.POST,
        BASE + "login",
        json={"success": False, "msg": "Неверное имя пользователя", "obj": None},
    )
    with pytest.raises(X3UIAuthError) as caught:
        _client().login()
    assert PASSWORD not in str(caught.value)


def test_no_credentials_is_auth_error():
    with pytest.raises(X3UIAuthError, match="no panel credentials"):
        X3UIClient(BASE, inbound_id=1).login()


def test_token_scope_403_is_auth_error_with_msg(mocked):
    denied = {"success": False, "msg": "this API token is not permitted to access this endpoint"}
    mocked.post(BASE + "panel/api/clients/add", status=403, json=denied)
    with pytest.raises(X3UIAuthError) as caught:
        _client(api_token=TOKEN, generation="v3").add_client(PanelClient(id="u", email="s"))
    assert "not permitted" in caught.value.msg


def test_404_everywhere_with_password_is_not_found(mocked):
    _login_ok(mocked)
    mocked.get(BASE + "panel/api/clients/list", status=404)
    mocked.get(LEGACY_LIST, status=404)
    client = _client()
    with pytest.raises(X3UINotFound):
        client.list_clients()
    assert client.generation is None


def test_legacy_panel_with_unknown_inbound(mocked):
    _login_ok(mocked)
    mocked.get(BASE + "panel/api/clients/list", status=404)
    mocked.get(LEGACY_LIST, json=_fixture("legacy_inbounds_list.json"))
    client = _client(inbound_id=9)
    with pytest.raises(X3UINotFound, match="inbound 9 not found"):
        client.list_clients()
    assert client.generation == "legacy"


def test_legacy_traffic_comes_from_the_list_not_from_get(mocked):
    # v2.8.3 web/service/inbound.go GetInbound: no Preload("ClientStats"), so get/{id}
    # answers "clientStats": null; only GetInbounds (inbounds/list) carries the traffic.
    mocked.get(BASE + "panel/api/inbounds/get/1", json=_fixture("legacy_inbound_get.json"))
    mocked.get(LEGACY_LIST, json=_fixture("legacy_inbounds_list.json"))
    client = _client(api_token=TOKEN, generation="legacy")
    assert {c.email: c.up + c.down for c in client.list_clients()} == {
        "alhtim2x": 300,
        "s42": 7000,
    }
    assert [c.request.url for c in mocked.calls] == [LEGACY_LIST]


def test_v3_record_on_no_inbound_is_not_listed(mocked):
    rows = _fixture("v3_clients_list.json")
    rows["obj"][0]["inboundIds"] = None  # detached from every inbound
    mocked.get(BASE + "panel/api/clients/list", json=rows)
    clients = _client(api_token=TOKEN, generation="v3").list_clients()
    assert "s42" not in [c.email for c in clients]


def test_a_listing_row_sent_back_drops_a_string_where_go_wants_a_list(mocked):
    # v3.4.2+: list rows carry "allowedIPs": "" while update binds []string.
    rows = _fixture("v3_clients_list.json")
    rows["obj"][0]["allowedIPs"] = ""
    mocked.get(BASE + "panel/api/clients/list", json=rows)
    s42 = _client(api_token=TOKEN, generation="v3").list_clients()[0]
    assert "allowedIPs" not in s42.to_panel()
    assert PanelClient(**{**s42.__dict__, "extra": {"allowedIPs": ["10.0.0.2/32"]}}).to_panel()[
        "allowedIPs"
    ] == ["10.0.0.2/32"]


def test_constructor_validation():
    with pytest.raises(ValueError, match="base_url"):
        X3UIClient("", inbound_id=1)
    assert X3UIClient(BASE, inbound_id=1, generation="unknown").generation is None
    assert X3UIClient(BASE + "//", inbound_id=1).base_url == BASE
