"""Reads behind the checkout's questions (was something bought since a button was shown?)
and the country choice of a subscription."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, Subquery

from accounts.models import Customer
from billing.models import Payment, PaymentStatus
from notifications.texts import subscription_title, tariff_name
from subscriptions.models import Subscription
from subscriptions.selectors import nodes_eligible


@dataclass(frozen=True)
class Purchase:
    """A credited payment: what it bought and for which subscription."""

    payment_id: int
    tariff_name: str  # in the customer's language
    subscription_id: int
    subscription_number: int  # the customer's own (Subscription.number), what messages show
    paid_at: datetime


def purchase_since(*, customer: Customer, shown_at: datetime) -> Purchase | None:
    """The customer's latest payment credited after a message was last shown (sent or
    edited) at `shown_at`, or None. Telegram dates a message to the second: a payment in
    that same second counts as before it."""
    payment = (
        Payment.objects.filter(
            customer=customer,
            status=PaymentStatus.PAID,
            paid_at__gte=shown_at.replace(microsecond=0) + timedelta(seconds=1),
            subscription__isnull=False,
        )
        .select_related("tariff", "subscription")
        .order_by("-paid_at", "-pk")
        .first()
    )
    if payment is None:
        return None
    return Purchase(
        payment_id=payment.pk,
        tariff_name=tariff_name(
            name=payment.tariff.name, name_en=payment.tariff.name_en, language=customer.language
        ),
        subscription_id=payment.subscription_id,
        subscription_number=payment.subscription.number,
        paid_at=payment.paid_at,
    )


@dataclass(frozen=True)
class CountryChoice:
    """Where a subscription's keys may live: its country ("" = any) and the offered ones."""

    subscription_id: int
    title: str  # "Subscription 2 · 3 months" (``subscription_title``), HTML-escaped
    country: str
    countries: tuple[str, ...]


def subscription_countries_get(
    *, customer: Customer, subscription_id: int, now: datetime | None = None
) -> CountryChoice | None:
    """The country choice of the customer's running paid subscription, or None (not
    theirs, not running, a trial, or its tariff allows fewer than two countries: the
    countries are ``subscriptions.services.countries.tariff_countries``)."""
    subscription = Subscription.objects.running(now).filter(
        pk=subscription_id, customer=customer, is_trial=False
    )
    # One query: the countries of the nodes its tariff allows, with its own country.
    rows = list(
        nodes_eligible(tariff=None, tariff_id=Subquery(subscription.values("tariff_id")[:1]))
        .filter(Exists(subscription))
        .exclude(country="")
        .annotate(
            current=Subquery(subscription.values("country")[:1]),
            number=Subquery(subscription.values("number")[:1]),
            tariff_ru=Subquery(subscription.values("tariff__name")[:1]),
            tariff_en=Subquery(subscription.values("tariff__name_en")[:1]),
        )
        .values_list("country", "current", "number", "tariff_ru", "tariff_en")
        .distinct()
    )
    countries = sorted({row[0].upper() for row in rows})
    if len(countries) < 2:
        return None
    _country, current, number, name, name_en = rows[0]
    title = subscription_title(
        number=number,
        tariff=tariff_name(name=name, name_en=name_en, language=customer.language),
        language=customer.language,
    )
    return CountryChoice(
        subscription_id=subscription_id, title=title, country=current, countries=tuple(countries)
    )
