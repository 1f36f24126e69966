"""The console's theme (django-unfold): every admin is unfold's, the sidebar groups every page
by task and shows each only to who may open it, the language follows the browser or the
operator's choice, and the console's Content-Security-Policy is its own, nowhere else."""

import re

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import translation
from unfold.admin import ModelAdmin

from console import theme

pytestmark = pytest.mark.django_db


def _sidebar(client) -> dict[str, list[str]]:
    """The sidebar's groups (in English) and the links shown in each."""
    response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return {
        str(group["title"]): [item["link"] for item in group["items"] if item["has_permission"]]
        for group in response.context["sidebar_navigation"]
    }


def test_every_registered_admin_and_inline_is_unfolds():
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, ModelAdmin), model._meta.label
        for inline in model_admin.inlines:
            assert inline.__module__.startswith("unfold") or any(
                base.__module__ == "unfold.admin" for base in inline.__mro__
            ), inline


def test_every_registered_model_is_in_the_sidebar():
    in_sidebar = {entry.model for _, entries in theme.SIDEBAR for entry in entries}
    registered = {model._meta.label for model in admin.site._registry}
    assert registered == in_sidebar


def test_a_superuser_sees_every_group_and_page(as_superuser):
    sidebar = _sidebar(as_superuser)
    assert list(sidebar) == ["Overview", "Sales", "Subscribers", "Nodes", "Messages", "System"]
    assert reverse("admin:billing_payment_changelist") in sidebar["Sales"]
    assert reverse("admin:accounts_customer_changelist") in sidebar["Subscribers"]
    assert reverse("admin:nodes_nodeclient_changelist") in sidebar["Nodes"]
    assert reverse("admin:notifications_broadcast_changelist") in sidebar["Messages"]
    assert reverse("admin:accounts_user_changelist") in sidebar["System"]
    assert reverse("admin-analytics") in sidebar["Overview"]
    # Every model's changelist, the dashboard and analytics.
    assert sum(len(links) for links in sidebar.values()) == len(admin.site._registry) + 2


def test_support_sees_only_the_pages_it_may_open(as_support, support_user):
    sidebar = _sidebar(as_support)
    links = [link for group in sidebar.values() for link in group]
    assert reverse("admin:accounts_customer_changelist") in links
    assert reverse("admin:subscriptions_subscription_changelist") in links
    # Operators and groups are the superusers' (accounts/migrations/0002_console_groups.py).
    assert reverse("admin:accounts_user_changelist") not in links
    assert reverse("admin:auth_group_changelist") not in links
    assert reverse("admin-analytics") not in links  # revenue is the operators'
    for link in links:  # every link it is shown opens
        assert as_support.get(link).status_code == 200, link


def test_a_staff_user_without_permissions_sees_no_model_page(client):
    from accounts.tests.factories import UserFactory

    client.force_login(UserFactory(username="nobody"))
    sidebar = _sidebar(client)
    assert sidebar["Overview"] == [reverse("admin:index")]
    assert all(not links for title, links in sidebar.items() if title != "Overview")


def test_the_analytics_item_shows_to_those_who_may_open_it(as_operator):
    assert reverse("admin-analytics") in _sidebar(as_operator)["Overview"]
    assert as_operator.get(reverse("admin-analytics")).status_code == 200


def test_the_sidebar_speaks_the_operators_language(as_superuser):
    html = as_superuser.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    for word in ("Продажи", "Подписчики", "Узлы", "Сообщения", "Система"):
        assert word in html
    html = as_superuser.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for word in ("Sales", "Subscribers", "Nodes", "Messages", "System"):
        assert word in html


def test_choosing_russian_switches_the_console(as_superuser):
    page = as_superuser.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="en"' in page.content.decode()
    # The account menu's switch posts to Django's set_language.
    assert 'action="/i18n/setlang/"' in page.content.decode()
    response = as_superuser.post(
        "/i18n/setlang/", {"language": "ru", "next": reverse("admin:index")}
    )
    assert response.status_code == 302
    page = as_superuser.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="ru"' in page.content.decode()
    assert "Подписчики" in page.content.decode()
    translation.activate("en")


def test_the_header_title_and_view_site_stay_the_sites(as_superuser, settings):
    settings.TELEGRAM_BOT_USERNAME = "vpnsite_bot"
    response = as_superuser.get(reverse("admin:index"))
    assert response.context["site_header"] == admin.site.site_header
    assert response.context["site_title"] == admin.site.site_title
    assert response.context["site_url"] == "https://t.me/vpnsite_bot"


def test_the_consoles_policy_is_its_own_and_stays_there(as_superuser, settings):
    console = as_superuser.get(reverse("admin:index"))["Content-Security-Policy"]
    assert "'unsafe-eval'" in console
    assert "style-src-attr 'unsafe-inline'" in console
    assert not re.search(r"script-src[^;]*'unsafe-inline'", console)
    # The theme's one inline <style> is the one allowed by hash.
    from core.admin import unfold_theme_style_hash

    assert unfold_theme_style_hash() in console
    client = Client()
    for path in ("/pay/success/", "/pay/fail/", "/app/", "/api/v1/docs/"):
        header = client.get(path).get("Content-Security-Policy", "")
        if header:
            assert "'unsafe-eval'" not in header, path
            assert "'unsafe-inline'" not in header, path
