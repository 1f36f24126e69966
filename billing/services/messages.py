"""The messages a payment sends: to the customer (paid, refunded) and to the admins (a new
payment, a verified notification that was refused), through the outbox."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from billing.exceptions import WebhookError
from billing.models import Payment, WebhookEvent
from notifications.formatting import date_format, days, money_format
from notifications.services import (
    admin_messages,
    customer_message,
    notify_admins,
    notify_customer,
    outbox_queue,
)
from notifications.texts import (
    button_support,
    subscription_title_of,
    support_contact,
    support_url,
    tariff_name,
)
from subscriptions.models import Subscription, Tariff

logger = logging.getLogger(__name__)

# Outbox kinds written here (notifications.models.OutboxMessage.kind).
KIND_PAYMENT_PAID = "payment-paid"
KIND_PAYMENT_NEW_ADMIN = "payment-new"
KIND_PAYMENT_REFUNDED = "payment-refunded"
KIND_PAYMENT_MISMATCH_ADMIN = "payment-mismatch"
KIND_BALANCE_TOPPED_UP = "balance-topped-up"


def _language(code: str) -> str:
    return code if code in ("ru", "en") else "ru"


def _payment_description(*, tariff: Tariff | None, language: str, payment=None) -> str:
    """Shown on the provider's payment page; call inside the customer's language."""
    if tariff is None:
        return _("VPN service balance top-up")
    return _("VPN subscription “%(tariff)s”, %(duration)s") % {
        "tariff": tariff_name(name=tariff.name, name_en=tariff.name_en, language=language),
        "duration": days(tariff.duration_days),
    }


def _notify_paid(*, payment: Payment, subscription: Subscription, late: bool) -> None:
    """Tell the customer the payment arrived and the admins a payment came in.

    The keys themselves are sent by the nodes layer once they are on a panel.
    """
    customer = payment.customer
    reply_markup = None
    with translation.override(_language(customer.language)):
        if customer.is_banned:
            # The money was taken, so the days are credited; but the keys stay disabled and
            # the nodes layer sends no keys: say so, and how to reach support.
            message = _(
                "✅ Payment %(payment)s received: %(amount)s.\n"
                "⛔ Your account is blocked, so your VPN keys are disabled and no keys will be "
                "sent. The paid days are added to %(title)s (until %(expires)s); its keys "
                "work again if the block is lifted."
            )
            contact = support_contact()
            if contact:
                message += "\n" + _("To sort this out, write to support: %(contact)s") % {
                    "contact": escape(contact).replace("%", "%%")
                }
            else:
                message += "\n" + _("To sort this out, please contact support.")
            if url := support_url():
                reply_markup = {
                    "inline_keyboard": [
                        [{"text": button_support(language=customer.language), "url": url}]
                    ]
                }
        elif subscription.keys_notified_at:
            # A renewal: the keys the customer has keep working, nothing else arrives.
            message = _(
                "✅ Payment %(payment)s received: %(amount)s.\n"
                "%(title)s is extended until %(expires)s.\n"
                "Your keys and subscription URL stay the same."
            )
        else:
            message = _(
                "✅ Payment %(payment)s received: %(amount)s.\n"
                "%(title)s is active until %(expires)s.\n"
                "Your connection keys will follow in a separate message."
            )
        text = message % {
            "payment": payment.number,
            "amount": money_format(payment.amount, payment.currency),
            # Named as every message names it, by the tariff it now runs on.
            "title": subscription_title_of(subscription, language=customer.language),
            "expires": date_format(subscription.expires_at),
        }
        to_customer = customer_message(
            customer=customer,
            text=text,
            reply_markup=reply_markup,
            kind=KIND_PAYMENT_PAID,
            dedupe_key=f"payment-paid:{payment.pk}",
        )
    with translation.override(settings.LANGUAGE_CODE):
        admin_text = _(
            "💰 New payment #%(payment)s: %(amount)s via %(provider)s\n"
            "Customer: %(customer)s (Telegram id %(telegram_id)s)\n"
            "Tariff: %(tariff)s, subscription #%(subscription)s until %(expires)s"
        ) % {
            "payment": payment.pk,
            "amount": money_format(payment.amount, payment.currency),
            "provider": escape(payment.provider),
            "customer": escape(str(customer)),
            "telegram_id": customer.telegram_id,
            "tariff": escape(payment.tariff.name),
            "subscription": subscription.pk,
            "expires": date_format(subscription.expires_at),
        }
        if late:
            admin_text += "\n" + _(
                "⚠️ Paid after the payment had expired or been cancelled; credited anyway."
            )
        if customer.is_banned:
            admin_text += "\n" + _(
                "⛔ The customer is banned: the days are credited, the keys stay disabled and "
                "the customer was told to contact support."
            )
        to_admins = admin_messages(
            text=admin_text,
            kind=KIND_PAYMENT_NEW_ADMIN,
            dedupe_key=f"payment-new:{payment.pk}",
        )
    outbox_queue([to_customer, *to_admins])


def _notify_topped_up(*, payment: Payment, late: bool) -> None:
    """A credited top-up: the customer sees the new balance, the admins the payment."""
    customer = payment.customer
    customer.refresh_from_db(fields=["balance"])  # the credit has just changed it
    amount = money_format(payment.amount, payment.currency)
    with translation.override(_language(customer.language)):
        to_customer = customer_message(
            customer=customer,
            text=_(
                "✅ Payment %(payment)s received: %(amount)s added to your balance.\n"
                "Balance: %(balance)s."
            )
            % {
                "payment": payment.number,
                "amount": amount,
                "balance": money_format(customer.balance, payment.currency),
            },
            kind=KIND_BALANCE_TOPPED_UP,
            dedupe_key=f"payment-paid:{payment.pk}",
        )
    with translation.override(settings.LANGUAGE_CODE):
        admin_text = _(
            "💰 New payment #%(payment)s: %(amount)s via %(provider)s\n"
            "Customer: %(customer)s (Telegram id %(telegram_id)s)\n"
            "Balance top-up"
        ) % {
            "payment": payment.pk,
            "amount": amount,
            "provider": escape(payment.provider),
            "customer": escape(str(customer)),
            "telegram_id": customer.telegram_id,
        }
        if late:
            admin_text += "\n" + _(
                "⚠️ Paid after the payment had expired or been cancelled; credited anyway."
            )
        to_admins = admin_messages(
            text=admin_text, kind=KIND_PAYMENT_NEW_ADMIN, dedupe_key=f"payment-new:{payment.pk}"
        )
    outbox_queue([to_customer, *to_admins])


def _notify_refunded(*, payment: Payment, subscription: Subscription | None, now: datetime) -> None:
    customer = payment.customer
    with translation.override(_language(customer.language)):
        text = _("Payment %(payment)s of %(amount)s has been refunded.") % {
            "payment": payment.number,
            "amount": money_format(payment.amount, payment.currency),
        }
        if subscription is not None:
            # Named as every message names it ("Subscription 2 · 3 months").
            title = subscription_title_of(subscription, language=customer.language)
            if subscription.is_running(now):
                text += "\n" + _("%(title)s is now valid until %(expires)s.") % {
                    "title": title,
                    "expires": date_format(subscription.expires_at),
                }
            else:
                text += "\n" + _("%(title)s has ended.") % {"title": title}
        notify_customer(
            customer=customer,
            text=text,
            kind=KIND_PAYMENT_REFUNDED,
            dedupe_key=f"payment-refunded:{payment.pk}",
        )


def _notify_admins_mismatch(*, event: WebhookEvent, error: WebhookError) -> None:
    """A verified notification we refused: money may have been taken. Once per notification."""
    received = str(error.extra.get("received", ""))
    try:
        with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
            notify_admins(
                text=_(
                    "⚠️ %(provider)s notification for payment #%(payment)s was refused "
                    "(%(reason)s: expected %(expected)s, received %(received)s). "
                    "Check it by hand; webhook event #%(event)s."
                )
                % {
                    "provider": escape(event.provider),
                    # Our id (a YooKassa event key is "<event>:<their id>").
                    "payment": escape(str(error.extra.get("payment_id") or event.event_key)),
                    "reason": escape(error.reason),
                    "expected": escape(str(error.extra.get("expected", ""))),
                    "received": escape(received),
                    "event": event.pk,
                },
                kind=KIND_PAYMENT_MISMATCH_ADMIN,
                dedupe_key=(
                    f"payment-mismatch:{event.provider}:{event.event_key}:{error.reason}:{received}"
                )[:150],
            )
    except Exception:  # the alert must never turn a 400 into a 500
        logger.exception(
            "webhook %s #%s: could not queue the admin alert", event.provider, event.pk
        )
