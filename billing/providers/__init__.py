"""Provider registry: ``settings.BILLING_PROVIDERS`` -> configured provider instances.

``BILLING_PROVIDERS = {"robokassa": ("billing.providers.robokassa.RobokassaProvider", {...})}``
is built in ``vpnsite/settings/integrations/payments.py``; a provider appears there only when
its credentials are set, so "enabled" simply means "present in the dict" (django-payments'
``PAYMENT_VARIANTS`` + ``provider_factory``).

Instances are cached (they are immutable and cheap, but import + validation per request is
wasteful). The cache is dropped whenever ``BILLING_PROVIDERS`` changes through Django's
``setting_changed`` signal, so ``override_settings(BILLING_PROVIDERS=...)`` just works in tests.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext

from billing.exceptions import ProviderNotConfiguredError
from billing.providers.base import (
    CheckoutRequest,
    CheckoutSession,
    PaymentProvider,
    ProviderNotification,
    ProviderRefund,
    ReceiptItem,
    params_from_request_data,
)

__all__ = [
    "CheckoutRequest",
    "CheckoutSession",
    "PaymentProvider",
    "ProviderNotification",
    "ProviderRefund",
    "ReceiptItem",
    "params_from_request_data",
    "provider_get",
    "provider_label",
    "providers_enabled",
]


def providers_enabled() -> list[str]:
    """Codes of the configured providers, in settings order (what the bot offers)."""
    return list(_registry())


def provider_label(code: str, language: str) -> str:
    """A payment method as the customer sees it: what they pay with, then the provider
    ("💳 Card, SBP · Robokassa" / "💳 Карта, СБП · Robokassa"); just the provider's name
    when it does not say what it takes."""
    provider = provider_get(code)
    if not provider.pays_with:
        return provider.title
    with translation.override(language):
        return f"💳 {gettext(provider.pays_with)} · {provider.title}"


@cache
def provider_get(code: str) -> PaymentProvider:
    """The configured provider for ``code``; cached per code.

    Raises ``ProviderNotConfiguredError`` for a code that is unknown or has no credentials
    (services can turn that into a user-facing "payment method unavailable"), and
    ``ImproperlyConfigured`` for a malformed registry entry (a deploy bug, not a user error).
    """
    entry = _registry().get(code)
    if entry is None:
        raise ProviderNotConfiguredError(
            f"Payment provider {code!r} is not configured.",
            extra={"code": code, "enabled": providers_enabled()},
        )
    try:
        path, kwargs = entry
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"BILLING_PROVIDERS[{code!r}] must be a (dotted_path, kwargs) pair."
        ) from exc
    if not isinstance(path, str) or not isinstance(kwargs, dict):
        raise ImproperlyConfigured(
            f"BILLING_PROVIDERS[{code!r}] must be a (dotted_path, kwargs) pair."
        )
    try:
        provider_class = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"BILLING_PROVIDERS[{code!r}]: cannot import {path!r}.") from exc
    if not (isinstance(provider_class, type) and issubclass(provider_class, PaymentProvider)):
        raise ImproperlyConfigured(
            f"BILLING_PROVIDERS[{code!r}]: {path!r} is not a PaymentProvider."
        )
    try:
        return provider_class(**kwargs)
    except TypeError as exc:  # unknown/missing kwargs; the message names fields, not values
        raise ImproperlyConfigured(f"BILLING_PROVIDERS[{code!r}]: {exc}") from exc


def _registry() -> dict[str, Any]:
    registry = getattr(settings, "BILLING_PROVIDERS", None) or {}
    if not isinstance(registry, dict):
        raise ImproperlyConfigured("BILLING_PROVIDERS must be a dict.")
    return registry


@receiver(setting_changed)
def _provider_cache_reset(*, setting: str, **kwargs: Any) -> None:
    """Drop cached instances when the registry changes (``override_settings`` in tests)."""
    if setting == "BILLING_PROVIDERS":
        provider_get.cache_clear()
