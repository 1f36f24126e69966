"""The gift admin: read-only, codes masked to their last 4 characters, searchable."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import CustomerFactory
from billing.services.gifts import gift_redeem
from billing.tests.factories import GiftFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]

GIFTS = "admin:billing_gift_changelist"


def listed(client, **params) -> set[int]:
    response = client.get(reverse(GIFTS), params)
    assert response.status_code == 200
    return {gift.pk for gift in response.context["cl"].result_list}


def test_the_list_masks_codes_and_shows_who_and_what(as_superuser):
    active = GiftFactory(payment__tariff__name="Quarter")
    redeemed = GiftFactory()
    recipient = CustomerFactory(username="recipient")
    gift_redeem(customer=recipient, code=redeemed.code)
    GiftFactory(expires_at=timezone.now() - timedelta(days=1))
    page = as_superuser.get(reverse(GIFTS)).content.decode()
    for gift in (active, redeemed):
        assert gift.code not in page
        assert f"…{gift.code[-4:]}" in page
    assert "Quarter" in page
    assert str(active.payment.customer) in page
    assert str(recipient) in page
    assert "Redeemed" in page
    assert "Expired" in page
    change = as_superuser.get(reverse("admin:billing_gift_change", args=[active.pk]))
    assert change.status_code == 200
    assert active.code not in change.content.decode()


def test_gifts_are_read_only(as_superuser):
    gift = GiftFactory()
    assert as_superuser.get(reverse("admin:billing_gift_add")).status_code == 403
    delete = reverse("admin:billing_gift_delete", args=[gift.pk])
    assert as_superuser.get(delete).status_code == 403
    as_superuser.post(reverse("admin:billing_gift_change", args=[gift.pk]), {"status": "cancelled"})
    gift.refresh_from_db()
    assert gift.status == "active"


def test_search_by_whole_code_payment_or_telegram_id(as_superuser):
    gift, other = GiftFactory(), GiftFactory()
    assert listed(as_superuser, q=gift.code.lower()) == {gift.pk}
    assert listed(as_superuser, q=gift.code[-4:]) == set()  # a guess by its tail finds nothing
    assert listed(as_superuser, q=str(gift.payment_id)) == {gift.pk}
    assert listed(as_superuser, q=str(other.payment.customer.telegram_id)) == {other.pk}


@pytest.mark.parametrize("group", ["support", "operators"])
def test_both_console_groups_see_gifts(client, group):
    from django.contrib.auth.models import Group

    from accounts.tests.factories import UserFactory

    user = UserFactory(username=f"{group}-member")
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    GiftFactory()
    assert client.get(reverse(GIFTS)).status_code == 200
    assert client.get(reverse("admin:billing_gift_add")).status_code == 403
