"""Readable values in the subscription admin: what is left, in whole days ("30 days" /
"30 дней", never "30.0") or hours under a day; an ended one: when it ended."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from subscriptions.admin import days_left_text


@pytest.mark.parametrize(
    ("delta", "english", "russian"),
    [
        (timedelta(days=30, hours=1), "30 days", "30 дней"),
        (timedelta(days=1, minutes=5), "1 day", "1 день"),
        (timedelta(days=6, hours=23), "7 days", "7 дней"),
        (timedelta(hours=3), "3 hours", "3 часа"),
    ],
)
def test_days_left_is_whole_days(delta, english, russian):
    expires_at = timezone.now() + delta
    with translation.override("en"):
        html = str(days_left_text(expires_at))
        assert f">{english}</span>" in html
        assert "title=" in html
        assert ".0" not in html.split(">")[1]
    with translation.override("ru"):
        assert f">{russian}</span>" in str(days_left_text(expires_at))


def test_an_ended_subscription_says_when_it_ended():
    with translation.override("en"):
        html = str(days_left_text(timezone.now() - timedelta(hours=3, minutes=1)))
    assert "3\xa0hours ago" in html or "3 hours ago" in html
    assert "<time" in html
