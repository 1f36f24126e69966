"""/api/v1/nodes/: list, detail with health, and reconcile through the nodes task
(``nodes.tasks.node_reconcile_task``, the one the beat runs)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api import examples
from api.apis.base import ApiViewMixin
from api.filters import NodeFilter
from api.permissions import OperatorsScope
from api.schema import ok, read_errors
from api.scopes import PERM_CHANGE_NODE, PERM_VIEW_NODE
from api.selectors import node_detail_queryset, node_key_states, nodes_list, nodes_load_set
from api.serializers import NodeDetailSerializer, NodeSerializer, ReconcileQueuedSerializer
from nodes.services.reconcile import node_reconcile_request


@extend_schema_view(
    list=extend_schema(
        summary="List nodes",
        description="The 3x-ui panels, by name, with health, latency, load (keys) and "
        "capacity. Panel URLs and credentials are never shown. Any scope.",
        examples=[examples.one("a node", examples.NODE)],
        responses={
            200: ok(NodeSerializer(many=True), "A page of nodes."),
            **read_errors(query=True),
        },
    ),
    retrieve=extend_schema(
        summary="One node, with its health",
        description="A node with its health checks, the last reconciliation's result and "
        "its keys per sync state. Any scope.",
        examples=[examples.one("a node", examples.NODE_DETAIL)],
        responses={200: ok(NodeDetailSerializer, "The node."), **read_errors(detail=True)},
    ),
)
class NodeViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    required_perms = (PERM_VIEW_NODE,)
    filterset_class = NodeFilter
    ordering_fields = ["id", "name", "health", "latency_ms", "weight"]
    ordering = ["name"]

    def get_queryset(self):
        return node_detail_queryset() if self.action == "retrieve" else nodes_list()

    def get_serializer_class(self):
        return NodeDetailSerializer if self.action == "retrieve" else NodeSerializer

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        nodes_load_set(nodes=page)
        return self.get_paginated_response(NodeSerializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        node = nodes_load_set(nodes=[self.get_object()])[0]
        serializer = NodeDetailSerializer(
            node,
            context={**self.get_serializer_context(), "key_states": node_key_states(node=node)},
        )
        return Response(serializer.data)

    @extend_schema(
        summary="Reconcile a node",
        description="Queues a reconciliation of the node's panel (one listing: missing keys "
        "added, drift corrected, removed keys deleted, traffic read), as the console's "
        "“Reconcile now” and the beat do. It runs in the background: read the node's "
        "last_reconcile_at and last_reconcile_result for the outcome. Audited under the "
        "token's owner. Scope: operators.",
        request=None,
        examples=[
            examples.one(
                "queued",
                {"node": 2, "queued": True, "detail": "Reconciliation of fra-1 queued."},
                status=202,
            )
        ],
        responses={202: ok(ReconcileQueuedSerializer, "Queued."), **read_errors(detail=True)},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[OperatorsScope],
        required_perms=(PERM_CHANGE_NODE,),
    )
    def reconcile(self, request, pk=None):
        node = self.get_object()
        node_reconcile_request(node=node, **self.audit_actor())
        return Response(
            {"node": node.pk, "queued": True, "detail": f"Reconciliation of {node.name} queued."},
            status=status.HTTP_202_ACCEPTED,
        )
