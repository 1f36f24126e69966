"""Readable values in the subscription admin: whole days left ("30 days" / "30 дней")."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from subscriptions.admin import days_left_text


@pytest.mark.parametrize(
    ("delta", "english", "russian"),
    [
        (timedelta(days=30, hours=1), "30 days", "30 дней"),
        (timedelta(days=1, minutes=5), "1 day", "1 день"),
        (timedelta(hours=3), "less than a day", "меньше дня"),
        (timedelta(hours=-3), "0 days", "0 дней"),
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
