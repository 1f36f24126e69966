"""Broadcasts in the console: write, preview the audience, confirm and send, watch delivery."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin

from console.broadcasts import (
    broadcast_audience_count,
    broadcast_create,
    broadcast_progress,
    broadcast_start,
    broadcast_update,
)
from core.admin import ConsoleModelForm
from core.exceptions import ApplicationError
from notifications.models import Broadcast, BroadcastStatus, OutboxStatus


def _https_urls(db_field, **kwargs):
    """Form fields for Broadcast; URLs without a scheme are taken as https."""
    if db_field.name == "button_url":
        kwargs["assume_scheme"] = "https"
    return db_field.formfield(**kwargs)


class BroadcastForm(ConsoleModelForm):
    class Meta:
        formfield_callback = _https_urls
        model = Broadcast
        fields = ["text", "button_text", "button_url", "audience", "audience_days"]
        widgets = {"text": forms.Textarea(attrs={"rows": 8, "cols": 70})}
        help_texts = {
            "text": "Plain text, up to 4096 characters.",
            "button_text": "Optional: a URL button under the message.",
        }

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("button_text")) != bool(cleaned.get("button_url")):
            raise forms.ValidationError("A button needs both a text and a URL.")
        return cleaned


@admin.register(Broadcast)
class BroadcastAdmin(ModelAdmin):
    form = BroadcastForm
    list_display = [
        "id",
        "text_short",
        "audience",
        "status",
        "recipients_total",
        "sent_count",
        "failed_count",
        "blocked_count",
        "created_by",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "audience"]
    list_select_related = ["created_by"]
    search_fields = ["text"]
    ordering = ["-created_at"]
    change_form_template = "admin/notifications/broadcast/change_form.html"
    progress_fields = [
        "status",
        "progress_display",
        "recipients_total",
        "created_by",
        "started_at",
        "finished_at",
        "last_error",
    ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status != BroadcastStatus.DRAFT:
            return [*BroadcastForm.Meta.fields, *self.progress_fields]
        return ["audience_now", *self.progress_fields]

    def get_fields(self, request, obj=None):
        fields = list(BroadcastForm.Meta.fields)
        if obj is None:
            return fields
        if obj.status == BroadcastStatus.DRAFT:
            return [*fields, "audience_now", *self.progress_fields]
        return [*fields, *self.progress_fields]

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.status == BroadcastStatus.DRAFT

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "button_url":
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.send_broadcast")

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in BroadcastForm.Meta.fields}
        if change:
            saved = broadcast_update(broadcast=obj, data=data)
        else:
            saved = broadcast_create(actor=request.user, **data)
        obj.pk, obj.created_at, obj.created_by_id = saved.pk, saved.created_at, saved.created_by_id
        obj._state.adding = False

    @admin.display(description="Text")
    def text_short(self, broadcast: Broadcast) -> str:
        return str(broadcast).split(" ", 1)[-1]

    @admin.display(description="Recipients right now")
    def audience_now(self, broadcast: Broadcast) -> str:
        count = broadcast_audience_count(audience=broadcast.audience, days=broadcast.audience_days)
        return f"{count} (banned customers and those who blocked the bot are left out)"

    @admin.display(description="Progress")
    def progress_display(self, broadcast: Broadcast) -> str:
        counts = broadcast_progress(broadcast_id=broadcast.pk)
        url = reverse("admin:notifications_outboxmessage_changelist")
        rows = [
            ("sent", OutboxStatus.SENT),
            ("failed", OutboxStatus.FAILED),
            ("blocked", OutboxStatus.BLOCKED),
            ("skipped", OutboxStatus.SKIPPED),
            ("waiting", OutboxStatus.PENDING),
            ("sending", OutboxStatus.SENDING),
        ]
        return format_html(
            '<span id="broadcast-progress">{} of {} messages: {}</span>',
            counts[OutboxStatus.SENT],
            counts["total"],
            format_html_join(
                ", ",
                '<a href="{}?broadcast__id__exact={}&status__exact={}">{} {}</a>',
                (
                    (url, broadcast.pk, status, counts[status], label)
                    for label, status in rows
                    if counts[status] or status in (OutboxStatus.SENT, OutboxStatus.FAILED)
                ),
            ),
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/send/",
                self.admin_site.admin_view(self.send_view),
                name="notifications_broadcast_send",
            ),
            *super().get_urls(),
        ]

    def send_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A confirmation page with the recipient count; confirmed, ``broadcast_start``."""
        if not self.has_send_permission(request):
            raise PermissionDenied
        broadcast = self.get_object(request, object_id)
        if broadcast is None:
            raise Http404
        change_url = reverse("admin:notifications_broadcast_change", args=[broadcast.pk])
        if request.method == "POST":
            try:
                started = broadcast_start(broadcast=broadcast, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Broadcast #{started.pk} is being sent to {started.recipients_total} "
                    "customer(s); the progress below updates as the outbox delivers it.",
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(change_url)
        count = broadcast_audience_count(audience=broadcast.audience, days=broadcast.audience_days)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Send broadcast #{broadcast.pk}?",
            "opts": self.model._meta,
            "original": broadcast,
            "recipients": count,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/notifications/broadcast/send_confirm.html", context)

    def render_change_form(  # noqa: PLR0917 - Django's signature
        self, request, context, add=False, change=False, form_url="", obj=None
    ):
        context["can_send"] = (
            obj is not None
            and obj.status == BroadcastStatus.DRAFT
            and self.has_send_permission(request)
        )
        return super().render_change_form(request, context, add, change, form_url, obj)
