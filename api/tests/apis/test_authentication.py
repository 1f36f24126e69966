"""Tokens at the door: a token that cannot be used is refused with 401 and a code saying
why; an owner who lost the console permission gets 403; use is recorded."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from api.models import ApiToken
from api.scopes import PERM_CHANGE_PAYMENT, Scope
from api.services import api_token_revoke
from api.tests.conftest import assert_error
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"


def test_a_valid_token_reads(api, tokens):
    response = api.get(CUSTOMERS, tokens[Scope.READ_ONLY].raw)
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_an_expired_token_is_refused(api, issue):
    issued = issue(Scope.OPERATORS, expires_at=timezone.now() + timedelta(hours=1))
    ApiToken.objects.filter(pk=issued.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    body = assert_error(api.get(CUSTOMERS, issued.raw), 401, "token_expired")
    assert "expired at" in body["message"]


def test_a_token_before_its_expiry_works(api, issue):
    issued = issue(Scope.READ_ONLY, expires_at=timezone.now() + timedelta(minutes=5))
    assert api.get(CUSTOMERS, issued.raw).status_code == 200


def test_a_revoked_token_is_refused_at_once(api, tokens, superuser):
    issued = tokens[Scope.OPERATORS]
    assert api.get(CUSTOMERS, issued.raw).status_code == 200
    api_token_revoke(token=issued.token, actor=superuser)
    body = assert_error(api.get(CUSTOMERS, issued.raw), 401, "token_revoked")
    assert "revoked at" in body["message"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer a b",
        "Bearer vpnsite_nothex000000_secret",
        "Bearer vpnsite_0123456789ab",
        "Bearer other_0123456789ab_secret",
        "Bearer vpnsite_0123456789ab_wrong-secret",
    ],
)
def test_malformed_unknown_or_wrong_tokens_are_one_refusal(api, tokens, header):
    response = api.client.get(CUSTOMERS, HTTP_AUTHORIZATION=header)
    assert_error(response, 401, "token_invalid")


def test_the_right_prefix_with_a_wrong_secret_is_refused(api, tokens):
    issued = tokens[Scope.OPERATORS]
    forged = f"vpnsite_{issued.token.prefix}_{'A' * 43}"
    assert_error(api.get(CUSTOMERS, forged), 401, "token_invalid")


def test_another_scheme_is_not_ours(api, tokens):
    response = api.client.get(CUSTOMERS, HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert_error(response, 401, "not_authenticated")


def test_an_inactive_owner_stops_every_token(api, tokens):
    issued = tokens[Scope.OPERATORS]
    issued.owner.is_active = False
    issued.owner.save(update_fields=["is_active"])
    assert_error(api.get(CUSTOMERS, issued.raw), 401, "owner_inactive")


def test_an_owner_who_lost_staff_status_is_refused(api, tokens):
    issued = tokens[Scope.READ_ONLY]
    issued.owner.is_staff = False
    issued.owner.save(update_fields=["is_staff"])
    assert_error(api.get(CUSTOMERS, issued.raw), 401, "owner_inactive")


def test_an_owner_moved_to_a_smaller_group_loses_the_scope_s_writes(api, tokens):
    """An operators token whose owner is now only "support" cannot refund: the token never
    does more than its owner could in the console."""
    issued = tokens[Scope.OPERATORS]
    issued.owner.groups.set([Group.objects.get(name="support")])
    payment = PaymentFactory(status=PaymentStatus.PAID, paid_at=timezone.now())
    response = api.post(f"/api/v1/payments/{payment.pk}/refund/", issued.raw, {"reason": "x"})
    body = assert_error(response, 403, "owner_permission")
    assert PERM_CHANGE_PAYMENT in body["message"]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    # Reads stay: support can view everything.
    assert api.get(f"/api/v1/payments/{payment.pk}/", issued.raw).status_code == 200


def test_an_owner_without_view_permission_cannot_read(api, tokens):
    issued = tokens[Scope.READ_ONLY]
    issued.owner.groups.clear()
    body = assert_error(api.get(CUSTOMERS, issued.raw), 403, "owner_permission")
    assert "accounts.view_customer" in body["message"]


def test_last_used_is_written_at_most_once_a_minute(api, tokens, django_assert_num_queries):
    issued = tokens[Scope.READ_ONLY]
    assert issued.token.last_used_at is None
    api.get("/api/v1/tariffs/", issued.raw)
    issued.token.refresh_from_db()
    first = issued.token.last_used_at
    assert first is not None
    api.get("/api/v1/tariffs/", issued.raw)
    issued.token.refresh_from_db()
    assert issued.token.last_used_at == first
    ApiToken.objects.filter(pk=issued.token.pk).update(last_used_at=first - timedelta(minutes=2))
    api.get("/api/v1/tariffs/", issued.raw)
    issued.token.refresh_from_db()
    assert issued.token.last_used_at > first


def test_the_secret_is_not_in_the_database(tokens):
    issued = tokens[Scope.OPERATORS]
    secret = issued.raw.split("_", 2)[2]
    row = ApiToken.objects.filter(pk=issued.token.pk).values().get()
    assert all(secret not in str(value) for value in row.values())
    assert len(row["secret_hash"]) == 64
