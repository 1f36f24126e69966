"""Node management from the shell: add, list, check, reconcile. Credentials are never printed."""

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ApplicationError
from nodes.models import Node
from nodes.services.health import node_health_check
from nodes.services.nodes import node_create
from nodes.services.reconcile import node_reconcile
from nodes.x3ui import X3UIError


class Command(BaseCommand):
    help = "Manage 3x-ui nodes: add | list | check | reconcile"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add a node (then check it)")
        add.add_argument("--name", required=True)
        add.add_argument("--url", required=True, help="panel URL including webBasePath")
        add.add_argument("--username", default="")
        add.add_argument("--password", default="")
        add.add_argument("--token", default="", help="Bearer API token instead of a password")
        add.add_argument("--inbound-id", type=int, required=True)
        add.add_argument("--host", default="", help="public host in links (default: panel host)")
        add.add_argument("--port", type=int, default=None, help="public port (default: inbound)")
        add.add_argument("--weight", type=int, default=1)
        add.add_argument("--max-clients", type=int, default=0, help="0 = unlimited")
        add.add_argument("--country", default="", help="ISO 3166 code, e.g. DE")
        add.add_argument("--location", default="")
        add.add_argument("--no-check", action="store_true", help="do not contact the panel")
        add.add_argument(
            "--force", action="store_true", help="add the node even if its panel check fails"
        )
        sub.add_parser("list", help="list nodes with health and load")
        for name in ("check", "reconcile"):
            p = sub.add_parser(name, help=f"{name} one node or all")
            p.add_argument("names", nargs="*", help="node names (default: every enabled node)")

    def handle(self, *args, action: str, **options):
        getattr(self, f"_{action}")(**options)

    def _nodes(self, names: list[str]) -> list[Node]:
        if not names:
            return list(Node.objects.filter(is_enabled=True))
        nodes = list(Node.objects.filter(name__in=names))
        missing = set(names) - {n.name for n in nodes}
        if missing:
            raise CommandError(f"unknown node(s): {', '.join(sorted(missing))}")
        return nodes

    def _add(self, **o):
        try:
            node = node_create(
                name=o["name"],
                panel_url=o["url"],
                inbound_id=o["inbound_id"],
                username=o["username"],
                password=o["password"],
                api_token=o["token"],
                public_host=o["host"],
                public_port=o["port"],
                weight=o["weight"],
                max_clients=o["max_clients"],
                country=o["country"],
                location=o["location"],
                check=not o["no_check"],
                force=o["force"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        except Exception as exc:  # noqa: BLE001 - validation errors of any kind, shown plainly
            raise CommandError(f"cannot add node: {exc}") from None
        self.stdout.write(self.style.SUCCESS(f"added node {node.name} (id {node.pk})"))
        if not o["no_check"]:
            self._check(names=[node.name])

    def _list(self, **o):
        from nodes.selectors import nodes_with_load

        rows = nodes_with_load(nodes=Node.objects.all()).order_by("name")
        self.stdout.write(f"{'name':<20} {'health':<9} {'keys':>11} {'latency':>8}  generation")
        for node in rows:
            capacity = node.max_clients or "∞"
            latency = f"{node.latency_ms}ms" if node.latency_ms is not None else "-"
            flag = "" if node.is_enabled else " (disabled)"
            self.stdout.write(
                f"{node.name:<20} {node.health:<9} {node.load:>5}/{capacity!s:<5} "
                f"{latency:>8}  {node.panel_generation}{flag}"
            )

    def _check(self, names, **o):
        for node in self._nodes(names):
            health = node_health_check(node=node)
            node.refresh_from_db()
            detail = f"{node.latency_ms} ms" if not node.last_error else node.last_error
            style = self.style.SUCCESS if health == "up" else self.style.WARNING
            self.stdout.write(style(f"{node.name}: {health} ({detail})"))

    def _reconcile(self, names, **o):
        for node in self._nodes(names):
            try:
                result = node_reconcile(node=node)
            except X3UIError as exc:
                self.stdout.write(self.style.ERROR(f"{node.name}: failed: {exc}"))
                continue
            details = ", ".join(f"{k} {v}" for k, v in result.items() if k not in {"ok", "at"})
            style = self.style.SUCCESS if result["ok"] else self.style.WARNING
            self.stdout.write(style(f"{node.name}: {details}"))
