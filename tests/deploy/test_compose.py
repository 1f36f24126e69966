"""No Docker engine runs here, so the compose file and Dockerfile are kept honest by reading them:
every service's command must exist in this project, and every variable must be documented.
"""

import importlib
import re
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "worker", "beat", "bot"]


def env_example_names() -> dict[str, str]:
    """Variable name -> the comment line right above it in .env.example."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    names = {}
    for i, line in enumerate(lines):
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        if match:
            names[match[1]] = lines[i - 1] if i else ""
    return names


def test_all_services_present():
    assert {"postgres", "redis", *APP_SERVICES} <= set(SERVICES)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_use_the_image_and_env_file(name):
    service = SERVICES[name]
    assert service["build"] == "."
    assert service["env_file"] == ".env"


@pytest.mark.parametrize("name", ["web", "worker", "beat", "bot"])
def test_long_running_services_restart_and_wait_for_migrations(name):
    service = SERVICES[name]
    assert service["restart"] == "unless-stopped"
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["postgres", "redis", "web", "worker"])
def test_healthchecks(name):
    assert SERVICES[name]["healthcheck"]["test"]


def test_named_volumes_are_declared():
    declared = set(COMPOSE["volumes"])
    used = {
        volume.split(":")[0]
        for service in SERVICES.values()
        for volume in service.get("volumes", [])
        if not volume.startswith((".", "/"))
    }
    assert used
    assert used <= declared


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_command_exists_in_the_project(name):
    command = SERVICES[name]["command"]
    program = command[0]
    if program == "python":
        assert command[1] == "manage.py"
        assert command[2] in get_commands(), f"{name}: no management command {command[2]}"
    elif program == "celery":
        assert command[1:3] == ["-A", "vpnsite"]
        app = importlib.import_module("vpnsite.celery").app
        assert app.main == "vpnsite"
        assert command[3] in {"worker", "beat"}
    elif program == "gunicorn":
        module, attr = "vpnsite.wsgi", "application"
        assert command[1] == module
        assert callable(getattr(importlib.import_module(module), attr))
        config = command[command.index("--config") + 1]
        assert (ROOT / config).is_file()
        importlib.import_module("gunicorn")
    else:
        pytest.fail(f"{name}: unexpected program {program}")


def test_compose_variables_are_documented():
    text = (ROOT / "docker-compose.yml").read_text()
    referenced = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    missing = referenced - set(env_example_names()) - {"WEB_PORT"}
    assert not missing


def test_every_setting_read_from_the_environment_is_in_env_example():
    pattern = re.compile(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""")
    read = set()
    for path in [*(ROOT / "vpnsite").rglob("*.py"), ROOT / "gunicorn.conf.py"]:
        read |= set(pattern.findall(path.read_text()))
        read |= set(re.findall(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]*)""", path.read_text()))
    documented = env_example_names()
    internal = {"GUNICORN_BIND", "GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_FORWARDED_ALLOW_IPS"}
    missing = read - set(documented) - internal
    assert not missing
    for name in read & set(documented):
        assert documented[name].startswith("#"), f"{name} has no comment above it"


def test_design_contract_variables_are_in_env_example():
    design_vars = {
        "DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS",
        "PUBLIC_BASE_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "TELEGRAM_ADMIN_CHAT_IDS",
        "ROBOKASSA_LOGIN", "ROBOKASSA_PASSWORD1", "ROBOKASSA_PASSWORD2", "ROBOKASSA_HASH",
        "ROBOKASSA_TEST_MODE", "FREEKASSA_MERCHANT_ID", "FREEKASSA_SECRET1", "FREEKASSA_SECRET2",
        "FREEKASSA_CHECK_IP", "TRUSTED_PROXY_IPS", "NODE_SECRET_KEY",
    }  # fmt: skip
    assert design_vars <= set(env_example_names())


def test_dockerfile_is_slim_non_root_and_collects_static():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile, re.M)
    assert re.search(r"^USER app$", dockerfile, re.M)
    assert "collectstatic --noinput" in dockerfile
    assert "gunicorn" in dockerfile
    assert (ROOT / ".dockerignore").read_text().count(".env")


def _seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)s", value)
    assert match, value
    return int(match[1])


@pytest.mark.parametrize("name", list(SERVICES))
def test_every_service_has_a_memory_limit(name):
    limit = SERVICES[name]["deploy"]["resources"]["limits"]["memory"]
    assert re.fullmatch(r"\d+[MG]", limit)


@pytest.mark.parametrize("name", ["web", "worker", "beat", "bot"])
def test_metrics_folder_is_on_the_volume_every_app_service_shares(name):
    service = SERVICES[name]
    folder = service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    mounts = [volume.split(":") for volume in service["volumes"]]
    assert any(source == "app-var" and folder.startswith(f"{target}/") for source, target in mounts)


def test_graceful_shutdown_periods():
    config = importlib.import_module("gunicorn_conf_for_test")
    assert _seconds(SERVICES["web"]["stop_grace_period"]) > config.graceful_timeout
    assert _seconds(SERVICES["worker"]["stop_grace_period"]) >= 60
    assert "stop_grace_period" in SERVICES["bot"]


def test_the_broker_never_evicts_tasks():
    command = SERVICES["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_gunicorn_config_hooks_and_logging():
    config = importlib.import_module("gunicorn_conf_for_test")
    assert callable(config.on_starting)
    assert callable(config.child_exit)
    assert config.accesslog is None  # Django logs each request itself, without the raw path
    handler = config.logconfig_dict["handlers"]["console"]
    assert handler["filters"] == ["context", "redact"]
    assert handler["formatter"] in config.logconfig_dict["formatters"]


@pytest.fixture(autouse=True, scope="module")
def _gunicorn_conf_importable():
    """gunicorn.conf.py is not a valid module name: load it under another one."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "gunicorn_conf_for_test", ROOT / "gunicorn.conf.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["gunicorn_conf_for_test"] = module
    yield
    sys.modules.pop("gunicorn_conf_for_test", None)


def test_gunicorn_builds_no_access_line_while_the_access_logger_is_off():
    import logging
    from unittest import mock

    from gunicorn import glogging

    config = importlib.import_module("gunicorn_conf_for_test")
    assert config.logger_class is config._Logger
    # The project's own logging keeps the access logger above INFO: the skip applies.
    access = config.logconfig_dict["loggers"]["gunicorn.access"]["level"]
    assert logging.getLevelName(access) > logging.INFO
    logger = config._Logger.__new__(config._Logger)  # no cfg needed for access()
    logger.access_log = logging.getLogger("vpnsite.test.gunicorn.access")
    logger.access_log.setLevel(logging.WARNING)
    with mock.patch.object(glogging.Logger, "access") as parent:
        logger.access(None, None, {}, None)
        parent.assert_not_called()
        logger.access_log.setLevel(logging.INFO)
        logger.access(None, None, {}, None)
        parent.assert_called_once()
