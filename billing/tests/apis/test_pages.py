"""/pay/success/ and /pay/fail/: informative, in the buyer's language, never a state change."""

import pytest
from django.utils import timezone

from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from billing.tests.helpers import snapshot
from devtools.payment_signing import robokassa_signature

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_providers")]


def success_params(payment, password="p1-secret", culture="ru"):
    return {
        "OutSum": "299.00",
        "InvId": str(payment.pk),
        "SignatureValue": robokassa_signature(
            out_sum="299.00", inv_id=payment.pk, password=password, shp={"Shp_user": "7"}
        ).upper(),
        "Shp_user": "7",
        "Culture": culture,
    }


@pytest.mark.parametrize("path", ["/pay/success/", "/pay/fail/"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_pages_never_change_state(client, path, method, pending_payment):
    before = snapshot()
    response = getattr(client, method)(path, success_params(pending_payment))
    assert response.status_code == 200
    assert 'href="https://t.me/vpnsite_bot"' in response.content.decode()
    assert snapshot() == before
    pending_payment.refresh_from_db()
    assert pending_payment.status == PaymentStatus.PENDING


def test_signed_success_for_a_pending_payment_says_we_are_confirming(client, pending_payment):
    response = client.get("/pay/success/", success_params(pending_payment, culture="en"))
    assert response.context["state"] == "pending"
    assert "We are confirming your payment" in response.content.decode()


def test_signed_success_for_a_paid_payment(client):
    payment = PaymentFactory(status=PaymentStatus.PAID, paid_at=timezone.now())
    response = client.get("/pay/success/", success_params(payment, culture="en"))
    assert response.context["state"] == "paid"
    assert "Payment received" in response.content.decode()


def test_unsigned_or_result_signed_redirect_reveals_nothing(client):
    payment = PaymentFactory(status=PaymentStatus.PAID, paid_at=timezone.now())
    forged = success_params(payment, password="p2-secret")
    assert client.get("/pay/success/", forged).context["state"] == ""
    assert client.get("/pay/success/", {"InvId": payment.pk}).context["state"] == ""
    assert client.get("/pay/success/", {"MERCHANT_ORDER_ID": payment.pk}).context["state"] == ""


@pytest.mark.parametrize(
    ("params", "headers", "language"),
    [
        ({"Culture": "en"}, {}, "en"),
        ({"Culture": "ru"}, {"HTTP_ACCEPT_LANGUAGE": "en"}, "ru"),
        ({"lang": "en"}, {}, "en"),
        ({}, {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}, "en"),
        ({}, {"HTTP_ACCEPT_LANGUAGE": "ru-RU"}, "ru"),
        ({}, {}, "ru"),
        ({"Culture": "de"}, {}, "ru"),
    ],
)
@pytest.mark.parametrize("path", ["/pay/success/", "/pay/fail/"])
def test_page_language(client, path, params, headers, language):
    response = client.get(path, params, **headers)
    body = response.content.decode()
    assert f'<html lang="{language}">' in body
    assert response["Content-Language"] == language


def test_english_fail_page_text(client):
    body = client.get("/pay/fail/", {"Culture": "en"}).content.decode()
    assert "Payment not completed" in body
    assert "Back to the bot" in body


def test_no_bot_username_no_link(client, settings):
    settings.TELEGRAM_BOT_USERNAME = ""
    body = client.get("/pay/fail/").content.decode()
    assert "t.me" not in body


def test_robokassa_may_post_the_buyer_back_without_csrf(pending_payment):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/pay/success/", success_params(pending_payment))
    assert response.status_code == 200
