"""Billing reads: payment lookups for pages, totals for the console, revenue."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Count, DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from billing.models import Payment, PaymentStatus, PromoCode, PromoRedemption, PromoRedemptionStatus


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
