"""Billing reads: payment lookups for pages, totals for the console."""

from __future__ import annotations

from decimal import Decimal

from django.db import connections, router
from django.db.models import Count, Q, QuerySet, Sum

from billing.models import Payment, PaymentStatus


def payment_get(*, payment_id: int) -> Payment | None:
    return Payment.objects.filter(pk=payment_id).first()


def payment_provider_ref_taken(*, provider: str, provider_ref: str, payment_id: int) -> bool:
    """Whether another payment of `provider` already holds the provider's operation id.

    Runs for every credit on the webhook path, so it is one hand-written statement: the ORM
    spends several times longer building this query (an ``exists()``, or an ``Exists``
    annotation on the locking select) than the database spends answering it from the
    unique index. Parameters are bound; table and column names come from the model.
    """
    meta = Payment._meta
    connection = connections[router.db_for_read(Payment)]
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    provider_col = quote(meta.get_field("provider").column)
    ref_col = quote(meta.get_field("provider_ref").column)
    sql = (
        f"SELECT 1 FROM {table} WHERE {provider_col} = %s AND {ref_col} = %s AND {pk} <> %s LIMIT 1"  # noqa: S608
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [provider, provider_ref, payment_id])
        return cursor.fetchone() is not None


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
