"""Referral rewards: the inviter (``Customer.referred_by`` of the payer) earns from the
invitee's real-money payments, in the transaction that credits the payment.

Rules (runtime settings, console "Referral rewards"; defaults from the environment):
``REFERRAL_PERCENT`` of the payment into the inviter's balance (roubles only: a Telegram Stars
payment gives no percentage), ``REFERRAL_DAYS`` onto the inviter's running subscription, for
every payment (``REFERRAL_EVERY_PAYMENT``) or only the invitee's first real-money payment.

What counts: a credited payment with money in it from outside the shop -- a tariff paid
through a provider, a manual (cash) payment, and a balance top-up. A tariff paid from the
balance (provider ``balance``, auto-renew included) never counts: that money was counted when
it was topped up.

Exactly once: one ``ReferralReward`` per payment (its unique ``payment``) and the ledger's
unique ``referral:<payment id>``; the credit holds the payment's row lock, and the invitee's
row is locked here so two payments of one invitee decide "first" one after the other.
A refund takes the reward back once (``referral-refund:<payment id>``): the days, and as much
of the money as the inviter's balance still holds (it never goes below zero); the rest is
logged and the admins are told.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import Customer
from billing.models import BalanceEntryKind, Payment, PaymentStatus, ReferralReward
from billing.services.ledger import BALANCE_CURRENCY, BALANCE_PROVIDER, CENT, balance_entry_add
from core.runtime_settings import runtime_settings
from notifications.formatting import days as days_format
from notifications.formatting import money_format
from notifications.services import notify_admins, notify_customer
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.services.lifecycle import subscription_extend, subscription_shorten

logger = logging.getLogger(__name__)

KIND_REFERRAL_SHORTFALL_ADMIN = "referral_shortfall"
KIND_REFERRAL_REWARD = "referral-reward"
KIND_REFERRAL_REVOKED = "referral-revoked"


def referral_rules() -> tuple[int, int, bool]:
    """(percent, days, every payment) as set now; a value out of range counts as 0."""
    values = runtime_settings()
    percent = int(values.get("REFERRAL_PERCENT") or 0)
    days = int(values.get("REFERRAL_DAYS") or 0)
    return (
        percent if 0 < percent <= 100 else 0,
        days if days > 0 else 0,
        bool(values.get("REFERRAL_EVERY_PAYMENT")),
    )


def payment_counts_for_referral(payment: Payment) -> bool:
    """Real money from outside the shop: not a purchase from the balance, not free."""
    return payment.provider != BALANCE_PROVIDER and payment.amount > 0


def _earlier_counted_payment(*, payment: Payment) -> bool:
    return (
        Payment.objects.filter(
            customer_id=payment.customer_id,
            status__in=[PaymentStatus.PAID, PaymentStatus.REFUNDED],
            amount__gt=0,
        )
        .exclude(provider=BALANCE_PROVIDER)
        .exclude(pk=payment.pk)
        .exists()
    )


def _running_subscription(*, customer_id: int, now: datetime) -> Subscription | None:
    """The inviter's running subscription that ends first (the one most in need)."""
    return (
        Subscription.objects.filter(
            customer_id=customer_id, status=SubscriptionStatus.ACTIVE, expires_at__gt=now
        )
        .order_by("expires_at", "pk")
        .first()
    )


@transaction.atomic
def referral_reward_grant(*, payment: Payment, now: datetime) -> ReferralReward | None:
    """Reward the payer's inviter for the credited `payment`, once; None when nothing is due.

    Called by the credit (``_payment_credit``) with the payment locked and already PAID.
    """
    if not payment_counts_for_referral(payment):
        return None
    percent, days, every = referral_rules()
    if not percent and not days:
        return None
    # The invitee's row: two payments of one invitee decide "first" one after the other.
    invitee = (
        Customer.objects.select_for_update().only("pk", "referred_by").get(pk=payment.customer_id)
    )
    inviter_id = invitee.referred_by_id
    if inviter_id is None or inviter_id == invitee.pk:
        return None
    existing = ReferralReward.objects.filter(payment=payment).first()
    if existing is not None:
        return existing
    if not every and _earlier_counted_payment(payment=payment):
        return None
    amount = Decimal("0")
    if percent and payment.currency.upper() == BALANCE_CURRENCY:
        amount = (payment.amount * percent / Decimal(100)).quantize(CENT, rounding=ROUND_DOWN)
    subscription = _running_subscription(customer_id=inviter_id, now=now) if days else None
    if not amount and subscription is None:
        return None
    reward = ReferralReward.objects.create(
        payment=payment,
        inviter_id=inviter_id,
        invitee_id=invitee.pk,
        amount=amount,
        days=days if subscription is not None else 0,
        subscription=subscription,
    )
    if amount:
        balance_entry_add(
            customer_id=inviter_id,
            amount=amount,
            kind=BalanceEntryKind.REFERRAL,
            source_key=f"referral:{payment.pk}",
            payment=payment,
            reason=f"{percent}% of payment #{payment.pk} of customer #{invitee.pk}",
        )
    if subscription is not None:
        subscription_extend(
            subscription=subscription,
            days=days,
            actor_label="referral",
            reason=f"referral reward for payment #{payment.pk} of customer #{invitee.pk}",
            now=now,
            # As the credit itself: missing keys are placed by a task after commit.
            place_keys_now=False,
        )
    _tell_inviter(reward=reward, amount=amount, days=reward.days, revoked=False)
    logger.info(
        "referral reward for payment #%s: customer #%s gets %s RUB, %s days",
        payment.pk,
        inviter_id,
        amount,
        reward.days,
    )
    return reward


@transaction.atomic
def referral_reward_revoke(*, payment: Payment, now: datetime) -> ReferralReward | None:
    """Take back the reward of the refunded `payment`, once; None when it had none."""
    reward = ReferralReward.objects.select_for_update().filter(payment=payment).first()
    if reward is None or reward.revoked_at is not None:
        return reward
    if reward.amount:
        # The inviter's row, locked by the ledger too: what the balance holds right now.
        balance = (
            Customer.objects.select_for_update()
            .values_list("balance", flat=True)
            .get(pk=reward.inviter_id)
        )
        take = min(reward.amount, balance)
        if take > 0:
            balance_entry_add(
                customer_id=reward.inviter_id,
                amount=-take,
                kind=BalanceEntryKind.REFERRAL,
                source_key=f"referral-refund:{payment.pk}",
                payment=payment,
                reason=f"payment #{payment.pk} refunded",
            )
        reward.amount_revoked = take
        if take < reward.amount:
            _alert_shortfall(reward=reward, missing=reward.amount - take)
    if reward.days and reward.subscription_id:
        subscription_shorten(
            subscription=Subscription(pk=reward.subscription_id),
            days=reward.days,
            actor_label="referral",
            reason=f"payment #{payment.pk} refunded: referral days taken back",
            now=now,
        )
        reward.days_revoked = reward.days
    reward.revoked_at = now
    reward.save(update_fields=["amount_revoked", "days_revoked", "revoked_at", "updated_at"])
    if reward.amount_revoked or reward.days_revoked:
        _tell_inviter(
            reward=reward, amount=reward.amount_revoked, days=reward.days_revoked, revoked=True
        )
    return reward


def _tell_inviter(*, reward: ReferralReward, amount: Decimal, days: int, revoked: bool) -> None:
    """One message per reward (and one per taking back), in the inviter's language."""
    inviter = Customer.objects.get(pk=reward.inviter_id)
    language = inviter.language if inviter.language in ("ru", "en") else "ru"
    with translation.override(language):
        parts = []
        if amount:
            parts.append(
                _("%(amount)s on your balance") % {"amount": money_format(amount, BALANCE_CURRENCY)}
            )
        if days:
            parts.append(_("%(days)s on your subscription") % {"days": days_format(days)})
        if revoked:
            text = _(
                "↩️ A payment of a friend you invited was refunded, so the reward is taken "
                "back: %(reward)s."
            )
        else:
            text = _("🤝 A friend you invited has paid. Your reward: %(reward)s.")
        kind = KIND_REFERRAL_REVOKED if revoked else KIND_REFERRAL_REWARD
        notify_customer(
            customer=inviter,
            text=text % {"reward": ", ".join(parts)},
            kind=kind,
            dedupe_key=f"{kind}:{reward.payment_id}",
        )


def _alert_shortfall(*, reward: ReferralReward, missing: Decimal) -> None:
    """The inviter had spent part of the reward: the balance stays at zero, admins decide."""
    logger.warning(
        "referral reward of payment #%s: %s RUB could not be taken back from customer #%s",
        reward.payment_id,
        missing,
        reward.inviter_id,
    )
    with translation.override(settings.LANGUAGE_CODE):
        notify_admins(
            text=_(
                "⚠️ Referral reward of refunded payment #%(payment)s: %(missing)s ₽ of "
                "%(amount)s ₽ could not be taken back, customer #%(customer)s spent it."
            )
            % {
                "payment": reward.payment_id,
                "missing": missing,
                "amount": reward.amount,
                "customer": reward.inviter_id,
            },
            kind=KIND_REFERRAL_SHORTFALL_ADMIN,
            dedupe_key=f"referral-shortfall:{reward.payment_id}",
        )
