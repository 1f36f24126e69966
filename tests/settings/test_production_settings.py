"""Production settings refuse to start without their secrets, and pass `check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SAMPLE_ENV = {
    "DJANGO_SETTINGS_MODULE": "vpnsite.settings.production",
    "DJANGO_SECRET_KEY": "x7#kq2!vN9zR4mW8pL1tY6uB3cE5gH0jS-aD_fG+hJ=kL@zX%cV^bN&mQ*wE(rT)y",
    "DJANGO_ALLOWED_HOSTS": "vpn.example.com",
    "DATABASE_URL": "postgres://vpnsite:secret@127.0.0.1:5432/vpnsite",
    "PUBLIC_BASE_URL": "https://vpn.example.com",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "true",
    "TRUSTED_PROXY_IPS": "172.16.0.0/12",
}


def run(args, env_overrides, drop=()):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_")) and k != "TRUSTED_PROXY_IPS"
    }
    env.update(SAMPLE_ENV)
    env.update(env_overrides)
    for name in drop:
        env.pop(name, None)
    env["VPNSITE_VAR_DIR"] = env.get("VPNSITE_VAR_DIR", str(ROOT / "var"))
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


SETUP = ["-c", "import django; django.setup(); print('started')"]


@pytest.mark.parametrize(
    ("drop", "overrides", "expected"),
    [
        (["DJANGO_SECRET_KEY"], {}, "DJANGO_SECRET_KEY must be set"),
        ([], {"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY must be a random string"),
        (["DJANGO_ALLOWED_HOSTS"], {}, "DJANGO_ALLOWED_HOSTS must be set"),
        (["DATABASE_URL"], {}, "DATABASE_URL must point at PostgreSQL"),
        ([], {"DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "needs a real database"),
    ],
)
def test_production_refuses_to_start_without_secrets(drop, overrides, expected):
    result = run(SETUP, overrides, drop)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert expected in result.stderr
    assert "started" not in result.stdout


def test_production_starts_with_a_complete_environment():
    result = run(SETUP, {})
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_check_deploy_is_clean_with_a_sample_environment():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://vpnsite:secret@127.0.0.1:5432/vpnsite", "10"),
        ("postgres://vpnsite:secret@127.0.0.1:5432/vpnsite?connect_timeout=3", "3"),
    ],
)
def test_postgresql_connections_give_up_on_an_unreachable_host(url, expected):
    """A bounded connect: 10 s unless DATABASE_URL says otherwise."""
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS']['connect_timeout'])"
    )
    result = run(["-c", script], {"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


@pytest.mark.parametrize(
    ("url", "overrides", "expected"),
    [
        ("postgres://vpnsite:secret@127.0.0.1:5432/vpnsite", {}, "-c jit=off"),
        ("postgres://vpnsite:secret@127.0.0.1:5432/vpnsite", {"DATABASE_JIT": "true"}, "None"),
        (
            "postgres://vpnsite:secret@127.0.0.1:5432/vpnsite?options=-c%20work_mem%3D64MB",
            {},
            "-c work_mem=64MB",
        ),
    ],
)
def test_postgresql_connections_turn_jit_off(url, overrides, expected):
    """JIT off for the project's connections (bench/README.md, the analytics page), unless
    DATABASE_JIT=true or DATABASE_URL gives its own `options`."""
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS'].get('options'))"
    )
    result = run(["-c", script], {"DATABASE_URL": url, **overrides})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected
