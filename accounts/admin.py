"""Operators of the console. The customer card lives in the console (console/admin/customers.py)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from accounts.models import User


@admin.register(User)
class OperatorAdmin(UserAdmin, ModelAdmin):
    """Operators of the console (user management: superusers only by the group setup)."""

    # django-unfold's styled versions of the auth forms (its docs, "Authentication").
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm

    fieldsets = (
        *UserAdmin.fieldsets,
        (_("Telegram"), {"fields": ("telegram_id",)}),
    )
    list_display = ["username", "email", "is_staff", "is_superuser", "is_active", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
