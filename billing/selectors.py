"""Billing reads: payment lookups for pages, totals for the console."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from billing.models import Payment, PaymentStatus


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
    totals = []
    for row in rows:
        totals.append(
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
        )
    return totals
