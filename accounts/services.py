"""Subscribers: registration from Telegram, language choice, the bot-blocked flag; operator 2FA.

Banning a customer (their keys follow) and messaging one are in
subscriptions/services/customers.py: they reach the keys and the outbox above this layer.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_otp import devices_for_user, user_has_device

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
    if referrer is None or _referral_chain_has(referrer=referrer, telegram_id=telegram_id):
        return None
    return referrer


# How far up the inviters' chain a registration looks for itself (a cycle).
REFERRAL_CHAIN_DEPTH = 50


def _referral_chain_has(*, referrer: Customer, telegram_id: int) -> bool:
    """True when `telegram_id` is `referrer` or one of its inviters (self-referral, a cycle),
    or the chain is longer than ``REFERRAL_CHAIN_DEPTH`` (refused rather than walked on)."""
    current: Customer | None = referrer
    for _depth in range(REFERRAL_CHAIN_DEPTH):
        if current is None:
            return False
        if current.telegram_id == telegram_id:
            return True
        if current.referred_by_id is None:
            return False
        current = (
            Customer.objects.only("pk", "telegram_id", "referred_by")
            .filter(pk=current.referred_by_id)
            .first()
        )
    return current is not None


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
        # telegram_id uniqueness is left to the database: see the IntegrityError below. A
        # new customer's balance is 0 (only the ledger moves it): no query to check it.
        customer.full_clean(exclude=["telegram_id", "balance"])
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
    changed = Customer.objects.filter(
        telegram_id=telegram_id, bot_blocked_at__isnull=blocked
    ).update(bot_blocked_at=now if blocked else None, updated_at=now)
    return bool(changed)


def operator_otp_required(*, user) -> bool:
    """Whether `user` must give a TOTP code to log in to the console.

    Staff with a confirmed device always do; with ADMIN_REQUIRE_2FA every staff user does, and
    with ADMIN_REQUIRE_2FA_SUPERUSERS (the production default) every superuser (one without a
    device cannot log in until one is enrolled: `manage.py otp_enrol`).
    """
    if user is None or not user.is_active:
        return False
    if user_has_device(user, confirmed=True):
        return True
    return operator_otp_mandatory(user=user)


def operator_otp_mandatory(*, user) -> bool:
    """Whether the settings make a TOTP code mandatory for `user`, device or not."""
    if settings.ADMIN_REQUIRE_2FA and user.is_staff:
        return True
    return bool(settings.ADMIN_REQUIRE_2FA_SUPERUSERS and user.is_superuser)


def operator_otp_verify(*, user, token: str):
    """The confirmed device of `user` that accepts `token`, or None.

    Each device keeps its own throttling (django-otp), so repeated wrong codes slow down.
    """
    token = (token or "").strip().replace(" ", "")
    if not token:
        return None
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            allowed, _extra = device.verify_is_allowed()
            if allowed and device.verify_token(token):
                return device
    return None


def operator_totp_enrol(*, user, name: str):
    """A new confirmed TOTP device for the staff user `user` (named `name`).

    For the server's shell (`manage.py otp_enrol`): where a code is mandatory (a superuser in
    production) the first device cannot be added through the console. Refuses, changing
    nothing, a user who cannot use the console or an empty or over-long name.
    """
    from django_otp.plugins.otp_totp.models import TOTPDevice

    name = (name or "").strip()
    if not user.is_active or not user.is_staff:
        raise ApplicationError(f"{user.get_username()} is not an active staff user.")
    max_length = TOTPDevice._meta.get_field("name").max_length
    if not name or len(name) > max_length:
        raise ApplicationError(f"The device name must be 1 to {max_length} characters.")
    return TOTPDevice.objects.create(user=user, name=name, confirmed=True)
