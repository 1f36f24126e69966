"""The console shows and edits traffic resets: the tariff form has the period, the
subscription page its next and last reset."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import formats, timezone

from subscriptions.models import Subscription, TrafficReset
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory

pytestmark = pytest.mark.django_db


def test_the_tariff_form_offers_the_reset_periods(as_superuser):
    page = as_superuser.get(reverse("admin:subscriptions_tariff_add"))
    form = page.context["adminform"].form
    assert [value for value, _ in form.fields["traffic_reset"].choices] == [
        "never",
        "day",
        "week",
        "month",
    ]
    assert form.fields["traffic_reset"].initial == TrafficReset.NEVER


def test_a_tariff_is_changed_to_reset_weekly(as_superuser):
    tariff = TariffFactory(name="Week GB", traffic_limit_gb=20)
    change = reverse("admin:subscriptions_tariff_change", args=[tariff.pk])
    data = {
        **{
            name: str(getattr(tariff, name))
            for name in (
                "name",
                "duration_days",
                "price",
                "currency",
                "device_limit",
                "hwid_device_limit",
                "traffic_limit_gb",
                "node_count",
                "sort_order",
            )
        },
        "traffic_reset": "week",
        "is_active": "on",
    }
    assert as_superuser.post(change, data).status_code == 302
    tariff.refresh_from_db()
    assert tariff.traffic_reset == TrafficReset.WEEK
    bad = as_superuser.post(change, {**data, "traffic_reset": "fortnight"})
    assert "traffic_reset" in bad.context["adminform"].form.errors
    changelist = as_superuser.get(reverse("admin:subscriptions_tariff_changelist"))
    assert b"Every week" in changelist.content


def test_the_subscription_page_shows_the_next_and_last_reset(as_superuser):
    sub = SubscriptionFactory(tariff=TariffFactory(traffic_reset=TrafficReset.MONTH))
    last = timezone.now() - timedelta(days=3)
    Subscription.objects.filter(pk=sub.pk).update(traffic_reset_last_at=last)
    page = as_superuser.get(reverse("admin:subscriptions_subscription_change", args=[sub.pk]))
    text = page.content.decode()
    for moment in (sub.traffic_reset_next_at, last):
        shown = formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
        assert shown in text
    assert "Every month" in text
    # A read-only field of the page's form (the theme marks rows without the field's name).
    assert "traffic_reset_next_at" in page.context["adminform"].readonly_fields
