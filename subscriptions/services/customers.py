"""Operator actions on customers: ban and unban (their keys follow), a message from the console.

The ban flag lives on ``accounts.Customer``; what it means for the keys is decided here,
above the layers it reaches (keys, the outbox).
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write, model_update
from notifications.services import TELEGRAM_TEXT_LIMIT, notify_customer
from subscriptions.models import Subscription
from subscriptions.operator_notifications import notify_customer_banned, notify_customer_unbanned
from subscriptions.services.keys import subscription_keys_converge

logger = logging.getLogger(__name__)

CUSTOMER_MESSAGE_KIND = "operator-message"
BANNED_REASON_MAX_LENGTH = Customer._meta.get_field("banned_reason").max_length


def _customer_keys_converge(*, customer: Customer, now: datetime) -> int:
    """Converge the keys of every subscription of `customer` (enable follows the ban flag)."""
    subscriptions = list(Subscription.objects.filter(customer=customer).order_by("pk"))
    for subscription in subscriptions:
        subscription_keys_converge(subscription=subscription, now=now)
    return len(subscriptions)


@transaction.atomic
def customer_ban(
    *, customer: Customer, reason: str, actor, now: datetime | None = None
) -> Customer:
    """Ban a customer: every key of theirs is disabled on its panel, they are told, audited.

    The keys follow the flag through `subscription_keys_converge` (a banned customer's keys are
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
        data={"is_banned": True, "banned_reason": reason[:BANNED_REASON_MAX_LENGTH]},
    )
    synced = _customer_keys_converge(customer=locked, now=now)
    audit = audit_log_write(
        event_type=AuditEvent.CUSTOMER_BANNED,
        obj=locked,
        acting_user=actor,
        customer_id=locked.pk,
        message=f"banned: {reason}",
        extra_data={"reason": reason, "subscriptions_resynced": synced},
    )
    notify_customer_banned(customer=locked, audit_id=audit.pk)
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
    synced = _customer_keys_converge(customer=locked, now=now)
    audit = audit_log_write(
        event_type=AuditEvent.CUSTOMER_UNBANNED,
        obj=locked,
        acting_user=actor,
        customer_id=locked.pk,
        message=f"unbanned{': ' + reason.strip() if reason.strip() else ''}",
        extra_data={"ban_reason": before, "subscriptions_resynced": synced},
    )
    notify_customer_unbanned(customer=locked, audit_id=audit.pk)
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
