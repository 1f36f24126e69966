"""subscription_trial_grant: one free trial per customer, even under concurrency."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Customer
from accounts.tests.factories import CustomerFactory
from core.exceptions import ApplicationError
from core.models import AuditEvent, AuditLog
from core.tests.helpers import run_concurrently
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.selectors import trial_tariff_get
from subscriptions.services.lifecycle import subscription_trial_grant
from subscriptions.tests.factories import TariffFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def trial(runtime_setting, settings):
    tariff = TariffFactory(name="Пробный", duration_days=3, price=0, is_trial=True)
    runtime_setting("TRIAL_TARIFF", tariff.pk)
    return tariff


def test_grants_a_trial_subscription_and_records_it(customer, trial):
    subscription = subscription_trial_grant(customer=customer, now=NOW)
    assert subscription.tariff == trial
    assert subscription.is_trial
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.expires_at == NOW + timedelta(days=3)
    customer.refresh_from_db()
    assert customer.trial_used_at == NOW
    log = AuditLog.objects.get(event_type=AuditEvent.TRIAL_GRANTED)
    assert (log.customer_id, log.object_id, log.actor) == (customer.pk, str(subscription.pk), "bot")


def test_second_trial_is_refused_in_the_customers_language(trial):
    customer = CustomerFactory(language="en")
    subscription_trial_grant(customer=customer)
    with pytest.raises(ApplicationError) as exc:
        subscription_trial_grant(customer=customer)
    assert exc.value.message == "You have already used your free trial."
    assert Subscription.objects.count() == 1


def test_refusal_in_russian(trial):
    customer = CustomerFactory(language="ru")
    subscription_trial_grant(customer=customer)
    with pytest.raises(ApplicationError, match="Вы уже воспользовались пробным периодом"):
        subscription_trial_grant(customer=customer)


def test_stale_customer_object_is_not_trusted(customer, trial):
    """The check reads the locked row, not the caller's copy."""
    stale = Customer.objects.get(pk=customer.pk)
    subscription_trial_grant(customer=customer)
    with pytest.raises(ApplicationError):
        subscription_trial_grant(customer=stale)


@pytest.mark.parametrize(
    "setup",
    ["unset", "inactive", "not-a-trial", "missing"],
)
def test_no_trial_tariff_configured(runtime_setting, settings, customer, setup):
    tariff = TariffFactory(is_trial=setup != "not-a-trial", is_active=setup != "inactive")
    runtime_setting("TRIAL_TARIFF", {"unset": 0, "missing": tariff.pk + 100}.get(setup, tariff.pk))
    assert trial_tariff_get() is None
    with pytest.raises(ApplicationError) as exc:
        subscription_trial_grant(customer=CustomerFactory(language="en"))
    assert exc.value.message == "There is no free trial at the moment."
    assert not Subscription.objects.exists()


def test_banned_customer_gets_no_trial(trial):
    customer = CustomerFactory(language="en", is_banned=True)
    with pytest.raises(ApplicationError, match=r"Your account is blocked\."):
        subscription_trial_grant(customer=customer)
    customer.refresh_from_db()
    assert customer.trial_used_at is None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_grant_one_trial(on_postgres, trial):
    customer = CustomerFactory(language="en")

    def request():
        subscription_trial_grant(customer=Customer.objects.get(pk=customer.pk))

    errors = run_concurrently([request, request])
    assert [getattr(exc, "message", repr(exc)) for exc in errors] == [
        "You have already used your free trial."
    ]
    assert Subscription.objects.filter(customer=customer).count() == 1
    assert AuditLog.objects.filter(event_type=AuditEvent.TRIAL_GRANTED).count() == 1
