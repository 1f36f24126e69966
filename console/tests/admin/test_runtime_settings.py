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
