"""Promo codes in the bot: the per-chat state and the thin services behind its screens.

The bot otherwise keeps no per-chat state (``notifications.callbacks``); a promo code is typed
as a text message, so two small entries live in the cache (Redis in production, shared by
every process): that the chat was asked for a code (with the screen to return to), for
``PROMO_WAIT_SECONDS``, and the code the chat entered, for ``PROMO_KEEP_SECONDS``. Losing
them (a cache flush) only means typing the code again. Every rule of a code lives in
``billing.services.promo``; the payment is always priced by billing at checkout.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.cache import cache
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.models import PromoCode
from billing.services.promo import (
    PURCHASE_KINDS,
    PromoError,
    checkout_price,
    promo_check,
    promo_code_normalize,
    promo_find,
    promo_grant,
)
from notifications.texts import subscription_title_of
from subscriptions.models import Tariff
from telegram_bot.bot.selectors import buy_offer_load

PROMO_WAIT_SECONDS = 15 * 60
PROMO_KEEP_SECONDS = 24 * 60 * 60
# The "provider" of a purchase a promo code makes free (``buy:p:<tariff>:<sub>:free``).
FREE_PROVIDER = "free"
# ``/start promo_<CODE>`` (Telegram deep-link payloads are A-Z, a-z, 0-9, _ and -, up to 64
# characters: https://core.telegram.org/bots/features#deep-linking).
DEEP_LINK_PREFIX = "promo_"


def _key(kind: str, chat_id: int) -> str:
    return f"bot:promo:{kind}:{chat_id}"


def promo_wait_set(*, chat_id: int, back: str) -> None:
    """The chat was asked for a code; `back` is the callback data of the screen it came from."""
    cache.set(_key("wait", chat_id), back, PROMO_WAIT_SECONDS)


def promo_wait_pop(*, chat_id: int) -> str | None:
    """The screen to return to if the chat was asked for a code (and no longer is), else None."""
    back = cache.get(_key("wait", chat_id))
    if back is not None:
        cache.delete(_key("wait", chat_id))
    return back


def promo_code_get(*, chat_id: int) -> str:
    return cache.get(_key("code", chat_id)) or ""


def promo_code_set(*, chat_id: int, code: str) -> None:
    cache.set(_key("code", chat_id), code, PROMO_KEEP_SECONDS)


def promo_code_clear(*, chat_id: int) -> None:
    cache.delete(_key("code", chat_id))


@dataclass(frozen=True)
class PromoOffer:
    """What the chat's code does to a tariff: the price with it, or why it does not apply."""

    code: str
    price: Decimal
    price_before: Decimal
    currency: str
    days: int = 0
    error: str = ""

    @property
    def applies(self) -> bool:
        return not self.error

    @property
    def free(self) -> bool:
        return self.applies and self.price <= 0


def promo_offer_get(
    *, customer: Customer, code: str, tariff_id: int, now: datetime | None = None
) -> PromoOffer | None:
    """The offer of `code` on the tariff (None: no code, or no such tariff)."""
    tariff = Tariff.objects.filter(pk=tariff_id).first() if code else None
    if tariff is None:
        return None
    now = now or timezone.now()
    try:
        promo = promo_find(code=code, customer=customer)
        promo_check(promo=promo, customer=customer, tariff=tariff, now=now, preview=True)
    except PromoError as exc:
        return PromoOffer(code, tariff.price, tariff.price, tariff.currency, error=exc.message)
    return PromoOffer(
        code=promo.code,
        price=checkout_price(tariff=tariff, promo=promo),
        price_before=tariff.price,
        currency=tariff.currency,
        days=promo.days if promo.kind in PURCHASE_KINDS else 0,
    )


def promo_codes_offered() -> bool:
    """Whether the bot offers the promo code button: some code is switched on."""
    return PromoCode.objects.filter(is_active=True).exists()


@dataclass(frozen=True)
class PromoEntry:
    """What entering a code did: kept for the checkout, granted something, or refused."""

    code: str
    saved: bool = False
    error: str = ""
    title: str = ""  # the subscription a grant made or extended
    expires_at: datetime | None = None
    days: int = 0
    subscription_id: int | None = None


def promo_enter(
    *, customer: Customer, code: str, chat_id: int, now: datetime | None = None
) -> PromoEntry:
    """A code typed or opened through a deep link: a discount or extra-days code is kept for
    this chat's checkout (after the checks that need no tariff); a free one is redeemed now."""
    now = now or timezone.now()
    normalized = promo_code_normalize(code)[:32]
    try:
        promo = promo_find(code=code, customer=customer)
        if promo.kind in PURCHASE_KINDS:
            promo_check(promo=promo, customer=customer, now=now, preview=True)
            promo_code_set(chat_id=chat_id, code=promo.code)
            return PromoEntry(code=promo.code, saved=True)
        grant = promo_grant(customer=customer, promo=promo, now=now)
    except PromoError as exc:
        return PromoEntry(code=normalized, error=exc.message)
    return _granted(customer, grant)


def _granted(customer: Customer, grant) -> PromoEntry:
    subscription = grant.subscription
    return PromoEntry(
        code=grant.promo.code,
        title=subscription_title_of(subscription, language=customer.language),
        expires_at=subscription.expires_at,
        days=grant.days,
        subscription_id=subscription.pk,
    )


def promo_checkout_free(
    *,
    customer: Customer,
    tariff_id: int,
    subscription_id: int | None,
    chat_id: int,
    country: str = "",
    now: datetime | None = None,
) -> PromoEntry:
    """Take the purchase the chat's code makes free (``promo_purchase_free``); the code is
    spent."""
    entry = promo_purchase_free(
        customer=customer,
        code=promo_code_get(chat_id=chat_id),
        tariff_id=tariff_id,
        subscription_id=subscription_id,
        country=country,
        now=now,
    )
    if not entry.error:
        promo_code_clear(chat_id=chat_id)
    return entry


def promo_purchase_free(
    *,
    customer: Customer,
    code: str,
    tariff_id: int,
    subscription_id: int | None,
    country: str = "",
    now: datetime | None = None,
) -> PromoEntry:
    """Take the purchase `code` makes free (``promo_grant``): the bot's "Get it free" and
    the Mini App's. A refusal is the entry's ``error`` (the customer's language)."""
    now = now or timezone.now()
    tariff, subscription = buy_offer_load(
        customer=customer, tariff_id=tariff_id, subscription_id=subscription_id, now=now
    )
    try:
        promo = promo_find(code=code, customer=customer)
        if tariff is None:
            with translation.override(customer.language):
                message = _("This option is no longer available. Please choose again.")
            raise PromoError(message, "not_for_tariff")
        grant = promo_grant(
            customer=customer,
            promo=promo,
            tariff=tariff,
            subscription=subscription,
            country=country,
            now=now,
        )
    except PromoError as exc:
        return PromoEntry(code=promo_code_normalize(code), error=exc.message)
    return _granted(customer, grant)
