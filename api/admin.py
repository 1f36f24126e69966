"""API tokens in the console: create one (its secret is shown once, on the page that answers
the form, and never stored), see when each was last used, revoke (docs/api.md, "Tokens").

Only superusers manage tokens unless a group is given the ``api`` permissions: the console
groups were made before this model existed (accounts/migrations/0002_console_groups.py).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from api.models import ApiToken
from api.services import api_token_create, api_token_owner_check, api_token_revoke
from core.admin import ConsoleModelForm, run_for_each
from core.exceptions import ApplicationError


class ApiTokenCreateForm(ConsoleModelForm):
    class Meta:
        model = ApiToken
        fields = ["name", "owner", "scope", "expires_at", "rate_per_minute"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "owner" in self.fields:  # the add form (a made token's page is read-only)
            self.fields["owner"].queryset = get_user_model().objects.filter(
                is_active=True, is_staff=True
            )

    def clean(self):
        cleaned = super().clean()
        owner, scope = cleaned.get("owner"), cleaned.get("scope")
        if owner is not None and scope:
            try:
                api_token_owner_check(owner=owner, scope=scope)
            except ApplicationError as exc:
                self.add_error("scope", exc.message)
        expires_at = cleaned.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            self.add_error("expires_at", _("The expiry must be in the future."))
        return cleaned


class TokenStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("usable", _("Usable")), ("expired", _("Expired")), ("revoked", _("Revoked"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "usable":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(ModelAdmin):
    form = ApiTokenCreateForm
    list_display = [
        "name",
        "owner",
        "scope",
        "masked",
        "state",
        "expires_at",
        "last_used_at",
        "created_at",
    ]
    list_filter = ["scope", TokenStateFilter]
    list_select_related = ["owner"]
    search_fields = ["name", "prefix", "owner__username"]
    ordering = ["-created_at"]
    actions = ["revoke_selected"]
    shown = [
        "name",
        "owner",
        "scope",
        "masked",
        "state",
        "expires_at",
        "rate_per_minute",
        "last_used_at",
        "created_at",
        "created_by",
        "revoked_at",
        "revoked_by",
    ]

    def get_fields(self, request, obj=None):
        return self.shown if obj is not None else ApiTokenCreateForm.Meta.fields

    def get_readonly_fields(self, request, obj=None):
        # A token never changes after it is made: revoke it and make another.
        return self.shown if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # revoked tokens stay, for the audit log's sake

    @admin.display(description=_("Token"))
    def masked(self, token: ApiToken) -> str:
        return token.masked

    @admin.display(description=_("State"))
    def state(self, token: ApiToken) -> str:
        if token.revoked_at is not None:
            return _("revoked")
        if token.expires_at is not None and token.expires_at <= timezone.now():
            return _("expired")
        return _("usable")

    def save_model(self, request: HttpRequest, obj: ApiToken, form, change: bool) -> None:
        if change:
            return  # nothing is editable (get_readonly_fields)
        token, raw = api_token_create(
            owner=obj.owner,
            scope=obj.scope,
            name=obj.name,
            expires_at=obj.expires_at,
            rate_per_minute=obj.rate_per_minute,
            actor=request.user,
        )
        # The admin goes on with `obj` (its history entry, the answer page): make it the row.
        obj.pk, obj.prefix, obj.secret_hash = token.pk, token.prefix, token.secret_hash
        obj.created_at, obj.created_by = token.created_at, token.created_by
        obj._state.adding = False
        obj._raw_token = raw  # memory only; shown once by response_add

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue=None):
        raw = getattr(obj, "_raw_token", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": _("API token created"),
            "opts": self.model._meta,
            "token": obj,
            "raw": raw,
        }
        response = TemplateResponse(request, "admin/api/apitoken/created.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description=_("Revoke selected tokens"), permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset) -> None:
        run_for_each(
            self,
            request,
            queryset.order_by("pk"),
            lambda token: api_token_revoke(token=token, actor=request.user),
            done=_("Revoked {count} token(s): requests with them are refused from now on."),
        )
