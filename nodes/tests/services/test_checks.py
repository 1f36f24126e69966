"""Every health check leaves one NodeCheck row (ok or failed), and the hourly prune keeps
exactly NODE_CHECK_RETENTION_DAYS of them."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from nodes.models import NodeCheck, NodeHealth
from nodes.services import checks as checks_service
from nodes.services.checks import node_checks_prune
from nodes.services.health import node_health_check
from nodes.tasks import node_checks_prune_task
from nodes.tests.conftest import node_for
from nodes.tests.factories import NodeCheckFactory, NodeFactory

pytestmark = pytest.mark.django_db


def test_a_successful_check_writes_one_ok_row_with_its_latency(sim_factory):
    sim = sim_factory()
    node = node_for(sim)  # checked once
    node_health_check(node=node)
    rows = list(NodeCheck.objects.filter(node=node).order_by("checked_at"))
    assert len(rows) == 2
    node.refresh_from_db()
    last = rows[-1]
    assert last.ok is True
    assert last.error == ""
    assert last.latency_ms == node.latency_ms
    assert last.checked_at == node.last_check_at


def test_a_failed_check_writes_one_failed_row_with_the_error(sim_factory):
    sim = sim_factory()
    node = node_for(sim)
    sim.set_down()
    now = timezone.now()
    assert node_health_check(node=node, now=now) == NodeHealth.DEGRADED
    node.refresh_from_db()
    row = NodeCheck.objects.filter(node=node).order_by("-checked_at").first()
    assert (row.ok, row.latency_ms, row.checked_at) == (False, None, now)
    assert row.error
    assert node.last_error.startswith(row.error)
    assert NodeCheck.objects.filter(node=node).count() == 2


def test_a_long_error_is_cut_to_the_column():
    node = NodeFactory()  # port 1 refuses
    node_health_check(node=node)
    checks_service.node_check_record(
        node=node, checked_at=timezone.now(), ok=False, latency_ms=None, error="x" * 1000
    )
    assert NodeCheck.objects.filter(node=node, ok=False).count() == 2
    assert max(len(row.error) for row in NodeCheck.objects.all()) == 300


def test_prune_keeps_exactly_the_retention_window(settings):
    settings.NODE_CHECK_RETENTION_DAYS = 14
    now = timezone.now()
    cutoff = now - timedelta(days=14)
    node, other = NodeFactory(), NodeFactory()
    gone = [
        NodeCheckFactory(node=node, checked_at=cutoff - timedelta(microseconds=1)),
        NodeCheckFactory(node=other, checked_at=cutoff - timedelta(days=30)),
    ]
    kept = [
        NodeCheckFactory(node=node, checked_at=cutoff),
        NodeCheckFactory(node=node, checked_at=cutoff + timedelta(seconds=1)),
        NodeCheckFactory(node=other, checked_at=now, ok=False),
    ]
    assert node_checks_prune(now=now) == len(gone)
    assert set(NodeCheck.objects.values_list("pk", flat=True)) == {row.pk for row in kept}


def test_prune_deletes_in_batches_until_done(settings, monkeypatch):
    monkeypatch.setattr(checks_service, "PRUNE_BATCH", 3)
    now = timezone.now()
    node = NodeFactory()
    old = now - timedelta(days=django_settings.NODE_CHECK_RETENTION_DAYS, hours=1)
    for i in range(8):
        NodeCheckFactory(node=node, checked_at=old - timedelta(minutes=i))
    NodeCheckFactory(node=node, checked_at=now)
    assert node_checks_prune(now=now) == 8
    assert NodeCheck.objects.count() == 1


def test_the_beat_prunes_hourly_through_the_task(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["nodes-checks-prune"]
    assert schedule["task"] == "nodes.tasks.node_checks_prune_task"
    assert str(schedule["schedule"].minute) == "{17}"
    NodeCheckFactory(checked_at=timezone.now() - timedelta(days=60))
    NodeCheckFactory()
    assert node_checks_prune_task() == 1
    assert NodeCheck.objects.count() == 1
