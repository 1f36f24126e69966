"""The client against the simulator over real loopback HTTP, for both API generations."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace

import pytest
import requests

from nodes.x3ui import (
    PanelClient,
    X3UIAuthError,
    X3UIDuplicateClient,
    X3UIRejected,
    X3UIUnavailable,
)

from .conftest import API_TOKEN, FLAVOURS


def _client(email: str, **fields) -> PanelClient:
    fields.setdefault("id", str(uuid.uuid4()))
    fields.setdefault("sub_id", f"sub-{email}")
    fields.setdefault("flow", "xtls-rprx-vision")
    return PanelClient(email=email, **fields)


def test_password_login_uses_csrf_where_the_panel_has_it(any_sim, client_factory):
    client = client_factory(any_sim, generation=any_sim.generation)
    assert client.list_clients() == []
    counts = any_sim.request_counts
    assert counts["POST login"] == 1
    if any_sim.csrf:
        assert counts["GET csrf-token"] == 1
        assert client.request_count == 3  # csrf-token, login, listing
    else:
        assert counts["GET (no route)"] == 1  # GET csrf-token is 404 before v3.0
        assert client.request_count == 3
    # Writes carry the token (the simulator answers 403 otherwise).
    client.add_client(_client("s1"))
    assert any_sim.client("s1") is not None


def test_wrong_password_is_auth_error_without_leaking_it(any_sim, client_factory):
    client = client_factory(any_sim, password="wrong-Pa55word")
    with pytest.raises(X3UIAuthError) as caught:
        client.list_clients()
    assert "wrong-Pa55word" not in str(caught.value)
    assert "wrong-Pa55word" not in repr(client)
    assert caught.value.endpoint == "POST login"


def test_bearer_token_skips_login_and_csrf(sim, client_factory):
    client = client_factory(sim, api_token=API_TOKEN, generation=sim.generation)
    assert client.list_clients() == []
    client.add_client(_client("s1"))
    assert client.request_count == 2  # no csrf-token, no login
    assert "POST login" not in sim.request_counts
    assert API_TOKEN not in repr(client)


def test_bad_bearer_token_is_auth_error(sim, client_factory):
    client = client_factory(sim, api_token="not-the-token")
    with pytest.raises(X3UIAuthError) as caught:
        client.list_clients()
    assert "not-the-token" not in str(caught.value)


def test_bearer_token_on_pre_v3_panel_is_auth_error(sim_factory, client_factory):
    sim = sim_factory(**FLAVOURS["legacy-nocsrf"])
    client = client_factory(sim, api_token=API_TOKEN, generation="legacy")
    with pytest.raises(X3UIAuthError):
        client.list_clients()


def test_session_expiry_mid_run_relogs_in_once(sim, client):
    client.add_client(_client("s1"))
    sim.expire_sessions()
    assert [c.email for c in client.list_clients()] == ["s1"]
    sim.expire_sessions()
    client.update_client(_client("s1", id=sim.client("s1")["id"], comment="after expiry"))
    assert sim.client("s1")["comment"] == "after expiry"
    assert sim.request_counts["POST login"] == 3


def test_cookie_max_age_expiry_relogs_in(sim_factory, client_factory):
    sim = sim_factory(generation="v3", session_max_age=1)
    client = client_factory(sim, generation="v3")
    client.list_clients()
    time.sleep(1.1)  # the jar drops the cookie (Max-Age=1); the panel would refuse it too
    client.list_clients()
    assert sim.request_counts["POST login"] == 2


def test_session_that_cannot_be_restored_is_auth_error(sim, client):
    client.list_clients()
    sim._password = "changed-elsewhere"  # e.g. an operator changed it on the panel
    sim.expire_sessions()
    with pytest.raises(X3UIAuthError):
        client.list_clients()


def test_add_single_then_list_with_traffic(sim, client):
    new = _client("s1", total_bytes=10 * 1024**3, expiry_time_ms=1_900_000_000_000, limit_ip=2)
    client.add_client(new)
    sim.set_traffic("s1", up=123, down=456)
    [listed] = client.list_clients()
    assert replace(listed, up=0, down=0) == new
    assert (listed.up, listed.down) == (123, 456)


def test_add_batch_in_one_request(sim, client):
    client.detect_generation()
    before = client.request_count
    batch = [_client(f"s{i}") for i in range(5)]
    client.add_clients(batch)
    assert client.request_count - before == 1
    assert {c.email for c in client.list_clients()} == {c.email for c in batch}
    name = (
        "POST panel/api/clients/bulkCreate"
        if sim.generation == "v3"
        else "POST panel/api/inbounds/addClient"
    )
    assert sim.request_counts[name] == 1


def test_v3_batch_falls_back_to_single_adds_without_bulk_create(sim_factory, client_factory):
    sim = sim_factory(generation="v3", bulk_create=False)
    client = client_factory(sim, generation="v3")
    client.add_clients([_client("s1"), _client("s2")])
    client.add_clients([_client("s3"), _client("s4")])
    assert sim.request_counts["POST panel/api/clients/add"] == 4
    assert sim.request_counts["POST (no route)"] == 1  # bulkCreate tried once, then remembered
    assert client.generation == "v3"


def test_disabled_client_stays_disabled_after_add(sim, client):
    client.add_client(_client("s1", enable=False))
    assert sim.client("s1")["enable"] is False  # v3 forces enable on create; we fix it up


def test_add_duplicate_email_is_duplicate_error(sim, client):
    client.add_client(_client("s1"))
    with pytest.raises(X3UIDuplicateClient) as caught:
        client.add_client(_client("S1", sub_id="another-sub"))
    assert caught.value.emails == ("S1",)
    assert isinstance(caught.value, X3UIRejected)
    assert "\n" not in str(caught.value)


def test_add_exact_duplicate_email_is_duplicate_error(sim, client):
    client.add_client(_client("s1"))
    with pytest.raises(X3UIDuplicateClient):
        client.add_client(_client("s1", sub_id="another-sub"))


def test_legacy_duplicate_in_batch_refuses_the_whole_batch(sim_factory, client_factory):
    sim = sim_factory(generation="legacy")
    client = client_factory(sim)
    client.add_client(_client("s1"))
    with pytest.raises(X3UIDuplicateClient):
        client.add_clients([_client("s2"), _client("s1", sub_id="x")])
    assert sim.client("s2") is None


def test_v3_partial_batch_reports_failures_and_added(sim_factory, client_factory):
    sim = sim_factory(generation="v3")
    client = client_factory(sim)
    client.add_client(_client("s1"))
    with pytest.raises(X3UIDuplicateClient) as caught:
        client.add_clients([_client("s2"), _client("s1", sub_id="x")])
    assert caught.value.added == ("s2",)
    assert list(caught.value.failures) == ["s1"]
    assert sim.client("s2") is not None


def test_v3_readd_with_same_sub_id_is_silently_skipped(sim_factory, client_factory):
    """Same email + same non-empty subId: a success that changes nothing (3.5.0+; docs/x3ui.md
    "Writes whose answer is lost")."""
    sim = sim_factory(generation="v3")
    client = client_factory(sim)
    first = _client("s1", comment="first")
    client.add_client(first)
    client.add_client(_client("s1", comment="second"))
    assert sim.client("s1")["comment"] == "first"


def test_update_replaces_fields(sim, client):
    new = _client("s1", limit_ip=1)
    client.add_client(new)
    changed = PanelClient(
        id=new.id,
        email="s1",
        enable=False,
        expiry_time_ms=1_800_000_000_000,
        limit_ip=3,
        total_bytes=5,
        sub_id=new.sub_id,
        comment="renewed",
        flow="xtls-rprx-vision",
    )
    client.update_client(changed)
    [listed] = client.list_clients()
    assert replace(listed, up=0, down=0) == changed


def test_update_unknown_client_is_rejected(sim, client):
    client.add_client(_client("s1"))
    with pytest.raises(X3UIRejected):
        client.update_client(_client("nobody"))


def test_delete_client(sim, client):
    keep, gone = _client("s1"), _client("s2")
    client.add_clients([keep, gone])
    client.delete_client(email=gone.email, client_id=gone.id)
    assert [c.email for c in client.list_clients()] == ["s1"]


def test_delete_needs_a_key(client):
    with pytest.raises(ValueError, match="email or client_id"):
        client.delete_client()


@pytest.mark.parametrize("key", ["email", "client_id"])
def test_delete_with_one_key_looks_the_other_up(key, sim, client):
    keep, gone = _client("s1"), _client("s2")
    client.add_clients([keep, gone])
    assert client.delete_client(**{key: getattr(gone, "email" if key == "email" else "id")})
    assert sim.client("s2") is None
    assert sim.client("s1") is not None


def test_delete_of_a_client_already_gone_is_settled_by_reading_the_panel(sim, client):
    keep, gone = _client("s1"), _client("s2")
    client.add_clients([keep, gone])
    assert client.delete_client(email=gone.email, client_id=gone.id) is True
    # A retry after an answer that came too late: the panel has nothing, so it is done.
    assert client.delete_client(email=gone.email, client_id=gone.id) is False
    assert [c.email for c in client.list_clients()] == ["s1"]


def test_last_client_delete(sim, client):
    only = _client("s1")
    client.add_client(only)
    if sim.generation == "legacy":
        with pytest.raises(X3UIRejected) as caught:
            client.delete_client(email=only.email, client_id=only.id)
        assert "no client remained" in caught.value.msg
        assert sim.client("s1") is not None
    else:
        client.delete_client(email=only.email, client_id=only.id)  # allowed from v3.1
        assert sim.client("s1") is None


def test_foreign_clients_are_listed_as_they_are(sim, client):
    sim.seed_client("foreign@example", up=10, down=20, totalGB=0)
    [foreign] = client.list_clients()
    assert foreign.email == "foreign@example"
    assert foreign.tg_id == 0  # stored as "" by the legacy UI
    assert (foreign.up, foreign.down) == (10, 20)


def test_get_inbound_parses_stream_settings(sim, client):
    client.add_client(_client("s1"))
    inbound = client.get_inbound()
    assert (inbound.id, inbound.port, inbound.protocol) == (1, 443, "vless")
    assert (inbound.network, inbound.security) == ("tcp", "reality")
    reality = inbound.stream_settings["realitySettings"]
    assert reality["settings"]["publicKey"]
    assert inbound.settings["encryption"] == "none"
    assert [c.email for c in inbound.clients] == ["s1"]
    cache = inbound.to_cache()
    assert "privateKey" not in cache["stream_settings"]["realitySettings"]
    assert "clients" not in cache["settings"]


def test_server_status(sim, client):
    status = client.server_status()
    assert status.xray_running
    assert status.raw["mem"]["total"] > 0


def test_generation_detected_once_and_cached(sim, client):
    assert client.generation is None
    client.list_clients()
    assert client.generation == sim.generation
    before = client.request_count
    client.list_clients()
    assert client.request_count - before == 1


def test_detection_costs_nothing_extra_on_v3(sim_factory, client_factory):
    sim = sim_factory(generation="v3")
    client = client_factory(sim)
    client.list_clients()
    assert sim.request_counts["GET panel/api/clients/list"] == 1
    assert client.request_count == 3  # csrf-token, login, listing (= the probe)


@pytest.mark.parametrize(("actual", "stale"), [("v3", "legacy"), ("legacy", "v3")])
def test_redetects_after_a_404(actual, stale, sim_factory, client_factory):
    sim = sim_factory(generation=actual)
    client = client_factory(sim, generation=stale)
    client.add_client(_client("s1"))
    assert client.generation == actual
    assert sim.client("s1") is not None
    assert [c.email for c in client.list_clients()] == ["s1"]


def test_panel_upgrade_across_restart_is_followed(tmp_path, sim_factory, client_factory):
    state = tmp_path / "panel.json"
    legacy = sim_factory(generation="legacy", state_file=state)
    client = client_factory(legacy)
    client.add_client(_client("s1"))
    assert client.generation == "legacy"
    legacy.stop()

    upgraded = sim_factory(generation="v3", state_file=state, port=legacy.port)
    client = client_factory(upgraded, generation="legacy")
    client.add_client(_client("s2"))
    assert client.generation == "v3"
    assert {c.email for c in client.list_clients()} == {"s1", "s2"}


@pytest.mark.parametrize("mode", ["http500", "empty", "html", "reset"])
def test_faults_are_unavailable(mode, sim, client):
    client.list_clients()
    sim.add_fault(mode, count=1)
    with pytest.raises(X3UIUnavailable):
        client.list_clients()
    assert client.list_clients() == []  # the next request works again


def test_slow_panel_times_out_as_unavailable(sim, client_factory):
    client = client_factory(sim)
    client.list_clients()  # logged in with the usual timeout: a busy machine may be slow here
    client.timeout = (1.0, 0.2)
    sim.add_fault("slow", delay=1.0, count=1)
    started = time.monotonic()
    with pytest.raises(X3UIUnavailable, match="timed out"):
        client.list_clients()
    assert time.monotonic() - started < 1.0


def test_down_panel_is_unavailable_then_recovers(sim, client):
    client.list_clients()
    sim.set_down()
    with pytest.raises(X3UIUnavailable, match="connection failed"):
        client.list_clients()
    sim.set_up()
    assert client.list_clients() == []


def test_fail_next_n_requests(sim, client):
    client.list_clients()
    sim.add_fault("http500", count=2)
    for _ in range(2):
        with pytest.raises(X3UIUnavailable):
            client.list_clients()
    assert client.list_clients() == []


def test_empty_body_on_successful_add_is_success(sim, client):
    client.list_clients()
    sim.add_fault("empty_ok", count=1, path="/add")
    client.add_client(_client("s1"))
    assert sim.client("s1") is not None


def test_faults_over_http_control_api(sim, client):
    client.list_clients()
    control = f"{sim.root_url}/__sim__/faults"
    assert requests.post(control, json={"mode": "fail_next", "count": 1}, timeout=2).ok
    with pytest.raises(X3UIUnavailable):
        client.list_clients()
    assert requests.post(control, json={"mode": "expire_sessions"}, timeout=2).ok
    assert client.list_clients() == []
    state = requests.get(f"{sim.root_url}/__sim__/state", timeout=2).json()
    assert state["request_counts"]["POST login"] == 2
    assert state["faults"] == []


def test_concurrent_clients(sim, client_factory):
    errors: list[Exception] = []

    def worker(n: int) -> None:
        try:
            client_factory(sim, generation=sim.generation).add_client(_client(f"w{n}"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert len(sim.clients()) == 8


def test_reconciliation_budget_in_sync(sim, client_factory):
    """A known generation costs one listing request, plus auth overhead if any."""
    token_client = client_factory(sim, api_token=API_TOKEN, generation=sim.generation)
    token_client.list_clients()
    assert token_client.request_count == 1
    warm = client_factory(sim, generation=sim.generation)
    warm.login()
    assert warm.request_count == 2  # csrf-token + login
    warm.list_clients()
    assert warm.request_count == 3  # the session is reused: one listing


@pytest.mark.parametrize("version", ["2.8.3", "3.0.2", "3.1.0", "3.4.2", "3.6.0"])
def test_reset_client_traffic_on_every_release(version, sim_factory, client_factory):
    """One request on each release; the counters are zero in the next listing."""
    sim = sim_factory(version=version)
    client = client_factory(sim)
    client.add_client(_client("s1"))
    client.add_client(_client("s2"))
    sim.set_traffic("s1", up=700, down=300)
    sim.set_traffic("s2", up=1, down=2)
    client.list_clients()
    before = client.request_count

    assert client.reset_client_traffic("s1") is True

    assert client.request_count == before + 1
    listed = {c.email: (c.up, c.down) for c in client.list_clients()}
    assert listed == {"s1": (0, 0), "s2": (1, 2)}
    route = (
        "POST panel/api/inbounds/{id}/resetClientTraffic/{email}"
        if sim.generation == "legacy"
        else "POST panel/api/clients/resetTraffic/{email}"
    )
    assert sim.request_counts[route] == 1


def test_reset_client_traffic_of_an_absent_client_is_false(sim, client):
    """The refusal is settled by reading the panel: nothing there, nothing to reset."""
    assert client.reset_client_traffic("nobody") is False


def test_reset_client_traffic_refused_for_a_present_client_raises(sim, client):
    client.add_client(_client("s1"))
    sim.set_traffic("s1", up=1, down=1)
    # The client exists but its traffic row does not (a panel that lost it): the panel
    # refuses, and reading the client back shows it is there, so the refusal stands.
    with sim._lock:
        sim._traffic.pop("s1")
    with pytest.raises(X3UIRejected):
        client.reset_client_traffic("s1")
