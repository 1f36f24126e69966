"""The console's value formatters (core.display) in English and Russian."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from core.display import DANGER, badge, relative_time, traffic_format


@pytest.mark.parametrize(
    ("size", "english", "russian"),
    [
        (0, "0 B", "0 Б"),
        (1023, "1023 B", "1023 Б"),
        (1024, "1.0 KiB", "1,0 КБ"),
        (5 * 1024**2, "5.0 MiB", "5,0 МБ"),
        (2970135690, "2.8 GiB", "2,8 ГБ"),
        (3 * 1024**4, "3.0 TiB", "3,0 ТБ"),
        (5000 * 1024**4, "5000.0 TiB", "5000,0 ТБ"),
    ],
)
def test_traffic_in_binary_units(size, english, russian):
    with translation.override("en"):
        assert traffic_format(size) == english
    with translation.override("ru"):
        assert traffic_format(size).replace("\xa0", " ") == russian


def test_traffic_unknown_is_a_dash():
    assert traffic_format(None) == "—"


def test_relative_time_with_the_exact_moment_in_the_title():
    moment = timezone.now() - timedelta(hours=2, minutes=1)
    with translation.override("en"):
        html = str(relative_time(moment))
        assert ">2\xa0hours ago</time>" in html or ">2 hours ago</time>" in html
        assert f'datetime="{moment.isoformat()}"' in html
        assert 'title="' in html
        assert str(timezone.localtime(moment).year) in html
    with translation.override("ru"):
        html = str(relative_time(moment)).replace("\xa0", " ")
        assert ">2 часа назад</time>" in html
    with translation.override("en"):
        future = str(relative_time(timezone.now() + timedelta(days=3, minutes=5)))
        assert "from now" in future
    assert relative_time(None) == "—"


def test_badge_is_unfolds_label_with_its_colour():
    html = str(badge("Banned", DANGER))
    assert "Banned" in html
    assert "bg-red-100" in html
    assert "bg-red-100" not in str(badge("Banned"))
