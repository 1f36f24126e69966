"""The app warns at start when a proxy is in front and no trusted proxy is configured
every client would have the proxy's address and the per-address abuse limits
would block everyone at once."""

import pytest
from django.core.checks import WARNING, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from core.checks import PROXY_WITHOUT_TRUSTED_PROXY, TRUSTED_PROXY_INVALID
from tests.deploy.test_compose import ROOT
from tests.settings.test_production_settings import SAMPLE_ENV, run

PROXY_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def _proxy_warnings():
    return [m for m in run_checks() if m.id == PROXY_WITHOUT_TRUSTED_PROXY]


def test_proxy_header_without_trusted_proxy_warns_at_start(settings):
    settings.SECURE_PROXY_SSL_HEADER = PROXY_HEADER
    settings.TRUSTED_PROXY_IPS = []
    (warning,) = _proxy_warnings()
    assert warning.level == WARNING
    assert "TRUSTED_PROXY_IPS" in warning.msg
    with pytest.raises(SystemCheckError, match=PROXY_WITHOUT_TRUSTED_PROXY):
        call_command("check", "--fail-level", "WARNING")


def test_proxy_header_with_a_trusted_proxy_or_no_proxy_is_quiet(settings):
    settings.SECURE_PROXY_SSL_HEADER = PROXY_HEADER
    settings.TRUSTED_PROXY_IPS = ["172.16.0.0/12"]
    assert _proxy_warnings() == []
    settings.SECURE_PROXY_SSL_HEADER = None
    settings.TRUSTED_PROXY_IPS = []
    assert _proxy_warnings() == []


def test_a_trusted_proxy_entry_that_is_no_address_fails_at_start(settings):
    settings.TRUSTED_PROXY_IPS = ["172.16.0.0/12", "proxy.local"]
    (error,) = [m for m in run_checks() if m.id == TRUSTED_PROXY_INVALID]
    assert "'proxy.local'" in error.msg
    settings.TRUSTED_PROXY_IPS = ["172.16.0.0/12", "10.0.0.5"]
    assert [m for m in run_checks() if m.id == TRUSTED_PROXY_INVALID] == []


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and value:
            values[name] = value
    return values


def test_the_example_environment_names_the_proxy_it_turns_on():
    """.env.example as shipped (secret key added): production starts without the warning."""
    example = _env_example()
    assert example["DJANGO_SECURE_PROXY_SSL_HEADER"] == "true"
    assert example["TRUSTED_PROXY_IPS"]
    environment = {**example, "DJANGO_SECRET_KEY": SAMPLE_ENV["DJANGO_SECRET_KEY"]}
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert PROXY_WITHOUT_TRUSTED_PROXY not in result.stdout + result.stderr
    # The same environment without the trusted proxy warns, loudly.
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        {**environment, "TRUSTED_PROXY_IPS": ""},
    )
    assert result.returncode != 0
    assert PROXY_WITHOUT_TRUSTED_PROXY in result.stdout + result.stderr
