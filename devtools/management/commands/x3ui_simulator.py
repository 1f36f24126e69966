"""``manage.py x3ui_simulator``: run a local 3x-ui stand-in of one release (docs/x3ui.md).

A thin interface: parse flags, build ``X3UISimulator``, serve until
Ctrl-C or SIGTERM. Faults and state are driven over ``/__sim__/`` from other processes.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.x3ui_simulator import DEFAULT_SESSION_MAX_AGE, VERSIONS, X3UISimulator


def simulator_from_options(options: dict[str, Any]) -> X3UISimulator:
    """Map parsed command options to a (not yet started) simulator; contradictory flags raise
    ``ValueError`` (``resolve_version``)."""
    return X3UISimulator(
        version=options.get("version"),
        generation=options["generation"],
        host=options["host"],
        port=options["port"],
        username=options["username"],
        password=options["password"],
        base_path=options["base_path"],
        inbound_id=options["inbound_id"],
        inbound_port=options["inbound_port"],
        api_tokens=options["api_token"] or (),
        csrf=False if options["no_csrf"] else None,
        bulk_create=False if options["no_bulk_create"] else None,
        session_max_age=options["session_max_age"],
        lang=options["lang"],
        state_file=options["state"],
    )


class Command(BaseCommand):
    help = (
        "Run a local 3x-ui panel simulator reproducing one release "
        f"({', '.join(VERSIONS)}). "
        "Control it over HTTP at /__sim__/state and /__sim__/faults."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # Django's own --version (print Django's version) gives way to the panel release.
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=2053, help="0 picks a free port")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--version",
            dest="version",
            choices=list(VERSIONS),
            default=None,
            help="the 3x-ui release to reproduce (overrides the --generation shorthand)",
        )
        parser.add_argument(
            "--generation",
            choices=["legacy", "v3"],
            default=None,
            help="shorthand: legacy = 3.0.2, v3 = 3.6.0 (default v3)",
        )
        parser.add_argument(
            "--no-csrf",
            action="store_true",
            help="with --generation legacy: v2.8.3 (no CSRF, no API tokens, 307/401 answers)",
        )
        parser.add_argument(
            "--no-bulk-create",
            action="store_true",
            help="with --generation v3: v3.1.0 (no /panel/api/clients/bulkCreate)",
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
        try:
            sim = simulator_from_options(options)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        sim.start()
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
        self.stdout.write(
            f"3x-ui simulator (v{sim.version}, {sim.generation} API) at {sim.url} "
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
