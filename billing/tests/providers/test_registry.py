"""provider_get / providers_enabled over settings.BILLING_PROVIDERS (no database)."""

import importlib.util
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from billing.exceptions import PaymentError, ProviderNotConfiguredError
from billing.providers import provider_get, providers_enabled
from billing.providers.freekassa import FreeKassaProvider
from billing.providers.robokassa import RobokassaProvider

ROBOKASSA = (
    "billing.providers.robokassa.RobokassaProvider",
    {"login": "demo-shop", "password1": "p1-secret", "password2": "p2-secret"},
)
FREEKASSA = (
    "billing.providers.freekassa.FreeKassaProvider",
    {"merchant_id": "12345", "secret1": "s1", "secret2": "s2"},
)
PAYMENTS_SETTINGS = (
    Path(settings.BASE_DIR) / "vpnsite" / "settings" / "integrations" / "payments.py"
)
PAYMENT_ENV = (
    "ROBOKASSA_LOGIN",
    "ROBOKASSA_PASSWORD1",
    "ROBOKASSA_PASSWORD2",
    "ROBOKASSA_HASH",
    "ROBOKASSA_TEST_MODE",
    "FREEKASSA_MERCHANT_ID",
    "FREEKASSA_SECRET1",
    "FREEKASSA_SECRET2",
    "YOOKASSA_SHOP_ID",
    "YOOKASSA_SECRET_KEY",
    "YOOKASSA_RETURN_URL",
    "YOOKASSA_TIMEOUT",
    "PUBLIC_BASE_URL",
    "FREEKASSA_CHECK_IP",
    "TELEGRAM_STARS_ENABLED",
)


@pytest.fixture(autouse=True)
def _fresh_cache():
    provider_get.cache_clear()
    yield
    provider_get.cache_clear()


@override_settings(BILLING_PROVIDERS={})
def test_nothing_configured():
    assert providers_enabled() == []
    with pytest.raises(ProviderNotConfiguredError) as excinfo:
        provider_get("robokassa")
    assert excinfo.value.reason == "provider_not_configured"
    assert isinstance(excinfo.value, PaymentError)


@override_settings(BILLING_PROVIDERS={"robokassa": ROBOKASSA, "freekassa": FREEKASSA})
def test_configured_providers_are_built_and_cached():
    assert providers_enabled() == ["robokassa", "freekassa"]
    robokassa = provider_get("robokassa")
    assert isinstance(robokassa, RobokassaProvider)
    assert provider_get("robokassa") is robokassa
    assert isinstance(provider_get("freekassa"), FreeKassaProvider)
    with pytest.raises(ProviderNotConfiguredError):
        provider_get("paypal")


def test_override_settings_resets_the_cache():
    with override_settings(BILLING_PROVIDERS={"robokassa": ROBOKASSA}):
        first = provider_get("robokassa")
        assert first.hash_algorithm == "md5"
    sha = (ROBOKASSA[0], {**ROBOKASSA[1], "hash_algorithm": "sha256"})
    with override_settings(BILLING_PROVIDERS={"robokassa": sha}):
        second = provider_get("robokassa")
        assert second is not first
        assert second.hash_algorithm == "sha256"
    with override_settings(BILLING_PROVIDERS={}), pytest.raises(ProviderNotConfiguredError):
        provider_get("robokassa")


@pytest.mark.parametrize(
    "entry",
    [
        "billing.providers.robokassa.RobokassaProvider",  # no kwargs
        ("billing.providers.robokassa.RobokassaProvider",),
        ("billing.providers.nope.NopeProvider", {}),
        ("billing.exceptions.PaymentError", {}),  # not a PaymentProvider
        (ROBOKASSA[0], {**ROBOKASSA[1], "unknown": 1}),
        (ROBOKASSA[0], {**ROBOKASSA[1], "hash_algorithm": "sha1"}),
        (ROBOKASSA[0], {**ROBOKASSA[1], "password2": ""}),
    ],
)
def test_malformed_entries_are_configuration_errors(entry):
    with override_settings(BILLING_PROVIDERS={"robokassa": entry}):
        with pytest.raises(ImproperlyConfigured) as excinfo:
            provider_get("robokassa")
        assert "p1-secret" not in str(excinfo.value)


def load_payments_settings(monkeypatch, **env):
    """Execute the real settings module afresh under a controlled environment."""
    for name in PAYMENT_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("_payments_settings_copy", PAYMENTS_SETTINGS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BILLING_PROVIDERS


ROBOKASSA_ENV = {
    "ROBOKASSA_LOGIN": "demo-shop",
    "ROBOKASSA_PASSWORD1": "p1-secret",
    "ROBOKASSA_PASSWORD2": "p2-secret",
}
NO_STARS = {"TELEGRAM_STARS_ENABLED": "false"}
FREEKASSA_ENV = {
    "FREEKASSA_MERCHANT_ID": "12345",
    "FREEKASSA_SECRET1": "s1",
    "FREEKASSA_SECRET2": "s2",
}

YOOKASSA_ENV = {"YOOKASSA_SHOP_ID": "100500", "YOOKASSA_SECRET_KEY": "test_secret"}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (NO_STARS, []),
        ({**NO_STARS, **ROBOKASSA_ENV}, ["robokassa"]),
        ({**NO_STARS, **FREEKASSA_ENV}, ["freekassa"]),
        ({**NO_STARS, **ROBOKASSA_ENV, **FREEKASSA_ENV}, ["robokassa", "freekassa"]),
        ({**NO_STARS, **ROBOKASSA_ENV, "ROBOKASSA_PASSWORD2": ""}, []),
        ({**NO_STARS, **FREEKASSA_ENV, "FREEKASSA_SECRET2": ""}, []),
        # Telegram Stars need no credentials: on unless switched off.
        ({}, ["stars"]),
        (ROBOKASSA_ENV, ["robokassa", "stars"]),
        ({**NO_STARS, **YOOKASSA_ENV}, ["yookassa"]),
        ({**NO_STARS, **YOOKASSA_ENV, "YOOKASSA_SECRET_KEY": ""}, []),
        ({**NO_STARS, **ROBOKASSA_ENV, **YOOKASSA_ENV}, ["robokassa", "yookassa"]),
    ],
)
def test_provider_enabled_only_when_credentials_configured(monkeypatch, env, expected):
    registry = load_payments_settings(monkeypatch, **env)
    with override_settings(BILLING_PROVIDERS=registry):
        assert providers_enabled() == expected
        for code in expected:  # the settings' kwargs fit the provider constructors
            assert provider_get(code).code == code


def test_settings_options_reach_the_providers(monkeypatch):
    registry = load_payments_settings(
        monkeypatch,
        **ROBOKASSA_ENV,
        **FREEKASSA_ENV,
        ROBOKASSA_HASH="SHA512",
        ROBOKASSA_TEST_MODE="true",
        FREEKASSA_CHECK_IP="false",
    )
    with override_settings(BILLING_PROVIDERS=registry):
        robokassa, freekassa = provider_get("robokassa"), provider_get("freekassa")
    assert (robokassa.hash_algorithm, robokassa.test_mode) == ("sha512", True)
    assert freekassa.check_ip is False


def test_freekassa_ip_check_is_on_by_default(monkeypatch):
    registry = load_payments_settings(monkeypatch, **FREEKASSA_ENV)
    with override_settings(BILLING_PROVIDERS=registry):
        assert provider_get("freekassa").check_ip is True


def test_yookassa_return_url_defaults_to_our_success_page(monkeypatch):
    registry = load_payments_settings(
        monkeypatch, **YOOKASSA_ENV, PUBLIC_BASE_URL="https://vpn.example/", YOOKASSA_TIMEOUT="3"
    )
    with override_settings(BILLING_PROVIDERS=registry):
        yookassa = provider_get("yookassa")
    assert yookassa.return_url == "https://vpn.example/pay/success/"
    assert yookassa.client.timeout == (3.0, 3.0)
    assert "test_secret" not in repr(yookassa) + repr(yookassa.client)
