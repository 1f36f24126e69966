"""The balance in the console: operators adjust it with a reason (audited, once per form),
the ledger is read-only on the customer page and in its own list."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from billing.models import BalanceEntry, BalanceEntryKind
from console.tests.admin.conftest import action
from core.models import AuditEvent, AuditLog
from core.tests.helpers import levels, texts

pytestmark = pytest.mark.django_db

CUSTOMERS = reverse("admin:accounts_customer_changelist")


def test_adjust_asks_then_adds_once_per_form_and_audits(as_superuser, superuser):
    customer = CustomerFactory()
    page = action(as_superuser, CUSTOMERS, "adjust_balance_selected", [customer.pk])
    assert page.status_code == 200
    assert b'name="reason"' in page.content
    key = re.search(rb'name="key" value="([0-9a-f]+)"', page.content).group(1).decode()

    for _ in range(2):  # the same form submitted twice
        response = action(
            as_superuser,
            CUSTOMERS,
            "adjust_balance_selected",
            [customer.pk],
            amount="150.50",
            reason="compensation for downtime",
            key=key,
        )
        assert response.status_code == 302
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("150.50")
    entry = BalanceEntry.objects.get()
    assert (entry.kind, entry.operator, entry.reason) == (
        BalanceEntryKind.ADJUSTMENT,
        superuser,
        "compensation for downtime",
    )
    audit = AuditLog.objects.get(event_type=AuditEvent.ADMIN_ACTION)
    assert audit.acting_user == superuser
    assert audit.customer_id == customer.pk


def test_taking_more_than_the_balance_is_refused(as_superuser):
    customer = CustomerFactory(language="en")
    response = action(
        as_superuser,
        CUSTOMERS,
        "adjust_balance_selected",
        [customer.pk],
        amount="-10",
        reason="x",
        key="abc",
    )
    assert levels(response) == ["error"]
    assert "Not enough money" in texts(response)[0]
    assert BalanceEntry.objects.count() == 0


def test_support_cannot_adjust(as_support):
    customer = CustomerFactory()
    action(as_support, CUSTOMERS, "adjust_balance_selected", [customer.pk], amount="5", reason="x")
    assert BalanceEntry.objects.count() == 0


def test_ledger_is_shown_read_only(as_superuser, superuser):
    from billing.services.balance import balance_adjust

    customer = CustomerFactory()
    balance_adjust(
        customer=customer, amount=Decimal("42"), reason="gift", operator=superuser, key="k"
    )
    page = as_superuser.get(reverse("admin:accounts_customer_change", args=[customer.pk]))
    assert b"Balance ledger" in page.content
    assert b"adjust:k:" in page.content
    ledger = as_superuser.get(reverse("admin:billing_balanceentry_changelist"))
    assert ledger.status_code == 200
    assert b"gift" in ledger.content
    entry = BalanceEntry.objects.get()
    change = as_superuser.post(
        reverse("admin:billing_balanceentry_change", args=[entry.pk]), {"reason": "edited"}
    )
    assert change.status_code == 403
    assert BalanceEntry.objects.get().reason == "gift"


def test_operators_adjust_support_only_views(as_operator, support_user):
    from django.test import Client

    customer = CustomerFactory()
    page = action(as_operator, CUSTOMERS, "adjust_balance_selected", [customer.pk])
    key = re.search(rb'name="key" value="([0-9a-f]+)"', page.content).group(1).decode()
    action(
        as_operator,
        CUSTOMERS,
        "adjust_balance_selected",
        [customer.pk],
        amount="20",
        reason="goodwill",
        key=key,
    )
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("20")
    as_support = Client()
    as_support.force_login(support_user)
    assert as_support.get(reverse("admin:billing_balanceentry_changelist")).status_code == 200


def test_customer_card_shows_referral_earnings_and_the_rewards_list(
    as_superuser, runtime_setting, settings
):
    from billing.models import ReferralReward
    from billing.tests.factories import PaymentFactory
    from billing.tests.helpers import ROBOKASSA, mark_paid

    settings.BILLING_PROVIDERS = {"robokassa": ROBOKASSA}
    runtime_setting("REFERRAL_PERCENT", 10)
    inviter = CustomerFactory()
    CustomerFactory(referred_by=inviter)
    payment = PaymentFactory(customer=CustomerFactory(referred_by=inviter, username="bob"))
    mark_paid(payment)
    page = as_superuser.get(reverse("admin:accounts_customer_change", args=[inviter.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "2 invited</a>, 1 paid · earned 29.90 RUB, 0 days" in text
    assert f"?inviter__id__exact={inviter.pk}" in text
    rewards = as_superuser.get(
        reverse("admin:billing_referralreward_changelist"), {"inviter__id__exact": inviter.pk}
    )
    assert rewards.status_code == 200
    assert ReferralReward.objects.get().payment_id == payment.pk
    assert str(payment.pk) in rewards.content.decode()
    invitees = as_superuser.get(CUSTOMERS, {"referred_by__id__exact": inviter.pk})
    assert invitees.status_code == 200
    assert "bob" in invitees.content.decode()


@pytest.mark.parametrize("group_client", ["as_support", "as_operator"])
def test_support_and_operators_see_referral_rewards_read_only(group_client, request):
    client = request.getfixturevalue(group_client)
    assert client.get(reverse("admin:billing_referralreward_changelist")).status_code == 200
    assert client.get(reverse("admin:billing_referralreward_add")).status_code == 403
