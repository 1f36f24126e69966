"""The console's login: django-axes locks out brute force (per address and username, per
address, per username); TOTP two-factor for those who enrolled a device, for every staff user
with ADMIN_REQUIRE_2FA, and for superusers with ADMIN_REQUIRE_2FA_SUPERUSERS (the production
default)."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.settings.test_production_settings import run

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
    assert settings.ADMIN_REQUIRE_2FA_SUPERUSERS is False  # test settings; production: True


def test_lockout_after_the_failure_limit(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert login(client, "boss", "wrong").status_code == 200  # the form, with its error
    locked = login(client, "boss", "wrong")
    assert locked.status_code == 429
    # Locked out: even the right password is refused from this address.
    assert login(client, "boss", PASSWORD).status_code == 429
    assert AccessAttempt.objects.get(username="boss").failures_since_start >= 3


SPRAYER = "203.0.113.66"
OFFICE = "192.0.2.10"


def test_password_spraying_from_one_address_is_locked_out(client, staff, settings):
    """20 usernames x 4 passwords from one address: locked out after AXES_FAILURE_LIMIT
    failures in all, whichever usernames they named."""
    settings.AXES_FAILURE_LIMIT = 5
    usernames = ["boss", *(f"user{n}" for n in range(19))]
    codes = [
        login(client, username, f"Spring202{n}!", ip=SPRAYER).status_code
        for n in range(4)
        for username in usernames
    ]
    assert codes[:4] == [200] * 4
    assert set(codes[4:]) == {429}
    assert login(client, "boss", PASSWORD, ip=SPRAYER).status_code == 429
    # The operator named in the spray still logs in from the office: the tries refused during
    # the lockout did not count against the usernames they named.
    assert login(client, "boss", PASSWORD, ip=OFFICE).status_code == 302


def test_guessing_one_username_from_many_addresses_is_locked_out(client, staff, settings):
    """30 addresses x 1 guess at one username: that username is locked out after
    AXES_FAILURE_LIMIT failures, from every address."""
    settings.AXES_FAILURE_LIMIT = 5
    codes = [
        login(client, "boss", "Spring2024!", ip=f"198.51.100.{n}").status_code for n in range(1, 31)
    ]
    assert codes[:4] == [200] * 4
    assert set(codes[4:]) == {429}
    assert login(client, "boss", PASSWORD, ip=OFFICE).status_code == 429
    # Other operators are not affected.
    User.objects.create_superuser("other", "o@example.com", PASSWORD)
    assert login(client, "other", PASSWORD, ip=OFFICE).status_code == 302


def test_a_user_with_one_typo_is_not_locked_out(client, staff):
    """At the configured limit, a mistyped password and then the right one logs in."""
    assert login(client, "boss", "pw-123-lnog").status_code == 200
    assert login(client, "boss", PASSWORD).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


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


def test_superusers_need_2fa_by_default_in_production():
    show = [
        "-c",
        (
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.ADMIN_REQUIRE_2FA_SUPERUSERS, settings.ADMIN_REQUIRE_2FA)"
        ),
    ]
    default = run(show, {})
    assert default.returncode == 0, default.stderr
    assert default.stdout.split() == ["True", "False"]
    opted_out = run(show, {"ADMIN_REQUIRE_2FA_SUPERUSERS": "false"})
    assert opted_out.returncode == 0, opted_out.stderr
    assert opted_out.stdout.split() == ["False", "False"]


@pytest.fixture
def superuser_2fa(settings):
    settings.ADMIN_REQUIRE_2FA_SUPERUSERS = True
    return settings


@pytest.mark.usefixtures("superuser_2fa")
def test_required_superuser_2fa_refuses_a_superuser_without_a_device(client, staff):
    response = login(client, "boss", PASSWORD)
    assert response.status_code == 200
    assert "python manage.py otp_enrol" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.usefixtures("superuser_2fa")
def test_required_superuser_2fa_refuses_unverified_superuser_sessions(client, staff):
    client.force_login(staff)  # a session that never gave a code
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


@pytest.mark.usefixtures("superuser_2fa")
def test_required_superuser_2fa_leaves_other_staff_alone(client):
    operator = User.objects.create_user("op", "op@example.com", PASSWORD, is_staff=True)
    assert login(client, "op", PASSWORD).status_code == 302
    client.force_login(operator)
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.usefixtures("superuser_2fa")
def test_otp_enrol_lets_a_superuser_in_with_a_code(client, staff, capsys):
    call_command("otp_enrol", "boss", "--name", "phone")
    out = capsys.readouterr().out
    device = TOTPDevice.objects.get(user=staff)
    assert device.confirmed
    assert device.name == "phone"
    assert device.config_url in out
    assert login(client, "boss", PASSWORD, otp_token=current_code(device)).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize(
    ("username", "name", "error"),
    [
        ("nobody", "phone", "No user 'nobody'"),
        ("customer", "phone", "not an active staff user"),
        ("boss", "  ", "device name must be 1 to"),
        ("boss", "x" * 65, "device name must be 1 to"),
    ],
)
def test_otp_enrol_refuses_bad_input_and_changes_nothing(staff, username, name, error):
    User.objects.create_user("customer", "c@example.com", PASSWORD)
    with pytest.raises(CommandError, match=error):
        call_command("otp_enrol", username, "--name", name)
    assert not TOTPDevice.objects.exists()
