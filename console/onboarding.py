"""The dashboard's onboarding checklist and secrets panel (docs/console.md "Onboarding").

Each step says whether it is done and links to where it is done. The checklist costs at most
two queries (a tariff on sale, a credited payment; none once both are, for FACT_SECONDS);
the nodes come from the dashboard's own rows, the providers and secrets from settings, the
support contact from the runtime settings (cached). Whether the bot token works is
Telegram's answer to ``getMe`` (https://core.telegram.org/bots/api#getme), asked with a
short timeout and kept in the cache, so the page waits on Telegram at most once per
BOT_CHECK_OK_SECONDS (a failure is asked again after BOT_CHECK_FAILED_SECONDS).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils.translation import gettext as _

from billing.models import Payment
from billing.services.payments import CREDITED_STATUSES
from core.ratelimit import CACHE_ERRORS
from core.runtime_settings import runtime_settings
from nodes.models import NodeHealth
from notifications.telegram_api import TelegramError, bot_api_call
from notifications.texts import bot_url
from subscriptions.models import Tariff

logger = logging.getLogger(__name__)

# (connect, read) seconds: the dashboard never waits long on Telegram.
BOT_CHECK_TIMEOUT = (1.0, 2.0)
BOT_CHECK_OK_SECONDS = 600
BOT_CHECK_FAILED_SECONDS = 60
# How long a step's "done" is kept (a tariff on sale, a credited payment).
FACT_SECONDS = 300
# The Django default a production server must not keep (vpnsite/settings/base.py).
INSECURE_SECRET_KEY = "dev-insecure-only-for-local-use-change-me"  # noqa: S105 - a marker


@dataclass(frozen=True)
class BotCheck:
    ok: bool
    username: str = ""
    error: str = ""


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    done: bool
    detail: str
    url: str
    action: str


@dataclass(frozen=True)
class Secret:
    name: str
    what: str
    is_set: bool
    note: str = ""


def bot_check() -> BotCheck:
    """Whether TELEGRAM_BOT_TOKEN works: ``getMe`` through the outbox's Bot API client,
    cached per token (a digest of it names the cache entry, never the token)."""
    token = settings.TELEGRAM_BOT_TOKEN
    if not token:
        return BotCheck(ok=False, error=_("TELEGRAM_BOT_TOKEN is not set."))
    key = f"console:bot-check:{hashlib.sha256(token.encode()).hexdigest()[:24]}"
    try:
        cached = cache.get(key)
    except CACHE_ERRORS:
        cached = None
    if cached is not None:
        return BotCheck(**cached)
    try:
        me = bot_api_call(method="getMe", data={}, timeout=BOT_CHECK_TIMEOUT)
    except TelegramError as exc:
        logger.warning("console: the bot token check failed: %s", exc)
        check = BotCheck(ok=False, error=str(exc)[:300])
    else:
        check = BotCheck(ok=True, username=str(me.get("username") or ""))
    with contextlib.suppress(CACHE_ERRORS):
        cache.set(
            key,
            {"ok": check.ok, "username": check.username, "error": check.error},
            BOT_CHECK_OK_SECONDS if check.ok else BOT_CHECK_FAILED_SECONDS,
        )
    return check


def _fact(name: str, query: Callable[[], bool]) -> bool:
    """A yes/no the checklist asks the database, kept for FACT_SECONDS once it is yes: a
    running shop's dashboard pays no query for it, while a step still to do shows as done
    on the first page after it is."""
    key = f"console:onboarding:{name}"
    try:
        if cache.get(key):
            return True
    except CACHE_ERRORS:
        return query()
    answer = query()
    if answer:
        with contextlib.suppress(*CACHE_ERRORS):
            cache.set(key, True, FACT_SECONDS)
    return answer


def onboarding_steps(*, nodes: list[Any]) -> list[Step]:
    """The checklist, in the order a new shop goes through it. `nodes` are the dashboard's
    node rows (``console.selectors.NodeRow``), so nodes cost no query here."""
    bot = bot_check()
    healthy = [
        row.node for row in nodes if row.node.is_enabled and row.node.health == NodeHealth.UP
    ]
    on_sale = _fact(
        "tariff-on-sale", lambda: Tariff.objects.filter(is_active=True, is_trial=False).exists()
    )
    purchased = _fact(
        "credited-payment", lambda: Payment.objects.filter(status__in=CREDITED_STATUSES).exists()
    )
    # Telegram Stars need no credentials and are on by default: they count only once a
    # tariff on sale has a Stars price (the bot offers them only then).
    providers = [code for code in settings.BILLING_PROVIDERS if code != "stars"]
    if "stars" in settings.BILLING_PROVIDERS and _fact(
        "stars-price",
        lambda: Tariff.objects.filter(
            is_active=True, is_trial=False, price_stars__isnull=False
        ).exists(),
    ):
        providers.append("stars")
    contact = (runtime_settings().get("SUPPORT_CONTACT") or "").strip()
    config_url = reverse("admin:constance_config_changelist")
    shop_link = bot_url() or (f"https://t.me/{bot.username}" if bot.username else "")

    if bot.ok:
        bot_detail = _("Telegram accepts the token of @%(username)s.") % {"username": bot.username}
    elif not settings.TELEGRAM_BOT_TOKEN:
        bot_detail = bot.error
    else:
        bot_detail = _("Telegram refused the token or did not answer: %(error)s") % {
            "error": bot.error
        }
    if healthy:
        node_detail = _("%(healthy)s of %(total)s node(s) up.") % {
            "healthy": len(healthy),
            "total": len(nodes),
        }
    elif nodes:
        node_detail = _("%(total)s node(s), none up: check the panel address and login.") % {
            "total": len(nodes)
        }
    else:
        node_detail = _("No node yet: add a 3x-ui panel.")
    return [
        Step(
            key="bot",
            title=_("Bot connected"),
            done=bot.ok,
            detail=bot_detail,
            url="#secrets",
            action=_("Set TELEGRAM_BOT_TOKEN (from @BotFather) and restart"),
        ),
        Step(
            key="node",
            title=_("A node added and healthy"),
            done=bool(healthy),
            detail=node_detail,
            url=reverse("admin:nodes_node_add" if not nodes else "admin:nodes_node_changelist"),
            action=_("Add a node") if not nodes else _("Open the nodes"),
        ),
        Step(
            key="tariff",
            title=_("A tariff on sale"),
            done=on_sale,
            detail=_("Customers can buy.") if on_sale else _("No paid tariff is on sale."),
            url=reverse(
                "admin:subscriptions_tariff_changelist"
                if on_sale
                else "admin:subscriptions_tariff_add"
            ),
            action=_("Open the tariffs") if on_sale else _("Add a tariff"),
        ),
        Step(
            key="provider",
            title=_("A payment provider configured"),
            done=bool(providers),
            detail=", ".join(providers)
            if providers
            else _(
                "Set ROBOKASSA_*, FREEKASSA_* or YOOKASSA_* in the environment and restart, "
                "or give a tariff a price in Telegram Stars."
            ),
            url="#secrets",
            action=_("See the secrets"),
        ),
        Step(
            key="support",
            title=_("Support contact set"),
            done=bool(contact),
            detail=contact or _("Customers have nowhere to write."),
            url=config_url,
            action=_("Open the settings"),
        ),
        Step(
            key="purchase",
            title=_("A test purchase made"),
            done=purchased,
            detail=_("A payment was credited.")
            if purchased
            else _("Buy the cheapest tariff in the bot yourself: it proves the whole path."),
            url=shop_link or reverse("admin:billing_payment_changelist"),
            action=_("Open the bot") if shop_link else _("Open the payments"),
        ),
    ]


def secrets_status() -> list[Secret]:
    """Whether each secret the environment holds is set: never a value, nor a part of one."""
    robokassa = (
        settings.ROBOKASSA_LOGIN,
        settings.ROBOKASSA_PASSWORD1,
        settings.ROBOKASSA_PASSWORD2,
    )
    freekassa = (
        settings.FREEKASSA_MERCHANT_ID,
        settings.FREEKASSA_SECRET1,
        settings.FREEKASSA_SECRET2,
    )
    yookassa = (settings.YOOKASSA_SHOP_ID, settings.YOOKASSA_SECRET_KEY)
    partly = _("partly set: the provider stays off until all of them are")
    return [
        Secret("TELEGRAM_BOT_TOKEN", _("the bot"), bool(settings.TELEGRAM_BOT_TOKEN)),
        Secret(
            "ROBOKASSA_LOGIN, ROBOKASSA_PASSWORD1, ROBOKASSA_PASSWORD2",
            "Robokassa",
            all(robokassa),
            partly if any(robokassa) and not all(robokassa) else "",
        ),
        Secret(
            "FREEKASSA_MERCHANT_ID, FREEKASSA_SECRET1, FREEKASSA_SECRET2",
            "FreeKassa",
            all(freekassa),
            partly if any(freekassa) and not all(freekassa) else "",
        ),
        Secret(
            "YOOKASSA_SHOP_ID, YOOKASSA_SECRET_KEY",
            "YooKassa",
            all(yookassa),
            partly if any(yookassa) and not all(yookassa) else "",
        ),
        Secret(
            "NODE_SECRET_KEY",
            _("encryption of panel credentials"),
            bool(settings.NODE_SECRET_KEY),
            "" if settings.NODE_SECRET_KEY else _("derived from DJANGO_SECRET_KEY"),
        ),
        Secret(
            "DJANGO_SECRET_KEY",
            _("sessions and signatures"),
            settings.SECRET_KEY != INSECURE_SECRET_KEY,
        ),
        Secret("METRICS_TOKEN", _("/metrics"), bool(getattr(settings, "METRICS_TOKEN", ""))),
        Secret("SENTRY_DSN", _("error reports"), bool(getattr(settings, "SENTRY_DSN", ""))),
    ]
