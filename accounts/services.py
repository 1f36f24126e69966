"""Subscribers: registration from Telegram, language choice, the bot-blocked flag."""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Customer, Language
from core.exceptions import ApplicationError
from core.services import model_update

logger = logging.getLogger(__name__)

# Telegram's language_code is an IETF tag ("ru", "en-US", "pt-br"). These are answered in
# Russian, since their speakers read it far more often than English; every other language
# gets English. No language_code at all (Telegram omits it sometimes) means our default.
RUSSIAN_READING_LANGUAGES = frozenset({"ru", "uk", "be", "kk"})
DEFAULT_LANGUAGE = Language.RU


def language_from_telegram(*, language_code: str | None) -> str:
    """Map Telegram's `language_code` to one of `Language`."""
    primary = (language_code or "").strip().replace("_", "-").split("-", 1)[0].lower()
    if not primary:
        return DEFAULT_LANGUAGE
    return Language.RU if primary in RUSSIAN_READING_LANGUAGES else Language.EN


def _clip(value: str | None, field_name: str) -> str:
    max_length = Customer._meta.get_field(field_name).max_length
    return (value or "").strip()[:max_length]


def _referrer_find(*, referral_code: str | None, telegram_id: int) -> Customer | None:
    code = (referral_code or "").strip()
    if not code or len(code) > Customer._meta.get_field("referral_code").max_length:
        return None
    referrer = Customer.objects.filter(referral_code=code).first()
    if referrer is None or referrer.telegram_id == telegram_id:
        return None
    return referrer


def _customer_save_changes(*, customer: Customer, data: dict) -> Customer:
    """Save the fields of `data` that differ, validating only those fields.

    This runs on every update a customer sends, so it skips `full_clean()`'s uniqueness and
    constraint queries: none of these fields is unique or part of a constraint.
    """
    changed = [name for name, value in data.items() if getattr(customer, name) != value]
    if not changed:
        return customer
    for name in changed:
        setattr(customer, name, data[name])
    customer.clean_fields(exclude=[f.name for f in Customer._meta.fields if f.name not in changed])
    customer.save(update_fields=[*changed, "updated_at"])
    return customer


@transaction.atomic
def customer_register_or_update(
    *,
    telegram_id: int,
    username: str | None,
    first_name: str | None,
    last_name: str | None,
    language_code: str | None,
    referral_code: str | None = None,
    now: datetime | None = None,
) -> tuple[Customer, bool]:
    """Create the customer for a Telegram user, or refresh what Telegram tells us about them.

    Returns (customer, created). The referrer is recorded only at creation, from a valid
    code that is not the user's own. The language follows Telegram's until the customer
    chooses one. Talking to the bot means they no longer block it.
    """
    if telegram_id <= 0:
        raise ApplicationError("Invalid Telegram id", extra={"telegram_id": telegram_id})
    now = now or timezone.now()
    profile = {
        "username": _clip(username, "username").lstrip("@"),
        "first_name": _clip(first_name, "first_name"),
        "last_name": _clip(last_name, "last_name"),
    }
    language = language_from_telegram(language_code=language_code)

    # The row lock keeps a concurrent language choice from being overwritten below.
    customer = Customer.objects.select_for_update().filter(telegram_id=telegram_id).first()
    if customer is None:
        customer = Customer(
            telegram_id=telegram_id,
            language=language,
            referred_by=_referrer_find(referral_code=referral_code, telegram_id=telegram_id),
            last_seen_at=now,
            **profile,
        )
        # telegram_id uniqueness is left to the database: see the IntegrityError below.
        customer.full_clean(exclude=["telegram_id"])
        try:
            with transaction.atomic():
                customer.save()
        except IntegrityError:
            # The same user's concurrent first update created it first: update that row.
            customer = Customer.objects.select_for_update().get(telegram_id=telegram_id)
        else:
            logger.info(
                "customer %s registered (referred by %s)", telegram_id, customer.referred_by_id
            )
            return customer, True

    data = {**profile, "last_seen_at": now, "bot_blocked_at": None}
    if not customer.language_chosen:
        data["language"] = language
    return _customer_save_changes(customer=customer, data=data), False


@transaction.atomic
def customer_language_set(*, customer: Customer, language: str) -> Customer:
    """Set the customer's language by their choice; Telegram's no longer overrides it."""
    if language not in Language.values:
        raise ApplicationError("Unknown language", extra={"language": language})
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    locked, _changed = model_update(
        instance=locked, data={"language": language, "language_chosen": True}
    )
    return locked


def customer_bot_blocked_set(
    *, telegram_id: int, blocked: bool, now: datetime | None = None
) -> bool:
    """Record that the user blocked (or unblocked) the bot. Returns whether a row changed."""
    now = now or timezone.now()
    customers = Customer.objects.filter(telegram_id=telegram_id)
    if blocked:
        changed = customers.filter(bot_blocked_at__isnull=True).update(
            bot_blocked_at=now, updated_at=now
        )
    else:
        changed = customers.filter(bot_blocked_at__isnull=False).update(
            bot_blocked_at=None, updated_at=now
        )
    return bool(changed)
