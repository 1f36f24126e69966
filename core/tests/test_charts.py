"""core.charts.svg_time_chart: a line over evenly spaced slots, broken at slots without a
value, alerts as red marks, labels in the current time zone, every value escaped."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from core.charts import TimePoint, svg_time_chart

START = datetime(2026, 12, 8, 0, tzinfo=UTC)


def points(values, alerts=None):
    alerts = alerts or {}
    return [
        TimePoint(START + timedelta(hours=i), value, alerts.get(i, ""))
        for i, value in enumerate(values)
    ]


def test_gaps_break_the_line_and_only_values_get_points():
    svg = str(svg_time_chart(points([10, 20, None, 30, 40, None, 50]), title="t"))
    assert svg.count("<polyline") == 2  # 10-20 and 30-40; 50 alone is a point only
    assert svg.count('class="point"') == 5
    assert "<title>t</title>" in svg


def test_alerts_are_marked_with_their_text():
    svg = str(svg_time_chart(points([10, None], alerts={1: "2 of 5 checks failed"})))
    assert svg.count('class="alert"') == 1
    assert "2 of 5 checks failed" in svg


def test_labels_are_local_time_first_middle_last():
    with timezone.override("Europe/Moscow"):  # UTC+3
        svg = str(svg_time_chart(points([1, 2, 3, 4, 5]), label_format="%H:%M"))
    assert ">03:00</text>" in svg
    assert ">05:00</text>" in svg
    assert ">07:00</text>" in svg


def test_values_are_escaped_and_the_top_is_the_largest_value():
    svg = str(svg_time_chart(points([5, 250]), title="<b>", unit="ms"))
    assert "<b>" not in svg
    assert ">250</text>" in svg
    assert "250 ms" in svg


def test_no_points_no_values():
    svg = str(svg_time_chart([], title="empty"))
    assert "<polyline" not in svg
    assert 'class="point"' not in svg
    assert svg.startswith("<svg")
