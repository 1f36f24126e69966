"""The node form in the console logs in to the panel before saving (the checks of
``manage.py node add``), refuses what the panel refuses with its own message, lists the
panel's inbounds to pick from, and every save writes an audit row naming the operator."""

import pytest
from django.urls import reverse

from core.models import AuditEvent, AuditLog
from nodes.models import Node
from nodes.tests.conftest import PASSWORD, USERNAME
from nodes.tests.factories import NodeFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:nodes_node_add")


@pytest.fixture(autouse=True)
def _english(client):
    """The messages below are read in English (the console follows the browser)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def form_data(sim, **overrides):
    data = {
        "name": "de-1",
        "country": "DE",
        "location": "Frankfurt",
        "panel_url": sim.url,
        "panel_username": USERNAME,
        "panel_password": PASSWORD,
        "panel_api_token": "",
        "inbound_id": str(sim.inbound_id),
        "public_host": "",
        "public_port": "",
        "is_enabled": "on",
        "weight": "1",
        "max_clients": "0",
    }
    data.update(overrides)
    return data


def test_adding_a_node_logs_in_and_the_audit_row_names_the_operator(
    as_superuser, superuser, sim_factory
):
    sim = sim_factory()
    response = as_superuser.post(ADD, form_data(sim))
    assert response.status_code == 302, response.context["adminform"].form.errors
    node = Node.objects.get()
    assert sim.snapshot()["request_counts"].get("POST login", 0) >= 1
    assert node.inbound_cache["protocol"] == "vless"  # what the panel check learnt
    assert node.panel_generation == "v3"
    row = AuditLog.objects.get(event_type=AuditEvent.NODE_CHANGED)
    assert row.acting_user == superuser
    assert row.object_id == str(node.pk)
    assert row.extra_data["created"] is True
    assert PASSWORD not in str(row.extra_data)
    assert PASSWORD not in row.message


def test_wrong_credentials_are_refused_with_the_panels_message_and_nothing_is_saved(
    as_superuser, sim_factory
):
    sim = sim_factory()
    response = as_superuser.post(ADD, form_data(sim, panel_password="wrong-password"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert any("Invalid username or password" in error for error in errors), errors
    assert not Node.objects.exists()
    assert not AuditLog.objects.exists()


def test_an_unreachable_panel_is_refused_and_nothing_is_saved(as_superuser, sim_factory):
    sim = sim_factory()
    sim.set_down()
    response = as_superuser.post(ADD, form_data(sim))
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors()
    assert not Node.objects.exists()


def test_an_inbound_the_panel_lacks_is_refused_and_the_form_offers_the_panels_inbounds(
    as_superuser, sim_factory
):
    sim = sim_factory()
    sim.add_inbound(id=7, remark="NL-Reality")
    response = as_superuser.post(ADD, form_data(sim, inbound_id="99"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "no inbound 99" in str(form.errors["inbound_id"])
    choices = dict(form.fields["inbound_id"].widget.choices)
    assert set(choices) == {"", sim.inbound_id, 7}
    assert "NL-Reality" in choices[7]
    assert 'value="7"' in response.content.decode()
    assert not Node.objects.exists()


def test_a_blank_inbound_asks_to_pick_one_of_the_panels(as_superuser, sim_factory):
    sim = sim_factory()
    response = as_superuser.post(ADD, form_data(sim, inbound_id=""))
    form = response.context["adminform"].form
    assert "Pick the inbound" in str(form.errors["inbound_id"])
    assert sim.inbound_id in dict(form.fields["inbound_id"].widget.choices)
    assert not Node.objects.exists()


def test_a_non_vless_inbound_is_refused(as_superuser, sim_factory):
    sim = sim_factory()
    sim.add_inbound(id=5, protocol="vmess")
    response = as_superuser.post(ADD, form_data(sim, inbound_id="5"))
    form = response.context["adminform"].form
    assert "not VLESS" in str(form.errors["inbound_id"])
    assert not Node.objects.exists()


def test_test_connection_shows_the_login_and_the_inbounds_and_saves_nothing(
    as_superuser, sim_factory
):
    sim = sim_factory()
    sim.add_inbound(id=7, remark="NL-Reality")
    response = as_superuser.post(ADD, {**form_data(sim, inbound_id=""), "_test_connection": "1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="node-test-result"' in page
    assert "NL-Reality" in page
    assert not response.context["adminform"].form.errors
    assert not Node.objects.exists()
    # The password just typed stays typed, so picking the inbound and saving is one step.
    assert f'value="{PASSWORD}"' in page


def test_test_connection_with_wrong_credentials_shows_the_panels_message(as_superuser, sim_factory):
    sim = sim_factory()
    response = as_superuser.post(
        ADD, {**form_data(sim, panel_password="nope"), "_test_connection": "1"}
    )
    assert "Invalid username or password" in response.content.decode()
    assert 'id="node-test-result"' not in response.content.decode()
    assert not Node.objects.exists()


def test_changing_credentials_is_audited_and_the_stored_password_is_never_shown(
    as_superuser, superuser, sim_factory
):
    sim = sim_factory()
    node = NodeFactory(
        panel_url=sim.url,
        panel_username=USERNAME,
        panel_password="old-password",
        inbound_id=sim.inbound_id,
    )
    change = reverse("admin:nodes_node_change", args=[node.pk])
    assert "old-password" not in as_superuser.get(change).content.decode()

    data = form_data(sim, name=node.name, panel_password=PASSWORD)
    response = as_superuser.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    row = AuditLog.objects.get(event_type=AuditEvent.NODE_CHANGED)
    assert row.acting_user == superuser
    assert row.extra_data["credentials_changed"] is True
    assert "panel_password" in row.extra_data["fields"]
    assert PASSWORD not in str(row.extra_data)
    assert "old-password" not in str(row.extra_data)
    node.refresh_from_db()
    assert node.panel_password == PASSWORD


def test_an_edit_with_a_blank_password_keeps_it_and_is_not_a_credentials_change(
    as_superuser, sim_factory
):
    sim = sim_factory()
    node = NodeFactory(
        panel_url=sim.url,
        panel_username=USERNAME,
        panel_password=PASSWORD,
        inbound_id=sim.inbound_id,
        weight=1,
    )
    change = reverse("admin:nodes_node_change", args=[node.pk])
    response = as_superuser.post(
        change,
        form_data(sim, name=node.name, public_host=node.public_host, panel_password="", weight="3"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    row = AuditLog.objects.get(event_type=AuditEvent.NODE_CHANGED)
    assert row.extra_data["fields"] == ["weight"]
    assert row.extra_data["credentials_changed"] is False
    assert row.extra_data["values"] == {"weight": 3}
    node.refresh_from_db()
    assert node.panel_password == PASSWORD


def test_the_form_speaks_russian_to_a_russian_browser(as_superuser, sim_factory):
    sim = sim_factory()
    as_superuser.defaults["HTTP_ACCEPT_LANGUAGE"] = "ru"
    response = as_superuser.post(ADD, form_data(sim, inbound_id=""))
    assert "Выберите инбаунд для наших ключей." in response.content.decode()
    page = as_superuser.get(ADD).content.decode()
    assert "Проверить подключение" in page


def test_an_edit_that_leaves_the_panel_alone_saves_while_the_panel_is_down(
    as_superuser, superuser, sim_factory
):
    """Disabling a node whose panel is down must not wait on (or be refused by) the panel."""
    sim = sim_factory()
    node = NodeFactory(
        panel_url=sim.url,
        panel_username=USERNAME,
        panel_password=PASSWORD,
        inbound_id=sim.inbound_id,
    )
    sim.set_down()
    change = reverse("admin:nodes_node_change", args=[node.pk])
    data = form_data(sim, name=node.name, public_host=node.public_host, panel_password="")
    data.pop("is_enabled")  # unticked
    response = as_superuser.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    node.refresh_from_db()
    assert node.is_enabled is False
    row = AuditLog.objects.get(event_type=AuditEvent.NODE_CHANGED)
    assert row.acting_user == superuser
    assert row.extra_data["fields"] == ["is_enabled"]
    # A credentials change still logs in, and the panel being down refuses it.
    response = as_superuser.post(change, {**data, "panel_password": "a-new-password"})
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors()
