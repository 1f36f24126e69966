"""Subscribers: registration from Telegram, language choice, the bot-blocked flag."""

import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_otp import devices_for_user, user_has_device

from accounts.models import Customer, Language
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write, model_update
from nodes.services import subscription_keys_sync
from notifications.services import TELEGRAM_TEXT_LIMIT, notify_customer
from subscriptions.models import Subscription

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


# --- Operator actions on customers (the console) --------------------------------------------

CUSTOMER_MESSAGE_KIND = "operator-message"

_BAN_TEXT = {
    "ru": "Доступ к VPN приостановлен администратором. Если это ошибка, напишите в поддержку.",
    "en": "Your VPN access has been suspended by an administrator. "
    "If you think this is a mistake, contact support.",
}
_UNBAN_TEXT = {
    "ru": "Доступ к VPN восстановлен. Ваши ключи снова работают.",
    "en": "Your VPN access has been restored. Your keys work again.",
}


def _customer_keys_resync(*, customer: Customer, now: datetime) -> int:
    """Recompute the keys of every subscription of `customer` (enable follows the ban flag)."""
    subscriptions = Subscription.objects.filter(customer=customer).order_by("pk")
    count = 0
    for subscription in subscriptions:
        subscription_keys_sync(subscription=subscription, now=now)
        count += 1
    return count


def _customer_notify(*, customer: Customer, texts: dict[str, str], kind: str) -> None:
    notify_customer(
        customer=customer,
        text=texts.get(customer.language, texts["en"]),
        kind=kind,
        parse_mode="",
    )


@transaction.atomic
def customer_ban(
    *, customer: Customer, reason: str, actor, now: datetime | None = None
) -> Customer:
    """Ban a customer: every key of theirs is disabled on its panel, they are told, audited.

    The keys follow the flag through `subscription_keys_sync` (a banned customer's keys are
    never enabled), so a later renewal does not re-enable them either.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("A ban needs a reason.", {"customer_id": customer.pk})
    now = now or timezone.now()
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.is_banned:
        raise ApplicationError(f"{locked} is already banned.", {"customer_id": locked.pk})
    locked, _changed = model_update(
        instance=locked,
        data={"is_banned": True, "banned_reason": reason[: _max_length("banned_reason")]},
    )
    synced = _customer_keys_resync(customer=locked, now=now)
    audit_log_write(
        event_type=AuditEvent.CUSTOMER_BANNED,
        obj=locked,
        acting_user=actor,
        customer_id=locked.pk,
        message=f"banned: {reason}",
        extra_data={"reason": reason, "subscriptions_resynced": synced},
    )
    _customer_notify(customer=locked, texts=_BAN_TEXT, kind="customer-banned")
    logger.info("customer %s banned by %s", locked.telegram_id, actor)
    return locked


@transaction.atomic
def customer_unban(
    *, customer: Customer, actor, reason: str = "", now: datetime | None = None
) -> Customer:
    """Lift a ban: the keys of running subscriptions are enabled again; told and audited."""
    now = now or timezone.now()
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if not locked.is_banned:
        raise ApplicationError(f"{locked} is not banned.", {"customer_id": locked.pk})
    before = locked.banned_reason
    locked, _changed = model_update(instance=locked, data={"is_banned": False, "banned_reason": ""})
    synced = _customer_keys_resync(customer=locked, now=now)
    audit_log_write(
        event_type=AuditEvent.CUSTOMER_UNBANNED,
        obj=locked,
        acting_user=actor,
        customer_id=locked.pk,
        message=f"unbanned{': ' + reason.strip() if reason.strip() else ''}",
        extra_data={"ban_reason": before, "subscriptions_resynced": synced},
    )
    _customer_notify(customer=locked, texts=_UNBAN_TEXT, kind="customer-unbanned")
    logger.info("customer %s unbanned by %s", locked.telegram_id, actor)
    return locked


@transaction.atomic
def customer_message_send(*, customer: Customer, text: str, actor):
    """Queue an operator's message to a customer through the outbox (plain text), audited.

    Returns the outbox row; its status is `skipped` when the customer blocked the bot.
    """
    text = (text or "").strip()
    if not text:
        raise ApplicationError("The message is empty.")
    if len(text) > TELEGRAM_TEXT_LIMIT:
        raise ApplicationError(f"The message is longer than {TELEGRAM_TEXT_LIMIT} characters.")
    message = notify_customer(
        customer=customer, text=text, kind=CUSTOMER_MESSAGE_KIND, parse_mode=""
    )
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=customer,
        acting_user=actor,
        customer_id=customer.pk,
        message=f"message sent: {text[:200]}",
        extra_data={
            "action": "customer_message_send",
            "outbox_id": message.pk if message else None,
            "outbox_status": message.status if message else None,
        },
    )
    return message


def _max_length(field_name: str) -> int:
    return Customer._meta.get_field(field_name).max_length


# --- Operator logins: optional TOTP two-factor -------------------------------------------


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
