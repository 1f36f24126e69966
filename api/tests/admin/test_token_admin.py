"""API tokens in the console: the secret is shown once on the page that answers the form,
never again and never stored; the scope is checked against the owner; revoke; only
superusers (or groups given the permissions) manage tokens."""

import re

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from api.models import ApiToken
from api.scopes import Scope
from api.services import token_digest
from api.tests.conftest import member
from console.tests.admin.conftest import action
from core.models import AuditEvent, AuditLog

pytestmark = pytest.mark.django_db

ADD = reverse("admin:api_apitoken_add")
CHANGELIST = reverse("admin:api_apitoken_changelist")


def add(client, **fields):
    return client.post(ADD, {"name": "CRM sync", "rate_per_minute": "", **fields})


def test_creating_a_token_shows_it_once(as_superuser, superuser, api):
    owner = member("ops", "operators")
    page = add(as_superuser, owner=owner.pk, scope=Scope.OPERATORS)
    assert page.status_code == 200, page.content[:2000]
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    raw = re.search(r'id="api-token-secret"[^>]*value="([^"]+)"', html).group(1)
    token = ApiToken.objects.get()
    assert token.secret_hash == token_digest(raw)
    assert (token.owner, token.scope, token.created_by) == (owner, Scope.OPERATORS, superuser)
    assert "only time it is shown" in html
    # It works, and no later page shows it again.
    assert api.get("/api/v1/tariffs/", raw).status_code == 200
    for url in (CHANGELIST, reverse("admin:api_apitoken_change", args=[token.pk])):
        later = as_superuser.get(url)
        assert later.status_code == 200
        assert raw.split("_", 2)[2] not in later.content.decode()
        assert token.masked in later.content.decode()
    audit = AuditLog.objects.get(extra_data__action="api_token_create")
    assert audit.acting_user == superuser


def test_the_form_refuses_a_scope_beyond_the_owner_s_role(as_superuser):
    helpdesk = member("helpdesk", "support")
    page = add(as_superuser, owner=helpdesk.pk, scope=Scope.OPERATORS)
    assert page.status_code == 200
    assert "cannot be given a operators token" in page.content.decode()
    assert "billing.change_payment" in page.content.decode()
    assert not ApiToken.objects.exists()
    assert not AuditLog.objects.exists()


def test_the_form_refuses_an_expiry_in_the_past(as_superuser, superuser):
    page = add(
        as_superuser,
        owner=superuser.pk,
        scope=Scope.READ_ONLY,
        expires_at_0="2020-01-01",
        expires_at_1="00:00:00",
    )
    assert "The expiry must be in the future." in page.content.decode()
    assert not ApiToken.objects.exists()


def test_only_active_staff_are_offered_as_owners(as_superuser):
    member("helpdesk", "support")
    outsider = UserFactory(username="outsider", is_staff=False)
    html = as_superuser.get(ADD).content.decode()
    assert "helpdesk" in html
    assert f'value="{outsider.pk}"' not in html


def test_revoke_from_the_list(as_superuser, issue, api):
    issued = issue(Scope.READ_ONLY)
    response = action(as_superuser, CHANGELIST, "revoke_selected", [issued.token.pk])
    assert response.status_code == 302
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is not None
    assert api.get("/api/v1/tariffs/", issued.raw).status_code == 401
    assert AuditLog.objects.filter(
        event_type=AuditEvent.ADMIN_ACTION, extra_data__action="api_token_revoke"
    ).exists()
    listing = as_superuser.get(CHANGELIST, {"state": "revoked"}).content.decode()
    assert issued.token.masked in listing


def test_a_token_cannot_be_edited_or_deleted(as_superuser, issue):
    issued = issue(Scope.READ_ONLY)
    url = reverse("admin:api_apitoken_change", args=[issued.token.pk])
    as_superuser.post(url, {"name": "renamed", "scope": Scope.OPERATORS})
    issued.token.refresh_from_db()
    assert (issued.token.name, issued.token.scope) == ("read_only token", Scope.READ_ONLY)
    delete = as_superuser.post(
        reverse("admin:api_apitoken_delete", args=[issued.token.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert ApiToken.objects.filter(pk=issued.token.pk).exists()


@pytest.mark.parametrize("group", ["support", "operators"])
def test_console_groups_do_not_manage_tokens(client, group):
    client.force_login(member("someone", group))
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(ADD).status_code == 403
