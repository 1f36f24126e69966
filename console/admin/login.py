"""The console's login: password, then a TOTP code for those who need one (django-otp), and
the client address django-axes counts failed logins by (docs/console.md)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp import user_has_device
from unfold.forms import AuthenticationForm

from accounts.services import operator_otp_mandatory, operator_otp_required, operator_otp_verify
from core.admin import unfold_widget
from core.net import client_ip


def console_client_ip(request: HttpRequest) -> str | None:
    """The login's client address for django-axes: X-Forwarded-For only from our proxies."""
    return client_ip(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
        trusted_proxies=settings.TRUSTED_PROXY_IPS,
    )


class ConsoleAuthenticationForm(AuthenticationForm):
    """The admin login with an optional one-time code.

    Staff who enrolled a TOTP device must give a valid code; with ADMIN_REQUIRE_2FA every
    staff user must, with ADMIN_REQUIRE_2FA_SUPERUSERS every superuser. The device that
    accepted it is remembered in the session (django-otp), which `console_has_permission`
    checks.
    """

    otp_token = forms.CharField(
        label=_("One-time code"),
        required=False,
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}
        ),
        help_text=_("Only if you set up an authenticator app."),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "otp_required": _("Enter the one-time code from your authenticator app."),
        "otp_invalid": _("That one-time code is not valid. Try the current one."),
        "otp_no_device": _(
            "Two-factor authentication is required for the console, and your account has no "
            "authenticator device yet. Ask an administrator to enrol one (on the server: "
            "python manage.py otp_enrol <username>)."
        ),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)  # unfold styles the username and the password
        self.fields["otp_token"].widget = unfold_widget(self.fields["otp_token"].widget)

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is None or not operator_otp_required(user=user):
            return cleaned
        token = cleaned.get("otp_token", "")
        if not token:
            code = "otp_required" if user_has_device(user) else "otp_no_device"
            raise forms.ValidationError(self.error_messages[code], code=code)
        device = operator_otp_verify(user=user, token=token)
        if device is None:
            raise forms.ValidationError(self.error_messages["otp_invalid"], code="otp_invalid")
        user.otp_device = device  # django-otp stores it in the session on login
        return cleaned


_default_has_permission = admin.site.has_permission


def console_has_permission(request: HttpRequest) -> bool:
    """Staff as usual; where 2FA is mandatory for the user (ADMIN_REQUIRE_2FA for staff,
    ADMIN_REQUIRE_2FA_SUPERUSERS for superusers), only sessions verified by a TOTP code."""
    if not _default_has_permission(request):
        return False
    if operator_otp_mandatory(user=request.user):
        is_verified = getattr(request.user, "is_verified", None)
        return bool(is_verified and is_verified())
    return True


admin.site.login_form = ConsoleAuthenticationForm
admin.site.login_template = "admin/console/login.html"
admin.site.has_permission = console_has_permission
