"""``manage.py x3ui_simulator``: run a local 3x-ui stand-in (DESIGN.md §5 "Commands").

A thin interface (style.md §8 rule 2): parse flags, build ``X3UISimulator``, serve until
Ctrl-C or SIGTERM. Faults and state are driven over ``/__sim__/`` from other processes.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from nodes.x3ui.simulator import DEFAULT_SESSION_MAX_AGE, X3UISimulator


def simulator_from_options(options: dict[str, Any]) -> X3UISimulator:
    """Map parsed command options to a (not yet started) simulator."""
    return X3UISimulator(
        generation=options["generation"],
        host=options["host"],
        port=options["port"],
        username=options["username"],
        password=options["password"],
        base_path=options["base_path"],
        inbound_id=options["inbound_id"],
        inbound_port=options["inbound_port"],
        api_tokens=options["api_token"] or (),
        csrf=not options["no_csrf"],
        bulk_create=not options["no_bulk_create"],
        session_max_age=options["session_max_age"],
        lang=options["lang"],
        state_file=options["state"],
    )


class Command(BaseCommand):
    help = (
        "Run a local 3x-ui panel simulator (legacy <= v3.0.2 or v3.1+ client API). "
        "Control it over HTTP at /__sim__/state and /__sim__/faults."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=2053, help="0 picks a free port")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--generation", choices=["legacy", "v3"], default="v3")
        parser.add_argument(
            "--no-csrf",
            action="store_true",
            help="legacy only: behave like v2.8.3 (no CSRF, no API tokens, 307/401 answers)",
        )
        parser.add_argument(
            "--no-bulk-create",
            action="store_true",
            help="v3 only: behave like v3.1.x without /panel/api/clients/bulkCreate",
        )
        parser.add_argument("--state", default=None, help="JSON file that persists panel state")
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="admin")
        parser.add_argument("--base-path", default="/", help="webBasePath, e.g. /Abc123/")
        parser.add_argument("--inbound-id", type=int, default=1)
        parser.add_argument("--inbound-port", type=int, default=443)
        parser.add_argument(
            "--api-token", action="append", default=[], help="accepted Bearer token (repeatable)"
        )
        parser.add_argument(
            "--session-max-age",
            type=int,
            default=DEFAULT_SESSION_MAX_AGE,
            help="session cookie lifetime in seconds",
        )
        parser.add_argument("--lang", default="en", help="message language: en or ru")
        parser.add_argument(
            "--exit-after", type=float, default=None, help="stop after N seconds (smoke tests)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["no_csrf"] and options["generation"] != "legacy":
            self.stderr.write("--no-csrf only applies to --generation legacy")
            raise SystemExit(2)
        sim = simulator_from_options(options).start()
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
        self.stdout.write(
            f"3x-ui simulator ({sim.generation}, like v{sim.version}) at {sim.url} "
            f"- control: {sim.root_url}/__sim__/state"
        )
        self.stdout.flush()
        try:
            stop.wait(options["exit_after"])
        except KeyboardInterrupt:
            pass
        finally:
            sim.stop()
            self.stdout.write("3x-ui simulator stopped")
