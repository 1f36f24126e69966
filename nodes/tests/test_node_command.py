from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from nodes.models import Node, NodeHealth
from nodes.tests.conftest import FLAVOURS, PASSWORD, USERNAME

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("node", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.mark.parametrize("generation", ["v3", "legacy"])
def test_add_check_list_reconcile_never_print_credentials(sim_factory, generation):
    sim = sim_factory(**FLAVOURS[generation])
    output = run(
        "add", "--name", "de-1", "--url", sim.url, "--username", USERNAME,
        "--password", PASSWORD, "--inbound-id", str(sim.inbound_id), "--host", "de1.example.com",
        "--country", "de", "--location", "Frankfurt", "--weight", "2", "--max-clients", "10",
    )  # fmt: skip
    node = Node.objects.get(name="de-1")
    assert "added node de-1" in output
    assert "de-1: up" in output
    assert (node.health, node.panel_generation) == (NodeHealth.UP, generation)
    assert (node.country, node.weight, node.max_clients) == ("DE", 2, 10)
    assert node.inbound_cache["port"] == 443
    output += run("list") + run("check") + run("reconcile", "de-1")
    assert "0/10" in output
    assert "added 0, updated 0" in output
    assert PASSWORD not in output
    # Stored encrypted: the column holds a Fernet token, not the password.
    assert node.panel_password == PASSWORD
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT panel_password FROM nodes_node WHERE id = %s", [node.pk])
        stored = cursor.fetchone()[0]
    assert PASSWORD not in stored
    assert stored.startswith("gAAAA")


def test_add_refuses_without_credentials_and_unknown_names():
    with pytest.raises(CommandError, match="username and password, or an API token"):
        run("add", "--name", "x", "--url", "http://127.0.0.1:1/", "--inbound-id", "1")
    with pytest.raises(CommandError, match="unknown node"):
        run("check", "nope")


def test_down_panel_is_reported_not_raised(sim_factory):
    sim = sim_factory(**FLAVOURS["v3"])
    run(
        "add", "--name", "gone", "--url", sim.url, "--username", USERNAME,
        "--password", PASSWORD, "--inbound-id", "1", "--no-check",
    )  # fmt: skip
    sim.set_down()
    assert "gone: unknown (GET csrf-token: connection failed" in run("check")
    assert "failed" in run("reconcile", "gone")
