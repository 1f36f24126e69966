"""What an operator did, told to the customer: an extension, an early end, a device reset, a
ban and its lifting (issue 19).

Each message goes through the outbox in the customer's language, once: its dedupe key names
the change (the expiry it led to, the audit row that recorded it), so a retried call queues
nothing new and the next change is told again. A payment's own messages (billing) are not
these: the services call these only for an operator's action.
"""

from datetime import UTC, datetime
from html import escape

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Customer
from notifications import callbacks, texts
from notifications.formatting import date_format
from notifications.models import OutboxMessage
from notifications.services import customer_message, notify_customer
from subscriptions.models import Subscription

KIND_EXTENDED = "subscription-extended"
KIND_ENDED_BY_OPERATOR = "subscription-ended-by-operator"
KIND_DEVICES_RESET = "devices-reset"
KIND_BANNED = "customer-banned"
KIND_UNBANNED = "customer-unbanned"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _support_row(language: str) -> list[list[dict]]:
    """The support contact's button, when one is set (``notifications.texts.support_url``)."""
    url = texts.support_url()
    return [[{"text": texts.button_support(language=language), "url": url}]] if url else []


def _card_button(subscription: Subscription, language: str) -> dict:
    return {
        "text": texts.button_my_subscriptions(language=language),
        "callback_data": callbacks.subscription_data(callbacks.SUB_VIEW, subscription.pk),
    }


def _menu_button(language: str) -> dict:
    return {"text": texts.button_menu(language=language), "callback_data": callbacks.MENU}


def notify_subscription_extended(*, subscription: Subscription, days: int) -> None:
    """An operator added `days`: the new end date, once per extension (the dedupe key names
    the expiry it led to, so two extensions of the same length are two messages)."""
    customer = subscription.customer
    if customer.is_banned:
        return
    language = customer.language
    with translation.override(language):
        text = ngettext(
            "🎉 %(title)s is extended by %(days)s day. It is valid until %(date)s.",
            "🎉 %(title)s is extended by %(days)s days. It is valid until %(date)s.",
            days,
        ) % {
            "title": texts.subscription_title_of(subscription, language=language),
            "days": days,
            "date": escape(date_format(subscription.expires_at)),
        }
        notify_customer(
            customer=customer,
            text=text,
            reply_markup={"inline_keyboard": [[_card_button(subscription, language)]]},
            kind=KIND_EXTENDED,
            dedupe_key=f"extended:{subscription.pk}:{_utc(subscription.expires_at)}",
        )


def subscription_ended_by_operator_message(*, subscription: Subscription) -> OutboxMessage | None:
    """The unsaved "support ended your subscription" row, or None for a banned customer (the
    ban message said so). Its dedupe key is the expiry's, as the sweep's "has ended"
    (``subscription_expired_message``): one expiry is told once, whoever ended it."""
    customer = subscription.customer
    if customer.is_banned:
        return None
    language = customer.language
    with translation.override(language):
        text = _(
            "⛔ %(title)s was ended by our support team, and its keys are switched off.\n"
            "If you think this is a mistake, write to support."
        ) % {"title": texts.subscription_title_of(subscription, language=language)}
        return customer_message(
            customer=customer,
            text=text,
            reply_markup={
                "inline_keyboard": [
                    *_support_row(language),
                    [_card_button(subscription, language), _menu_button(language)],
                ]
            },
            kind=KIND_ENDED_BY_OPERATOR,
            dedupe_key=f"expired:{subscription.pk}:{_utc(subscription.expires_at)}",
        )


def notify_devices_reset(*, subscription: Subscription, labels: list[str], audit_id: int) -> None:
    """An operator removed the subscription's devices (`labels`, as the bot names them): each
    app is recorded again at its next update. Once per reset (its audit row)."""
    customer = subscription.customer
    if customer.is_banned:
        return
    language = customer.language
    with translation.override(language):
        head = ngettext(
            "📱 %(title)s: our support team removed %(count)s device:",
            "📱 %(title)s: our support team removed %(count)s devices:",
            len(labels),
        ) % {
            "title": texts.subscription_title_of(subscription, language=language),
            "count": len(labels),
        }
        lines = [head, *(f"• {escape(label)}" for label in labels), ""]
        lines.append(
            _(
                "Your apps keep working: each is added again when it next updates the "
                "subscription, up to the device limit."
            )
        )
        notify_customer(
            customer=customer,
            text="\n".join(lines),
            reply_markup={
                "inline_keyboard": [*_support_row(language), [_card_button(subscription, language)]]
            },
            kind=KIND_DEVICES_RESET,
            dedupe_key=f"devices-reset:{subscription.pk}:{audit_id}",
        )


def notify_customer_banned(*, customer: Customer, audit_id: int) -> None:
    """The ban, with the support button; once per ban (its audit row)."""
    language = customer.language
    with translation.override(language):
        notify_customer(
            customer=customer,
            text=_(
                "Your VPN access has been suspended by an administrator. "
                "If you think this is a mistake, contact support."
            ),
            reply_markup={"inline_keyboard": _support_row(language)}
            if texts.support_url()
            else None,
            kind=KIND_BANNED,
            parse_mode="",
            dedupe_key=f"banned:{customer.pk}:{audit_id}",
        )


def notify_customer_unbanned(*, customer: Customer, audit_id: int) -> None:
    """The ban is lifted: the keys work again; once per unban (its audit row)."""
    language = customer.language
    with translation.override(language):
        notify_customer(
            customer=customer,
            text=_("Your VPN access has been restored. Your keys work again."),
            reply_markup={
                "inline_keyboard": [
                    [
                        {
                            "text": texts.button_my_subscriptions(language=language),
                            "callback_data": callbacks.SUBSCRIPTIONS,
                        },
                        _menu_button(language),
                    ]
                ]
            },
            kind=KIND_UNBANNED,
            parse_mode="",
            dedupe_key=f"unbanned:{customer.pk}:{audit_id}",
        )
