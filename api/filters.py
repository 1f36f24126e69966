"""The list endpoints' filters (django-filter: https://django-filter.readthedocs.io/).

A value that does not parse (``?status=nope``, ``?created_after=yesterday``) is a 400 in the
API's error shape with the parameter under ``fields``, never silently ignored.
"""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Customer
from billing.models import Payment, PaymentStatus
from nodes.models import Node, NodeClient, NodeHealth
from nodes.selectors import LIVE_KEY_STATES
from subscriptions.models import Subscription, SubscriptionStatus, Tariff


class StrictBooleanField(forms.NullBooleanField):
    """``true``/``false`` (or ``1``/``0``); anything else is an error, where Django's own
    boolean fields would quietly read it as "no filter"."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError("Must be true or false.", code="invalid")

    def validate(self, value):
        pass


class BooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


class IdFilter(filters.NumberFilter):
    """A whole number (an id, a Telegram id): ``1.5`` is an error, not a filter."""

    field_class = forms.IntegerField


class CustomerFilter(filters.FilterSet):
    telegram_id = IdFilter(help_text="Exactly this Telegram id.")
    username = filters.CharFilter(
        method="filter_username", help_text="Telegram @username, exact, without the @."
    )
    is_banned = BooleanFilter()
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    has_running_subscription = BooleanFilter(
        method="filter_running",
        help_text="Has (true) or has not (false) a subscription that is active and not past "
        "its end now.",
    )

    class Meta:
        model = Customer
        fields = ["telegram_id", "username", "is_banned"]

    def filter_username(self, queryset, name, value):
        return queryset.filter(username__iexact=value.lstrip("@"))

    def filter_running(self, queryset, name, value):
        running = Subscription.objects.running(timezone.now()).filter(customer=OuterRef("pk"))
        return queryset.filter(Exists(running) if value else ~Exists(running))


class SubscriptionFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=SubscriptionStatus.choices)
    customer = IdFilter(field_name="customer", help_text="Customer id.")
    telegram_id = IdFilter(
        field_name="customer__telegram_id", help_text="The customer's Telegram id."
    )
    tariff = IdFilter(field_name="tariff", help_text="Tariff id.")
    node = IdFilter(
        field_name="keys__node",
        method="filter_node",
        help_text="Has a live key (pending, synced or error) on this node.",
    )
    is_trial = BooleanFilter()
    running = BooleanFilter(
        method="filter_running", help_text="Active and not past its end now (true), or not."
    )
    expires_after = filters.IsoDateTimeFilter(field_name="expires_at", lookup_expr="gte")
    expires_before = filters.IsoDateTimeFilter(field_name="expires_at", lookup_expr="lt")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Subscription
        fields = ["status", "is_trial"]

    def filter_running(self, queryset, name, value):
        running = Subscription.objects.running_q(timezone.now())
        return queryset.filter(running) if value else queryset.exclude(running)

    def filter_node(self, queryset, name, value):
        keys = NodeClient.objects.filter(
            subscription=OuterRef("pk"), node_id=value, sync_state__in=LIVE_KEY_STATES
        )
        return queryset.filter(Exists(keys))


class PaymentFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=PaymentStatus.choices)
    provider = filters.CharFilter(help_text="Provider code, e.g. robokassa, freekassa, manual.")
    currency = filters.CharFilter()
    customer = IdFilter(field_name="customer", help_text="Customer id.")
    telegram_id = IdFilter(
        field_name="customer__telegram_id", help_text="The customer's Telegram id."
    )
    subscription = IdFilter(field_name="subscription")
    tariff = IdFilter(field_name="tariff")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    paid_after = filters.IsoDateTimeFilter(field_name="paid_at", lookup_expr="gte")
    paid_before = filters.IsoDateTimeFilter(field_name="paid_at", lookup_expr="lt")

    class Meta:
        model = Payment
        fields = ["status", "provider", "currency"]


class NodeFilter(filters.FilterSet):
    health = filters.ChoiceFilter(choices=NodeHealth.choices)
    is_enabled = BooleanFilter()
    country = filters.CharFilter(help_text="ISO 3166 code, e.g. DE.")

    class Meta:
        model = Node
        fields = ["health", "is_enabled", "country"]


class TariffFilter(filters.FilterSet):
    is_active = BooleanFilter()
    is_trial = BooleanFilter()

    class Meta:
        model = Tariff
        fields = ["is_active", "is_trial"]
