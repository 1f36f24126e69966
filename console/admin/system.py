"""The admins other apps register (auth groups, django-otp's devices, django-axes' records,
django-constance's runtime settings), registered again on django-unfold's ModelAdmin so their
lists and forms are in the console's theme (unfold's docs: "a custom admin class for each
third-party model"). Imported from ``ConsoleConfig.ready``: that runs after the admin's
autodiscovery, once these apps have registered their own."""

from __future__ import annotations

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from constance.admin import Config, ConstanceAdmin
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.admin import ModelAdmin


class ConsoleGroupAdmin(GroupAdmin, ModelAdmin):
    pass


class ConsoleTOTPDeviceAdmin(TOTPDeviceAdmin, ModelAdmin):
    pass


class ConsoleAccessAttemptAdmin(AccessAttemptAdmin, ModelAdmin):
    pass


class ConsoleAccessFailureLogAdmin(AccessFailureLogAdmin, ModelAdmin):
    pass


class ConsoleAccessLogAdmin(AccessLogAdmin, ModelAdmin):
    pass


class ConsoleConstanceAdmin(ConstanceAdmin, ModelAdmin):
    pass


THEMED = {
    Group: ConsoleGroupAdmin,
    TOTPDevice: ConsoleTOTPDeviceAdmin,
    AccessAttempt: ConsoleAccessAttemptAdmin,
    AccessFailureLog: ConsoleAccessFailureLogAdmin,
    AccessLog: ConsoleAccessLogAdmin,
    Config: ConsoleConstanceAdmin,
}


def third_party_admins_theme(site: admin.AdminSite = admin.site) -> None:
    """Swap each of these models' admin for its themed subclass (idempotent)."""
    for model, model_admin in THEMED.items():
        if site.is_registered(model):
            if isinstance(site.get_model_admin(model), model_admin):
                continue
            site.unregister([model])
        site.register([model], model_admin)
