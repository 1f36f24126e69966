"""System checks for the client-address settings, which the abuse limits depend on.

Run by `manage.py check` and by every `migrate` (compose's one-shot migrate service and
`bin/run` print them before anything starts); CI runs `check --fail-level WARNING`.
"""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from core.net import networks_parse

PROXY_WITHOUT_TRUSTED_PROXY = "core.W001"
TRUSTED_PROXY_INVALID = "core.E001"


@checks.register(checks.Tags.security)
def proxy_header_without_trusted_proxy(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """DJANGO_SECURE_PROXY_SSL_HEADER says a proxy is in front, but TRUSTED_PROXY_IPS is empty:
    X-Forwarded-For is then ignored and every client has the proxy's address, so the per-address
    limits (feed, webhooks, console logins) would lock everyone out together."""
    if not settings.SECURE_PROXY_SSL_HEADER or settings.TRUSTED_PROXY_IPS:
        return []
    return [
        checks.Warning(
            "DJANGO_SECURE_PROXY_SSL_HEADER is on (a reverse proxy is in front) but "
            "TRUSTED_PROXY_IPS is empty: every client gets the proxy's address, so the "
            "per-address limits (feed, payment notifications, console logins) block all "
            "users at once.",
            hint=(
                "Set TRUSTED_PROXY_IPS to the proxy's address or network (docker compose with "
                "the proxy on the host: 172.16.0.0/12), or turn the proxy header off."
            ),
            id=PROXY_WITHOUT_TRUSTED_PROXY,
        )
    ]


@checks.register(checks.Tags.security)
def trusted_proxies_parse(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A TRUSTED_PROXY_IPS entry that is not an address or network fails at start, not at the
    first request that needs the client address."""
    try:
        networks_parse(entries=settings.TRUSTED_PROXY_IPS)
    except ImproperlyConfigured as exc:
        return [
            checks.Error(
                f"TRUSTED_PROXY_IPS: {exc}",
                hint="Comma-separated addresses or CIDRs, e.g. 172.16.0.0/12,10.0.0.5",
                id=TRUSTED_PROXY_INVALID,
            )
        ]
    return []
