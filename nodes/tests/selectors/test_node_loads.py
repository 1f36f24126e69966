"""A node's load (its keys that are not removed) is one rule, whichever way it is read."""

import pytest

from nodes.models import Node, SyncState
from nodes.selectors import node_loads, nodes_with_load
from nodes.tests.factories import NodeClientFactory, NodeFactory

pytestmark = pytest.mark.django_db


def test_node_loads_agrees_with_the_annotation(django_assert_num_queries):
    busy, quiet, empty = NodeFactory(), NodeFactory(), NodeFactory()
    for state in (SyncState.SYNCED, SyncState.PENDING, SyncState.ERROR, SyncState.REMOVING):
        NodeClientFactory(node=busy, sync_state=state)
    NodeClientFactory(node=busy, sync_state=SyncState.REMOVED)
    NodeClientFactory(node=quiet, sync_state=SyncState.REMOVED)
    annotated = dict(nodes_with_load(nodes=Node.objects.all()).values_list("pk", "load"))
    with django_assert_num_queries(1):
        loads = node_loads(node_ids=[busy.pk, quiet.pk, empty.pk])
    assert loads == annotated == {busy.pk: 4, quiet.pk: 0, empty.pk: 0}
