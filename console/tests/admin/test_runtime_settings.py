"""The console's runtime settings page (django-constance's "Config"): who may see and change it,
and what it refuses."""

import pytest
from constance.models import Constance
from django.conf import settings

from core.runtime_settings import runtime_settings

URL = f"/{settings.ADMIN_URL}constance/config/"


def _post(client, **values):
    form = client.get(URL).context["form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    data.update(values)
    return client.post(URL, data)


@pytest.mark.django_db
def test_an_operator_changes_the_announce_and_the_next_read_has_it(
    as_operator, django_capture_on_commit_callbacks
):
    assert runtime_settings()["FEED_ANNOUNCE"] == ""  # a warm cache, as in production
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(as_operator, FEED_ANNOUNCE="New server in Amsterdam")
    assert response.status_code == 302, response.context["form"].errors
    assert runtime_settings()["FEED_ANNOUNCE"] == "New server in Amsterdam"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("FEED_ANNOUNCE", "x" * (settings.FEED_ANNOUNCE_MAX + 1)),
        ("FEED_TITLE", "y" * (settings.FEED_TITLE_MAX + 1)),
        ("FEED_TITLE", "   "),
    ],
)
def test_a_value_apps_cannot_show_is_refused_and_changes_nothing(as_operator, field, value):
    response = _post(as_operator, **{field: value})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Constance.objects.exists()


@pytest.mark.django_db
def test_support_sees_the_settings_but_cannot_change_them(as_support):
    assert as_support.get(URL).status_code == 200
    _post(as_support, FEED_ANNOUNCE="Hello")  # constance ignores the form: no change_config
    assert not Constance.objects.exists()
    assert runtime_settings()["FEED_ANNOUNCE"] == ""


@pytest.mark.django_db
def test_the_trial_tariff_is_a_choice_of_trial_tariffs_and_the_bot_offers_it_at_once(
    as_operator, django_capture_on_commit_callbacks
):
    from subscriptions.selectors import trial_tariff_get
    from subscriptions.tests.factories import TariffFactory

    trial = TariffFactory(name="Trial", duration_days=3, price=0, is_trial=True)
    paid = TariffFactory(name="Month", is_trial=False)
    choices = dict(as_operator.get(URL).context["form"].fields["TRIAL_TARIFF"].choices)
    assert trial.pk in choices
    assert paid.pk not in choices
    assert trial_tariff_get() is None

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(as_operator, TRIAL_TARIFF=str(trial.pk))
    assert response.status_code == 302, response.context["form"].errors
    assert trial_tariff_get() == trial


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["999999", "paid"])
def test_a_trial_tariff_that_is_missing_or_not_a_trial_is_refused(as_operator, value):
    from subscriptions.tests.factories import TariffFactory

    paid = TariffFactory(name="Month", is_trial=False)
    response = _post(as_operator, TRIAL_TARIFF=str(paid.pk) if value == "paid" else value)
    assert response.status_code == 200
    assert "TRIAL_TARIFF" in response.context["form"].errors
    assert not Constance.objects.exists()


@pytest.mark.django_db
def test_reminder_days_are_validated_and_normalised(
    as_operator, django_capture_on_commit_callbacks
):
    from subscriptions.services.reminders import reminder_days

    for bad in ("3, x", "0", "61", "-1"):
        response = _post(as_operator, REMINDER_DAYS=bad)
        assert "REMINDER_DAYS" in response.context["form"].errors, bad
    assert not Constance.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(as_operator, REMINDER_DAYS="1, 7,3,7")
    assert response.status_code == 302
    assert runtime_settings()["REMINDER_DAYS"] == "7,3,1"
    assert reminder_days() == [1, 3, 7]


@pytest.mark.django_db
def test_the_support_contact_is_read_from_the_console_without_a_restart(
    as_operator, django_capture_on_commit_callbacks
):
    from notifications.texts import support_contact, support_url

    assert support_contact() == ""
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(as_operator, SUPPORT_CONTACT=" @shop_help ")
    assert response.status_code == 302
    assert support_contact() == "@shop_help"
    assert support_url() == "https://t.me/shop_help"
