"""Billing reads: payment lookups for pages, totals for the console, revenue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import Customer
from billing.models import (
    BalanceEntry,
    BalanceEntryKind,
    Payment,
    PaymentStatus,
    PromoCode,
    PromoRedemption,
    PromoRedemptionStatus,
    ReferralReward,
)


def payment_get(*, payment_id: int) -> Payment | None:
    return Payment.objects.filter(pk=payment_id).first()


def payment_provider_ref_taken(*, provider: str, provider_ref: str, payment_id: int) -> bool:
    """Whether another payment of `provider` already holds the provider's operation id."""
    return (
        Payment.objects.filter(provider=provider, provider_ref=provider_ref)
        .exclude(pk=payment_id)
        .exists()
    )


def payment_totals(*, queryset: QuerySet[Payment]) -> list[dict]:
    """Sum and count of ``amount`` per status, one row per currency, in ONE grouped query.

    ``queryset`` is whatever the console has filtered; ordering is dropped so it does not
    leak into the GROUP BY.
    """
    aggregates = {}
    for status in PaymentStatus.values:
        aggregates[f"{status}_sum"] = Sum("amount", filter=Q(status=status))
        aggregates[f"{status}_count"] = Count("id", filter=Q(status=status))
    rows = queryset.order_by().values("currency").annotate(**aggregates).order_by("currency")
    return [
        {
            "currency": row["currency"],
            "statuses": [
                {
                    "status": status,
                    "label": label,
                    "sum": row[f"{status}_sum"] or Decimal("0.00"),
                    "count": row[f"{status}_count"],
                }
                for status, label in PaymentStatus.choices
            ],
        }
        for row in rows
    ]


def payments_revenue(
    *, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[Payment]:
    """The payments that are revenue: PAID, with ``since <= paid_at <= until`` (either bound
    may be left open). The one definition of revenue; every figure of it starts here.

    Revenue is the money the shop keeps, counted when it was paid: a payment is revenue
    while its status is PAID, on its ``paid_at``, summed per currency and never mixed across
    currencies (docs/console.md). A refund sets the payment REFUNDED, so it leaves revenue
    in every window, past ones included, instead of being subtracted on the day of the
    refund: the figure for a day is what that day's buyers paid and kept. Pending, failed
    and cancelled payments never took money. What was *credited* (PAID or REFUNDED) is
    ``payments_credited_totals``, not revenue.

    Money on the balance is revenue when it arrives (the top-up payment); a tariff paid from
    the balance (provider ``balance``) only moves it and is left out, or it would count twice.
    """
    payments = Payment.objects.filter(status=PaymentStatus.PAID).exclude(provider="balance")
    if since is not None:
        payments = payments.filter(paid_at__gte=since)
    if until is not None:
        payments = payments.filter(paid_at__lte=until)
    return payments


def revenue_by_currency(
    *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Decimal]:
    """Revenue (``payments_revenue``) per currency in one grouped query; a currency without
    revenue in the window is absent."""
    rows = (
        payments_revenue(since=since, until=until)
        .order_by()
        .values("currency")
        .annotate(amount=Sum("amount"))
        .order_by("currency")
    )
    return {row["currency"]: row["amount"] for row in rows}


def payments_credited_totals() -> list[dict]:
    """Payments ever credited, per provider and currency: ``provider``, ``currency``,
    ``count``, ``amount``. Credited means PAID or REFUNDED (a refund does not undo the
    credit having happened), so the figures only grow, as the metrics' counters must; this
    is not revenue (``payments_revenue``)."""
    return list(
        Payment.objects.filter(
            status__in=[PaymentStatus.PAID, PaymentStatus.REFUNDED], paid_at__isnull=False
        )
        .order_by()
        .values("provider", "currency")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by("provider", "currency")
    )


def promo_codes_with_usage(*, queryset: QuerySet[PromoCode]) -> QuerySet[PromoCode]:
    """`queryset` annotated for the console: ``uses`` (reserved or used), ``revenue`` (what
    the credited payments with the code brought in, refunds included) and ``discount_given``
    (the price cut of its used redemptions; a free grant counts the tariff's price). One
    subquery each, so the joins never multiply one another's rows."""
    redemptions = PromoRedemption.objects.filter(promo=OuterRef("pk")).order_by().values("promo")
    counted = (PromoRedemptionStatus.RESERVED, PromoRedemptionStatus.USED)
    paid = (
        Payment.objects.filter(
            promo=OuterRef("pk"), status__in=(PaymentStatus.PAID, PaymentStatus.REFUNDED)
        )
        .order_by()
        .values("promo")
    )
    zero = Value(Decimal("0"), output_field=DecimalField(max_digits=12, decimal_places=2))
    return queryset.annotate(
        uses=Coalesce(
            Subquery(redemptions.filter(status__in=counted).annotate(n=Count("pk")).values("n")),
            0,
        ),
        revenue=Coalesce(Subquery(paid.annotate(s=Sum("amount")).values("s")), zero),
        discount_given=Coalesce(
            Subquery(
                redemptions.filter(status=PromoRedemptionStatus.USED)
                .annotate(s=Sum("discount"))
                .values("s")
            ),
            zero,
        ),
    )


@dataclass(frozen=True)
class ReferralStats:
    """What a customer's invitations brought: the console's card and the bot's screen."""

    invited: int  # customers registered through their link
    paid: int  # of them, how many made a real-money payment
    earned: Decimal  # the referral ledger entries' sum (rewards less refunds taken back)
    days: int  # days added to their subscriptions, less days taken back


def referral_stats(*, customer_id: int) -> ReferralStats:
    """The referral figures of one customer, in four small queries."""
    invited = Customer.objects.filter(referred_by_id=customer_id)
    paid = (
        Payment.objects.filter(
            customer__referred_by_id=customer_id,
            status__in=[PaymentStatus.PAID, PaymentStatus.REFUNDED],
            amount__gt=0,
        )
        .exclude(provider="balance")
        .values("customer_id")
        .distinct()
        .count()
    )
    earned = BalanceEntry.objects.filter(
        customer_id=customer_id, kind=BalanceEntryKind.REFERRAL
    ).aggregate(total=Sum("amount"))["total"]
    days = ReferralReward.objects.filter(inviter_id=customer_id).aggregate(
        given=Sum("days"), revoked=Sum("days_revoked")
    )
    return ReferralStats(
        invited=invited.count(),
        paid=paid,
        # Quantized: SQLite sums decimals as floats.
        earned=(earned or Decimal("0")).quantize(Decimal("0.01")),
        days=(days["given"] or 0) - (days["revoked"] or 0),
    )
