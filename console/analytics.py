"""The console's analytics page: revenue, conversion, churn, ARPU, cohorts, referrers and promo
codes over a period (docs/console.md "Analytics", where each figure is defined).

Reads only, as ORM aggregates, in a fixed number of queries whatever the size of the tables.
Money is Decimal and never added across currencies (roubles and Telegram Stars, XTR, stay
apart). Days, weeks (from Monday) and months are calendar ones in settings.TIME_ZONE.

Revenue is billing's one definition (``billing.selectors.payments_revenue``): PAID payments
by ``paid_at``, the balance's own purchases left out. A refund makes its payment REFUNDED, so
the refunded amount leaves revenue in the period it was paid in ("removed from the
original"); the refunds made in a period are shown beside it, by ``refunded_at``, and are not
subtracted a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Exists, F, Min, OuterRef, Q, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from accounts.models import Customer
from billing.models import (
    Payment,
    PaymentPurpose,
    PaymentStatus,
    PromoRedemption,
    PromoRedemptionStatus,
    ReferralReward,
)
from billing.selectors import payments_revenue
from console.selectors import local_midnight
from subscriptions.models import Subscription

GROUPINGS = ("day", "week", "month")
TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
COHORT_MONTHS = 12
TOP = 10
ZERO = Decimal("0.00")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Period:
    """``since <= t < until``, both aware; ``grouping`` one of GROUPINGS."""

    since: datetime
    until: datetime
    grouping: str
    tz: ZoneInfo

    @property
    def first_day(self) -> date:
        return self.since.astimezone(self.tz).date()

    @property
    def last_day(self) -> date:
        return (self.until - timedelta(microseconds=1)).astimezone(self.tz).date()


def period_last_days(*, days: int, grouping: str, now: datetime | None = None) -> Period:
    """The last `days` calendar days, today included, up to now."""
    now = now or timezone.now()
    tz = ZoneInfo(settings.TIME_ZONE)
    today = now.astimezone(tz).date()
    return Period(local_midnight(today - timedelta(days=days - 1), tz), now, grouping, tz)


def period_between(
    *, first: date, last: date, grouping: str, now: datetime | None = None
) -> Period:
    """Calendar days `first` … `last` (both included), cut at now."""
    now = now or timezone.now()
    tz = ZoneInfo(settings.TIME_ZONE)
    until = min(local_midnight(last + timedelta(days=1), tz), now)
    since = local_midnight(first, tz)
    return Period(since, max(until, since), grouping, tz)


def _month_add(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def bucket_start(day: date, grouping: str) -> date:
    if grouping == "week":
        return day - timedelta(days=day.weekday())
    if grouping == "month":
        return day.replace(day=1)
    return day


def bucket_next(day: date, grouping: str) -> date:
    if grouping == "week":
        return day + timedelta(days=7)
    if grouping == "month":
        return _month_add(day, 1)
    return day + timedelta(days=1)


def buckets(period: Period) -> list[date]:
    """The start of every day, week (Monday) or month the period touches."""
    starts, day = [], bucket_start(period.first_day, period.grouping)
    while day <= period.last_day:
        starts.append(day)
        day = bucket_next(day, period.grouping)
    return starts


@dataclass
class Row:
    """One line of a breakdown: a label and a Decimal per currency."""

    key: object
    label: str
    amounts: dict[str, Decimal] = field(default_factory=dict)
    payments: int = 0


@dataclass
class Analytics:
    period: Period
    currencies: list[str]
    # Per bucket start: {currency: Decimal}, and paid payments counted in it.
    series: list[tuple[date, dict[str, Decimal], int]]
    revenue: dict[str, Decimal]
    refunds: dict[str, Decimal]
    refunds_count: int
    payments: int
    by_provider: list[Row]
    by_tariff: list[Row]
    # Per currency: paying customers and ARPU (revenue / paying customers).
    paying: dict[str, int]
    arpu: dict[str, Decimal]
    # Customers paying in the period (any currency), and those of them who paid first ever.
    paying_total: int
    paying_new: int
    trials: int
    trials_converted: int
    renewals: int
    lapsed: int
    # (cohort month, size, [(month, retained count, percent or None)…]) oldest first.
    cohorts: list[tuple[date, int, list[tuple[date, int, Decimal]]]]
    cohort_months: list[date]
    referrers_by_customers: list[dict]
    referrers_by_rewards: list[dict]
    promos: list[dict]

    @property
    def paying_returning(self) -> int:
        return self.paying_total - self.paying_new

    @property
    def is_empty(self) -> bool:
        return not (
            self.payments
            or self.refunds_count
            or self.trials
            or self.lapsed
            or self.renewals
            or self.referrers_by_customers
            or self.referrers_by_rewards
            or self.promos
            or any(size for _month, size, _cells in self.cohorts)
        )

    @property
    def conversion_rate(self) -> Decimal | None:
        return percent(self.trials_converted, self.trials)

    @property
    def renewal_rate(self) -> Decimal | None:
        return percent(self.renewals, self.renewals + self.lapsed)

    @property
    def churn_rate(self) -> Decimal | None:
        return percent(self.lapsed, self.renewals + self.lapsed)


def money(value) -> Decimal:
    """A sum as money: two places (SQLite's sums of decimals come back with more)."""
    return Decimal(value or 0).quantize(CENT)


def percent(part: int, whole: int) -> Decimal | None:
    """`part` of `whole` in per cent to 0.1; None (shown "—") when `whole` is 0."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def _local_date(value: datetime | date, tz: ZoneInfo) -> date:
    if isinstance(value, datetime):
        return value.astimezone(tz).date() if timezone.is_aware(value) else value.date()
    return value


def _in(period: Period, prefix: str) -> Q:
    return Q(**{f"{prefix}__gte": period.since, f"{prefix}__lt": period.until})


def _revenue_series(period: Period) -> tuple[list, dict[str, Decimal], int]:
    trunc = TRUNC[period.grouping]
    rows = (
        payments_revenue(since=period.since)
        .filter(paid_at__lt=period.until)
        .annotate(bucket=trunc("paid_at", tzinfo=period.tz))
        .order_by()
        .values("bucket", "currency")
        .annotate(amount=Sum("amount"), count=Count("id"))
    )
    by_bucket: dict[date, dict[str, Decimal]] = {}
    counts: dict[date, int] = {}
    totals: dict[str, Decimal] = {}
    for row in rows:
        day = _local_date(row["bucket"], period.tz)
        amounts = by_bucket.setdefault(day, {})
        amount = money(row["amount"])
        amounts[row["currency"]] = amounts.get(row["currency"], ZERO) + amount
        counts[day] = counts.get(day, 0) + row["count"]
        totals[row["currency"]] = totals.get(row["currency"], ZERO) + amount
    series = [(day, by_bucket.get(day, {}), counts.get(day, 0)) for day in buckets(period)]
    return series, totals, sum(counts.values())


def _breakdowns(period: Period) -> tuple[list[Row], list[Row], dict[str, Decimal], int, int]:
    """Revenue by provider and by tariff, refunds made in the period, and renewals, in one
    grouped query over the payments paid or refunded in the period."""
    paid = Q(status=PaymentStatus.PAID) & _in(period, "paid_at")
    refunded = Q(status=PaymentStatus.REFUNDED) & _in(period, "refunded_at")
    kept = ~Q(provider="balance")
    renewal = paid & Q(
        purpose=PaymentPurpose.SUBSCRIPTION, subscription__started_at__lt=F("created_at")
    )
    rows = (
        Payment.objects.filter(paid | refunded)
        .order_by()
        .values("provider", "tariff_id", "tariff__name", "purpose", "currency")
        .annotate(
            total=Sum("amount", filter=paid & kept),
            count=Count("id", filter=paid & kept),
            refunded=Sum("amount", filter=refunded & kept),
            refunds=Count("id", filter=refunded & kept),
            renewals=Count("id", filter=renewal),
        )
    )
    providers: dict[str, Row] = {}
    tariffs: dict[object, Row] = {}
    refunds: dict[str, Decimal] = {}
    refunds_count = renewals = 0
    for row in rows:
        renewals += row["renewals"]
        if row["refunds"]:
            currency = row["currency"]
            refunds[currency] = refunds.get(currency, ZERO) + money(row["refunded"])
            refunds_count += row["refunds"]
        if not row["count"]:
            continue
        top_up = row["purpose"] == PaymentPurpose.TOP_UP
        key = "top_up" if top_up else row["tariff_id"]
        for target, target_key, label in (
            (providers, row["provider"], row["provider"]),
            (tariffs, key, None if top_up else row["tariff__name"]),
        ):
            line = target.setdefault(target_key, Row(target_key, label or ""))
            line.amounts[row["currency"]] = line.amounts.get(row["currency"], ZERO) + money(
                row["total"]
            )
            line.payments += row["count"]

    def ordered(lines) -> list[Row]:
        return sorted(lines, key=lambda line: (-line.payments, str(line.label)))

    return (
        ordered(providers.values()),
        ordered(tariffs.values()),
        refunds,
        refunds_count,
        renewals,
    )


def _paying(period: Period) -> tuple[dict[str, int], int, int]:
    """Paying customers per currency, and in all: how many paid for the first time ever.

    A customer is new when their first revenue payment ever falls in the period: one grouped
    MIN over the revenue payments, rather than a probe for an earlier payment per payment of
    the period (docs/console.md "Analytics", bench/README.md)."""
    base = payments_revenue(since=period.since).filter(paid_at__lt=period.until)
    per_currency = {
        row["currency"]: row["customers"]
        for row in base.order_by()
        .values("currency")
        .annotate(customers=Count("customer_id", distinct=True))
    }
    total = base.aggregate(customers=Count("customer_id", distinct=True))["customers"]
    new = (
        payments_revenue()
        .order_by()
        .values("customer_id")
        .annotate(first=Min("paid_at"))
        .filter(first__gte=period.since, first__lt=period.until)
        .count()
    )
    return per_currency, total, new


def _subscriptions(period: Period, now: datetime) -> dict:
    """Trials started in the period (and converted), paid subscriptions that lapsed in it."""
    end = min(period.until, now)
    paid_after = payments_revenue().filter(
        customer_id=OuterRef("customer_id"), paid_at__gt=OuterRef("started_at")
    )
    paid_before = payments_revenue().filter(
        customer_id=OuterRef("customer_id"), paid_at__lte=OuterRef("started_at")
    )
    # A trial that was the customer's start: nothing paid before it.
    trial = Q(is_trial=True) & _in(period, "started_at") & ~Q(Exists(paid_before))
    lapsed = Q(is_trial=False, expires_at__gte=period.since, expires_at__lt=end)
    return Subscription.objects.filter(trial | lapsed).aggregate(
        trials=Count("customer_id", distinct=True, filter=trial),
        converted=Count("customer_id", distinct=True, filter=trial & Q(Exists(paid_after))),
        lapsed=Count("id", filter=lapsed),
    )


def _cohorts(now: datetime, tz: ZoneInfo) -> tuple[list, list[date]]:
    """Monthly cohorts of the last COHORT_MONTHS months by first paid payment, and how many
    of each had a paid (not trial) subscription running during each month since."""
    this_month = now.astimezone(tz).date().replace(day=1)
    months = [_month_add(this_month, offset) for offset in range(1 - COHORT_MONTHS, 1)]
    starts = [local_midnight(month, tz) for month in months]
    ends = [local_midnight(_month_add(month, 1), tz) for month in months]
    earlier = payments_revenue().filter(
        customer_id=OuterRef("customer_id"), paid_at__lt=OuterRef("paid_at")
    )
    running = {
        f"m{index}": Count(
            "customer_id",
            distinct=True,
            filter=Q(
                customer__subscriptions__is_trial=False,
                customer__subscriptions__started_at__lt=min(end, now),
                customer__subscriptions__expires_at__gt=start,
            ),
        )
        for index, (start, end) in enumerate(zip(starts, ends, strict=True))
    }
    rows = (
        payments_revenue(since=starts[0])
        .filter(paid_at__lt=now)
        .exclude(Exists(earlier))
        .annotate(cohort=TruncMonth("paid_at", tzinfo=tz))
        .order_by()
        .values("cohort")
        .annotate(size=Count("customer_id", distinct=True), **running)
    )
    found = {_local_date(row["cohort"], tz): row for row in rows}
    cohorts = []
    for index, month in enumerate(months):
        row = found.get(month)
        size = row["size"] if row else 0
        cells = [
            (later, row[f"m{later_index}"] if row else 0)
            for later_index, later in enumerate(months)
            if later_index >= index
        ]
        cohorts.append((month, size, [(m, n, percent(n, size)) for m, n in cells]))
    return cohorts, months


def _referrers(period: Period) -> tuple[list[dict], list[dict]]:
    by_customers = list(
        Customer.objects.filter(referred_by__isnull=False)
        .filter(_in(period, "created_at"))
        .order_by()
        .values("referred_by_id", "referred_by__username", "referred_by__telegram_id")
        .annotate(invited=Count("id"))
        .order_by("-invited", "referred_by_id")[:TOP]
    )
    by_rewards = [
        {**row, "net_amount": money(row["net_amount"])}
        for row in ReferralReward.objects.filter(_in(period, "created_at"))
        .order_by()
        .values("inviter_id", "inviter__username", "inviter__telegram_id")
        .annotate(
            rewards=Count("id"),
            net_amount=Sum(F("amount") - F("amount_revoked")),
            net_days=Sum(F("days") - F("days_revoked")),
        )
        .order_by("-net_amount", "-net_days", "inviter_id")[:TOP]
    ]
    return by_customers, by_rewards


def _promos(period: Period) -> list[dict]:
    """Used redemptions whose payment was paid in the period (free grants: made in it)."""
    used = PromoRedemption.objects.filter(status=PromoRedemptionStatus.USED).filter(
        _in(period, "payment__paid_at") | (Q(payment__isnull=True) & _in(period, "created_at"))
    )
    kept = Q(payment__status=PaymentStatus.PAID) & ~Q(payment__provider="balance")
    rows = (
        used.order_by()
        .values("promo_id", "promo__code", "promo__kind", "payment__currency")
        .annotate(
            uses=Count("id"),
            revenue=Sum("payment__amount", filter=kept),
            discount_total=Sum("discount"),
            days_total=Sum("days"),
        )
        .order_by("-uses", "promo__code")[:TOP]
    )
    return [
        {
            **row,
            "revenue": None if row["revenue"] is None else money(row["revenue"]),
            "discount_total": money(row["discount_total"]),
        }
        for row in rows
    ]


def analytics_get(*, period: Period, now: datetime | None = None) -> Analytics:
    """Every figure of the analytics page for `period`, in ten queries."""
    now = now or timezone.now()
    series, revenue, payments = _revenue_series(period)
    by_provider, by_tariff, refunds, refunds_count, renewals = _breakdowns(period)
    paying, paying_total, paying_new = _paying(period)
    subs = _subscriptions(period, now)
    cohorts, months = _cohorts(now, period.tz)
    by_customers, by_rewards = _referrers(period)
    site = settings.PAYMENT_CURRENCY
    currencies = sorted(set(revenue) | set(refunds) | {site}, key=lambda c: (c != site, c))
    return Analytics(
        period=period,
        currencies=currencies,
        series=series,
        revenue={c: revenue.get(c, ZERO) for c in currencies},
        refunds={c: refunds.get(c, ZERO) for c in currencies},
        refunds_count=refunds_count,
        payments=payments,
        by_provider=by_provider,
        by_tariff=by_tariff,
        paying={c: paying.get(c, 0) for c in currencies},
        arpu={
            c: (revenue[c] / paying[c]).quantize(CENT)
            for c in currencies
            if paying.get(c) and c in revenue
        },
        paying_total=paying_total,
        paying_new=paying_new,
        trials=subs["trials"],
        trials_converted=subs["converted"],
        renewals=renewals,
        lapsed=subs["lapsed"],
        cohorts=cohorts,
        cohort_months=months,
        referrers_by_customers=by_customers,
        referrers_by_rewards=by_rewards,
        promos=_promos(period),
    )
