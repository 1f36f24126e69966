"""Gift subscriptions: a paid gift payment makes a code; someone else redeems it once.

- Credit (``gift_create_in_lock``): ``payments._payment_credit`` calls it, in the crediting
  transaction with the payment locked, instead of making a subscription. One gift per payment
  (``Gift.payment`` is one-to-one), so the exactly-once credit gives exactly one code. The
  buyer gets the code and a deep link ``https://t.me/<bot>?start=gift_<CODE>`` to forward.
- Redemption (``gift_redeem``): the gift's row is locked, so of any number of concurrent
  attempts one redeems and the others see it redeemed. A new subscription of the gift's
  tariff, or an extension of the recipient's running subscription whose limits the tariff
  shares (``renewal_tariffs_q``, the renewal rule of the buy flow). The buyer cannot redeem
  their own gift (a gift is for someone else; buying for oneself is the ordinary purchase,
  which also keeps "one pending checkout" and the buyer's purchase history plain). A code
  is refused after GIFT_VALIDITY_DAYS. The buyer is told once when it is used.
- Refund (``gift_refund_in_lock``, from ``payment_refund``): an unredeemed gift is cancelled;
  a redeemed one gives back the days it added, taken off the recipient's subscription as any
  refund takes its days back (never below now), and the recipient is told.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.models import Gift, GiftStatus, Payment
from billing.services.messages import KIND_PAYMENT_NEW_ADMIN, _language
from core.exceptions import ApplicationError
from notifications.formatting import date_format, days, money_format
from notifications.services import admin_messages, customer_message, outbox_queue
from notifications.texts import subscription_title_of, tariff_name
from subscriptions.models import Subscription, Tariff
from subscriptions.selectors import renewal_tariffs_q
from subscriptions.services.lifecycle import (
    subscription_create,
    subscription_extend,
    subscription_shorten,
)

# Letters and digits without the ones people confuse (0/O, 1/I/L): 31 symbols.
GIFT_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GIFT_CODE_LENGTH = 12  # ~59 bits from `secrets`: not guessable by trying
GIFT_START_PREFIX = "gift_"  # /start gift_<CODE> (a deep link's payload: [A-Za-z0-9_-]{1,64})
_CODE_RE = re.compile(rf"^[{GIFT_CODE_ALPHABET}]{{{GIFT_CODE_LENGTH}}}$")

# Outbox kinds written here (notifications.models.OutboxMessage.kind).
KIND_GIFT_CREATED = "gift-created"
KIND_GIFT_REDEEMED = "gift-redeemed"
KIND_GIFT_REFUNDED = "gift-refunded"


def gift_code_new() -> str:
    return "".join(secrets.choice(GIFT_CODE_ALPHABET) for _ in range(GIFT_CODE_LENGTH))


def gift_code_normalize(text: str) -> str:
    """A code as typed or linked (``gift_abcd-efgh…``, spaces, lower case) in its stored
    form, or "" when it cannot be a code."""
    code = (text or "").strip()
    if code.lower().startswith(GIFT_START_PREFIX):
        code = code[len(GIFT_START_PREFIX) :]
    code = re.sub(r"[\s-]", "", code).upper()
    return code if _CODE_RE.match(code) else ""


def gift_link(code: str) -> str:
    """The deep link that opens the bot with the code (Telegram's ``start`` parameter:
    https://core.telegram.org/bots/features#deep-linking); "" without a bot username."""
    username = settings.TELEGRAM_BOT_USERNAME.lstrip("@")
    return f"https://t.me/{username}?start={GIFT_START_PREFIX}{code}" if username else ""


def gift_create_in_lock(*, payment: Payment, now: datetime) -> Gift:
    """The gift of a gift payment being credited (the caller holds the payment's lock and
    marks it paid); the buyer gets the code, the admins the new payment."""
    code = gift_code_new()
    while Gift.objects.filter(code=code).exists():  # the unique constraint backs it up
        code = gift_code_new()
    gift = Gift.objects.create(
        payment=payment,
        code=code,
        status=GiftStatus.ACTIVE,
        expires_at=now + timedelta(days=settings.GIFT_VALIDITY_DAYS),
    )
    _notify_gift_created(gift=gift, payment=payment)
    return gift


def _refused(customer: Customer, reason: str, message: str, **extra: Any) -> ApplicationError:
    return ApplicationError(message, {"reason": reason, "customer_id": customer.pk, **extra})


@transaction.atomic
def gift_redeem(
    *,
    customer: Customer,
    code: str,
    subscription_id: int | None = None,
    now: datetime | None = None,
) -> Gift:
    """Redeem the gift `code` names for `customer`: a new subscription of its tariff, or
    `subscription_id` (their running subscription with the same limits) extended by its days.

    Raises ``ApplicationError`` in the customer's language (``extra["reason"]``: unknown,
    cancelled, redeemed, expired, own, banned, subscription), nothing changed.
    """
    now = now or timezone.now()
    # The lock is the point: concurrent redemptions queue here, the first one wins.
    gift = _gift_usable(customer=customer, code=code, now=now, lock=True)
    with translation.override(_language(customer.language)):
        tariff = gift.payment.tariff
        reason = f"gift #{gift.pk} (payment #{gift.payment_id})"
        if subscription_id is not None:
            subscription = _gift_target(
                customer=customer, tariff=tariff, subscription_id=subscription_id, now=now
            )
            if subscription is None:
                raise _refused(
                    customer,
                    "subscription",
                    _("This gift cannot extend that subscription. Please choose again."),
                    subscription_id=subscription_id,
                )
            subscription = subscription_extend(
                subscription=subscription,
                days=tariff.duration_days,
                actor_label="customer",
                reason=reason,
                now=now,
                place_keys_now=False,
                tariff=tariff,
            )
        else:
            subscription = subscription_create(
                customer=customer,
                tariff=tariff,
                actor_label="customer",
                reason=reason,
                now=now,
                place_keys_now=False,
            )
    gift.status = GiftStatus.REDEEMED
    gift.redeemed_by = customer
    gift.redeemed_at = now
    gift.subscription = subscription
    gift.days_credited = tariff.duration_days
    gift.save(
        update_fields=[
            "status",
            "redeemed_by",
            "redeemed_at",
            "subscription",
            "days_credited",
            "updated_at",
        ]
    )
    _notify_gift_redeemed(gift=gift)
    return gift


def gift_preview(*, customer: Customer, code: str, now: datetime | None = None) -> Gift:
    """The gift `code` names if `customer` may redeem it now (a read, for the bot to offer
    the choice); raises as ``gift_redeem`` does."""
    return _gift_usable(customer=customer, code=code, now=now or timezone.now(), lock=False)


def _gift_usable(*, customer: Customer, code: str, now: datetime, lock: bool) -> Gift:
    with translation.override(_language(customer.language)):
        normalized = gift_code_normalize(code)
        gift = None
        if normalized:
            gifts = Gift.objects.select_related("payment__customer", "payment__tariff")
            if lock:
                gifts = gifts.select_for_update(of=("self",))
            gift = gifts.filter(code=normalized).first()
        if gift is None:
            raise _refused(customer, "unknown", _("There is no gift with this code."))
        if gift.status == GiftStatus.CANCELLED:
            raise _refused(
                customer, "cancelled", _("This gift was cancelled and can no longer be redeemed.")
            )
        if gift.status == GiftStatus.REDEEMED:
            raise _refused(customer, "redeemed", _("This gift has already been redeemed."))
        if gift.expires_at <= now:
            raise _refused(customer, "expired", _("This gift code has expired."))
        if customer.is_banned:
            raise _refused(customer, "banned", _("Your account is blocked."))
        if gift.payment.customer_id == customer.pk:
            raise _refused(
                customer,
                "own",
                _("You cannot redeem your own gift: send the link to the person it is for."),
            )
    return gift


def gift_targets(*, customer: Customer, tariff: Tariff, now: datetime) -> list[Subscription]:
    """The customer's running paid subscriptions a gift of `tariff` may extend."""
    running = (
        Subscription.objects.running(now)
        .filter(customer=customer, is_trial=False)
        .select_related("tariff")
        .order_by("-expires_at", "-pk")
    )
    return [
        s for s in running if Tariff.objects.filter(renewal_tariffs_q(s), pk=tariff.pk).exists()
    ]


def _gift_target(
    *, customer: Customer, tariff: Tariff, subscription_id: int, now: datetime
) -> Subscription | None:
    subscription = (
        Subscription.objects.running(now)
        .filter(pk=subscription_id, customer=customer, is_trial=False)
        .first()
    )
    if subscription is None:
        return None
    same_limits = Tariff.objects.filter(renewal_tariffs_q(subscription), pk=tariff.pk).exists()
    return subscription if same_limits else None


def gift_refund_in_lock(
    *, payment: Payment, actor: Any, actor_label: str, reason: str, now: datetime
) -> Gift | None:
    """A gift payment is being refunded (locked by ``payment_refund``): cancel its gift, or,
    once redeemed, take the days it gave off the recipient's subscription and tell them."""
    gift = Gift.objects.select_for_update().filter(payment=payment).first()
    if gift is None:
        return None
    if gift.status == GiftStatus.ACTIVE:
        gift.status = GiftStatus.CANCELLED
        gift.cancelled_at = now
        gift.save(update_fields=["status", "cancelled_at", "updated_at"])
        return gift
    if gift.status == GiftStatus.REDEEMED and gift.days_credited > 0:
        subscription = subscription_shorten(
            subscription=gift.subscription,
            days=gift.days_credited,
            actor=actor,
            actor_label=actor_label,
            reason=f"refund of gift payment #{payment.pk}: {reason}",
            now=now,
        )
        _notify_gift_refunded(gift=gift, subscription=subscription, now=now)
    return gift


def _notify_gift_created(*, gift: Gift, payment: Payment) -> None:
    customer = payment.customer
    tariff = payment.tariff
    language = _language(customer.language)
    link = gift_link(gift.code)
    with translation.override(language):
        text = _(
            "🎁 Payment %(payment)s received: %(amount)s.\n"
            "Your gift: %(tariff)s, %(duration)s.\n"
            "Gift code: <code>%(code)s</code>\n"
            "It can be redeemed once, until %(expires)s. We will tell you when it is used."
        ) % {
            "payment": payment.number,
            "amount": money_format(payment.amount, payment.currency),
            "tariff": escape(
                tariff_name(name=tariff.name, name_en=tariff.name_en, language=language)
            ),
            "duration": days(tariff.duration_days),
            "code": gift.code,
            "expires": date_format(gift.expires_at),
        }
        if link:
            text += "\n\n" + _("Forward this link to the person the gift is for:\n%(link)s") % {
                "link": link
            }
        else:
            text += "\n\n" + _(
                "The recipient sends this code to the bot: <code>/gift %(code)s</code>"
            ) % {"code": gift.code}
        to_customer = customer_message(
            customer=customer,
            text=text,
            kind=KIND_GIFT_CREATED,
            dedupe_key=f"gift-created:{payment.pk}",
        )
    with translation.override(settings.LANGUAGE_CODE):
        admin_text = _(
            "💰 New payment #%(payment)s: %(amount)s via %(provider)s\n"
            "Customer: %(customer)s (Telegram id %(telegram_id)s)\n"
            "Tariff: %(tariff)s, bought as a gift"
        ) % {
            "payment": payment.pk,
            "amount": money_format(payment.amount, payment.currency),
            "provider": escape(payment.provider),
            "customer": escape(str(customer)),
            "telegram_id": customer.telegram_id,
            "tariff": escape(tariff.name),
        }
        to_admins = admin_messages(
            text=admin_text, kind=KIND_PAYMENT_NEW_ADMIN, dedupe_key=f"payment-new:{payment.pk}"
        )
    outbox_queue([to_customer, *to_admins])


def _notify_gift_redeemed(*, gift: Gift) -> None:
    """Tell the buyer, in their language, once (the dedupe key)."""
    buyer = gift.payment.customer
    tariff = gift.payment.tariff
    language = _language(buyer.language)
    with translation.override(language):
        text = _(
            "🎁 Your gift %(tariff)s (code <code>…%(last)s</code>) was redeemed on %(date)s."
        ) % {
            "tariff": escape(
                tariff_name(name=tariff.name, name_en=tariff.name_en, language=language)
            ),
            "last": gift.code[-4:],
            "date": date_format(gift.redeemed_at),
        }
        outbox_queue(
            [
                customer_message(
                    customer=buyer,
                    text=text,
                    kind=KIND_GIFT_REDEEMED,
                    dedupe_key=f"gift-redeemed:{gift.pk}",
                )
            ]
        )


def _notify_gift_refunded(*, gift: Gift, subscription: Subscription, now: datetime) -> None:
    """Tell the recipient the gift they redeemed was refunded and what is left."""
    recipient = gift.redeemed_by
    language = _language(recipient.language)
    with translation.override(language):
        title = subscription_title_of(subscription, language=language)
        text = _("The gift you redeemed was refunded to its buyer; its days were taken back.")
        if subscription.is_running(now):
            text += "\n" + _("%(title)s is now valid until %(expires)s.") % {
                "title": title,
                "expires": date_format(subscription.expires_at),
            }
        else:
            text += "\n" + _("%(title)s has ended.") % {"title": title}
        outbox_queue(
            [
                customer_message(
                    customer=recipient,
                    text=text,
                    kind=KIND_GIFT_REFUNDED,
                    dedupe_key=f"gift-refunded:{gift.pk}",
                )
            ]
        )
