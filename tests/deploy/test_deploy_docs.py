"""docs/deploy.md stays true to the compose file and .env.example: every service it
runs a command against exists, every variable it names is documented, the proxy examples it
points to exist and set the forwarding headers the settings rely on."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_compose import env_example_names

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "deploy.md").read_text()
SERVICES = set(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])
# `docker compose <sub>` whose first plain argument is one service, or whose plain arguments
# are all services.
ONE_SERVICE = {"exec", "run"}
SERVICE_LIST = {"up", "logs", "restart", "stop", "start", "ps", "pull", "build", "down", "rm"}


def compose_commands() -> list[list[str]]:
    commands = []
    for match in re.finditer(r"docker compose ([^\n`|&;#]+)", DOC):
        text = match[1].replace("\\", " ")
        try:
            commands.append(shlex.split(text))
        except ValueError:
            commands.append(text.split())
    return commands


def services_named() -> set[str]:
    named = set()
    for words in compose_commands():
        sub, args = words[0], [w for w in words[1:] if not w.startswith("-")]
        if sub in ONE_SERVICE and args:
            named.add(args[0])
        elif sub in SERVICE_LIST:
            named.update(args)
        elif sub == "cp":
            named.update(arg.split(":")[0] for arg in args if ":" in arg)
        else:
            assert sub in {"config", "version"}, f"unexpected: docker compose {' '.join(words)}"
    named.update(re.findall(r"http://([a-z][a-z0-9-]*):\d+", DOC))
    return named


def test_the_walkthrough_is_complete():
    for needed in [
        "cp .env.example .env",
        "docker compose up -d",
        "createsuperuser",
        "node add",
        "/api/payments/robokassa/result/",
        "/api/payments/freekassa/notify/",
        "/pay/success/",
        "deploy/Caddyfile",
        "deploy/nginx.conf",
        "DJANGO_SECURE_PROXY_SSL_HEADER=true",
        "git pull",
        "/metrics",
        "pg_restore",
    ]:
        assert needed in DOC, needed
    headings = re.findall(r"^#+ (.+)$", DOC, re.M)
    for word in ["Deploy", "Upgrade", "Logs", "Metrics", "Alerts", "Backups"]:
        assert any(word in heading for heading in headings), word


def test_only_services_of_the_compose_file():
    named = services_named()
    assert {"web", "postgres"} <= named  # the parser does find them
    assert named <= SERVICES, named - SERVICES


def test_only_documented_variables():
    documented = set(env_example_names())
    mentioned = set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b", DOC))
    mentioned |= set(re.findall(r"^([A-Z][A-Z0-9_]*)=", DOC, re.M))
    assert mentioned
    assert mentioned <= documented, mentioned - documented


@pytest.mark.parametrize(
    ("path", "needles"),
    [
        (
            "deploy/nginx.conf",
            ["proxy_set_header X-Forwarded-For", "proxy_set_header X-Forwarded-Proto", "8000"],
        ),
        ("deploy/Caddyfile", ["header_up X-Forwarded-Proto", "header_up X-Forwarded-For", "8000"]),
    ],
)
def test_proxy_examples_exist_and_forward_the_client(path, needles):
    text = (ROOT / path).read_text()
    for needle in needles:
        assert needle in text, needle
    assert "DJANGO_SECURE_PROXY_SSL_HEADER=true" in text


@pytest.mark.parametrize(
    ("path", "needles"),
    [
        (
            "deploy/nginx.conf",
            [
                "client_header_timeout 10s;",
                "client_body_timeout 10s;",
                "proxy_request_buffering on;",
                "client_max_body_size 2m;",
                "location /admin/ {\n        client_max_body_size 11m;",
            ],
        ),
        (
            "deploy/Caddyfile",
            [
                "read_header 10s",
                "read_body 10s",
                "request_buffers 2MB",
                "request_body @not_console {\n\t\tmax_size 2MB",
                "request_body @console {\n\t\tmax_size 11MB",
            ],
        ),
    ],
)
def test_proxy_examples_buffer_requests_and_time_out_slow_clients(path, needles):
    """Web workers survive slow clients: the proxy holds a whole request before
    gunicorn sees it, and cuts a client that takes too long to send it."""
    text = (ROOT / path).read_text()
    for needle in needles:
        assert needle in text, needle
    assert "WEB_READ_TIMEOUT" in text


def test_the_caddy_timeouts_are_global_options():
    """Caddy takes server timeouts only in the global options block, the file's first block."""
    text = (ROOT / "deploy/Caddyfile").read_text()
    code = [line for line in text.splitlines() if line.strip() and line.lstrip()[0] != "#"]
    assert code[:3] == ["{", "\tservers {", "\t\ttimeouts {"], code[:3]


def test_the_worker_read_deadline_is_configured_and_documented():
    conf = (ROOT / "gunicorn.conf.py").read_text()
    assert 'worker_class = "core.gunicorn_worker.DeadlineSyncWorker"' in conf
    assert 'os.environ.get("WEB_READ_TIMEOUT", "10")' in conf
    assert "WEB_READ_TIMEOUT" in DOC
