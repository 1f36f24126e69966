"""The feed's system checks."""

from subscriptions.checks import FEED_TITLE_MAX, FEED_TITLE_TOO_LONG, feed_title_length


def test_a_title_happ_can_show_whole_passes(settings):
    settings.SUBSCRIPTION_FEED_TITLE = "x" * FEED_TITLE_MAX
    assert feed_title_length(None) == []


def test_happ_title_longer_than_25_characters_warns(settings):
    settings.SUBSCRIPTION_FEED_TITLE = "A" * FEED_TITLE_MAX + "BC"
    (warning,) = feed_title_length(None)
    assert warning.id == FEED_TITLE_TOO_LONG
    assert repr("A" * FEED_TITLE_MAX) in warning.msg


def test_the_check_is_registered():
    from django.core import checks

    assert feed_title_length in checks.registry.registry.get_checks()
