"""Making and revoking API tokens: only a hash is kept, a scope never exceeds its owner's
console role, every change is audited."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.tests.factories import UserFactory
from api.models import ApiToken
from api.scopes import SCOPE_PERMISSIONS, Scope
from api.selectors import api_token_get
from api.services import (
    api_token_create,
    api_token_revoke,
    api_token_scope_missing,
    api_token_touch,
    token_digest,
    token_parse,
)
from api.tests.conftest import member
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog

pytestmark = pytest.mark.django_db


def test_a_new_token_is_shown_once_and_stored_as_a_hash(superuser):
    owner = member("ops", "operators")
    token, raw = api_token_create(
        owner=owner, scope=Scope.OPERATORS, name="CRM sync", actor=superuser
    )
    assert raw.startswith(f"vpnsite_{token.prefix}_")
    assert len(raw) > 50
    assert token.secret_hash == token_digest(raw)
    stored = ApiToken.objects.get(pk=token.pk)
    assert raw not in str(stored.__dict__)
    assert api_token_get(raw=raw) == token
    row = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert row.acting_user == superuser
    assert row.extra_data["action"] == "api_token_create"
    assert row.extra_data["prefix"] == token.prefix
    assert raw not in str(row.extra_data) + row.message


def test_two_tokens_never_share_a_secret(superuser):
    owner = member("ops", "operators")
    raws = {
        api_token_create(owner=owner, scope=Scope.READ_ONLY, name=f"t{i}", actor=superuser)[1]
        for i in range(5)
    }
    assert len(raws) == 5


@pytest.mark.parametrize(
    ("group", "scope", "allowed"),
    [
        ("support", Scope.READ_ONLY, True),
        ("support", Scope.SUPPORT, True),
        ("support", Scope.OPERATORS, False),
        ("operators", Scope.OPERATORS, True),
        (None, Scope.READ_ONLY, False),
    ],
)
def test_a_scope_never_exceeds_the_owner_s_console_role(superuser, group, scope, allowed):
    owner = member("someone", group) if group else UserFactory(username="nobody")
    if allowed:
        api_token_create(owner=owner, scope=scope, name="t", actor=superuser)
        assert api_token_scope_missing(owner=owner, scope=scope) == []
        return
    with pytest.raises(ApplicationError, match="lack"):
        api_token_create(owner=owner, scope=scope, name="t", actor=superuser)
    assert not ApiToken.objects.exists()
    assert not AuditLog.objects.exists()


def test_the_console_groups_hold_their_scopes(db):
    """The migration's groups and the scopes agree (docs/console.md and api/scopes.py)."""
    support = Group.objects.get(name="support")
    operators = Group.objects.get(name="operators")
    held = {
        name: {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        for name, group in (("support", support), ("operators", operators))
    }
    assert SCOPE_PERMISSIONS[Scope.SUPPORT] <= held["support"]
    assert not SCOPE_PERMISSIONS[Scope.OPERATORS] <= held["support"]
    assert SCOPE_PERMISSIONS[Scope.OPERATORS] <= held["operators"]


@pytest.mark.parametrize(
    "owner_fields", [{"is_active": False}, {"is_staff": False}], ids=["inactive", "not staff"]
)
def test_only_active_staff_own_tokens(superuser, owner_fields):
    owner = UserFactory(is_superuser=True, **owner_fields)
    with pytest.raises(ApplicationError, match="not an active staff user"):
        api_token_create(owner=owner, scope=Scope.READ_ONLY, name="t", actor=superuser)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "  "}, "needs a name"),
        ({"scope": "admin"}, "Unknown scope"),
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, "in the future"),
    ],
)
def test_bad_token_fields_are_refused(superuser, fields, message):
    arguments = {"owner": superuser, "scope": Scope.READ_ONLY, "name": "t", **fields}
    with pytest.raises(ApplicationError, match=message):
        api_token_create(actor=superuser, **arguments)
    assert not ApiToken.objects.exists()


def test_revoke_is_audited_and_happens_once(superuser):
    token, _raw = api_token_create(
        owner=superuser, scope=Scope.READ_ONLY, name="t", actor=superuser
    )
    api_token_revoke(token=token, actor=superuser)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token.revoked_by == superuser
    assert AuditLog.objects.filter(extra_data__action="api_token_revoke").count() == 1
    with pytest.raises(ApplicationError, match="already revoked"):
        api_token_revoke(token=token, actor=superuser)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "vpnsite",
        "vpnsite__secret",
        "vpnsite_ABCDEF012345_secret",  # upper-case hex is not ours
        "vpnsite_0123456789a_secret",
        "vpnsite_0123456789abc_secret",
        "vpnsite_0123456789ab_",
        "token_0123456789ab_secret",
    ],
)
def test_malformed_tokens_do_not_parse(raw):
    assert token_parse(raw) is None
    assert api_token_get(raw=raw) is None


def test_touch_writes_once_a_minute(superuser):
    token, _raw = api_token_create(
        owner=superuser, scope=Scope.READ_ONLY, name="t", actor=superuser
    )
    now = timezone.now()
    assert api_token_touch(token=token, now=now) is True
    assert api_token_touch(token=token, now=now + timedelta(seconds=59)) is False
    assert api_token_touch(token=token, now=now + timedelta(seconds=60)) is True
    token.refresh_from_db()
    assert token.last_used_at == now + timedelta(seconds=60)
