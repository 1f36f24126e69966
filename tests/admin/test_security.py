"""The console's login: django-axes locks out brute force; TOTP two-factor for those who
enrolled a device, and for every staff user with ADMIN_REQUIRE_2FA."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "pw-123-long"


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("boss", "boss@example.com", PASSWORD)


def login(client, username, password, otp_token="", ip="203.0.113.7"):
    return client.post(
        reverse("admin:login"),
        {
            "username": username,
            "password": password,
            "otp_token": otp_token,
            "next": reverse("admin:index"),
        },
        REMOTE_ADDR=ip,
    )


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def test_settings_wire_axes_and_otp():
    assert "axes" in settings.INSTALLED_APPS
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert "django_otp.middleware.OTPMiddleware" in settings.MIDDLEWARE
    assert settings.ADMIN_REQUIRE_2FA is False


def test_lockout_after_the_failure_limit(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert login(client, "boss", "wrong").status_code == 200  # the form, with its error
    locked = login(client, "boss", "wrong")
    assert locked.status_code == 429
    # Locked out: even the right password is refused from this address.
    assert login(client, "boss", PASSWORD).status_code == 429
    assert AccessAttempt.objects.get(username="boss").failures_since_start >= 3
    # The same operator from another address, and another account from this one, still work.
    assert login(client, "boss", PASSWORD, ip="198.51.100.9").status_code == 302
    User.objects.create_superuser("other", "o@example.com", PASSWORD)
    client.logout()
    assert login(client, "other", PASSWORD).status_code == 302


def test_a_success_below_the_limit_resets_the_count(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    login(client, "boss", "wrong")
    login(client, "boss", "wrong")
    assert login(client, "boss", PASSWORD).status_code == 302
    client.logout()
    login(client, "boss", "wrong")
    login(client, "boss", "wrong")
    assert login(client, "boss", PASSWORD).status_code == 302


def test_login_form_has_the_otp_field(client):
    page = client.get(reverse("admin:login"))
    assert page.status_code == 200
    assert b'name="otp_token"' in page.content


def test_without_a_device_the_password_is_enough(client, staff):
    response = login(client, "boss", PASSWORD)
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_with_a_device_a_code_is_required_and_verified(client, staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)

    missing = login(client, "boss", PASSWORD)
    assert missing.status_code == 200
    assert "one-time code" in missing.content.decode()
    assert "_auth_user_id" not in client.session

    response = login(client, "boss", PASSWORD, otp_token=current_code(device))
    assert response.status_code == 302
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_wrong_code_is_refused(client, staff):
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    response = login(client, "boss", PASSWORD, otp_token="000000")
    assert response.status_code == 200
    assert "not valid" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_unconfirmed_device_does_not_count(client, staff):
    TOTPDevice.objects.create(user=staff, name="half-set-up", confirmed=False)
    assert login(client, "boss", PASSWORD).status_code == 302


def test_required_2fa_refuses_staff_without_a_device(client, staff, settings):
    settings.ADMIN_REQUIRE_2FA = True
    response = login(client, "boss", PASSWORD)
    assert response.status_code == 200
    assert "Ask an administrator to enrol one" in response.content.decode()


def test_required_2fa_refuses_unverified_sessions(client, staff, settings):
    settings.ADMIN_REQUIRE_2FA = True
    client.force_login(staff)  # a session that never gave a code
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_required_2fa_lets_verified_staff_in(client, staff, settings):
    settings.ADMIN_REQUIRE_2FA = True
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    assert login(client, "boss", PASSWORD, otp_token=current_code(device)).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_totp_devices_are_managed_in_the_console(client, staff):
    client.force_login(staff)
    response = client.get(reverse("admin:otp_totp_totpdevice_add"))
    assert response.status_code == 200
