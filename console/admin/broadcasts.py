"""Broadcasts in the console: compose (texts per language, photo, buttons, audience), see
the recipient count and a Telegram-like preview, send a test to oneself, send now or
schedule, watch the progress, stop. Every action goes through ``console.broadcasts``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from accounts.models import Language
from console.broadcasts import (
    BROADCAST_FIELDS,
    broadcast_audience_count,
    broadcast_create,
    broadcast_markup,
    broadcast_problems,
    broadcast_progress,
    broadcast_schedule,
    broadcast_start,
    broadcast_stop,
    broadcast_test_send,
    broadcast_update,
)
from core.admin import ConsoleModelForm
from core.exceptions import ApplicationError
from nodes.models import Node
from notifications.models import Broadcast, BroadcastAudience, BroadcastStatus, OutboxStatus
from notifications.telegram_html import telegram_html_preview
from subscriptions.models import Tariff


def _https_urls(db_field, **kwargs):
    """Form fields for Broadcast; a URL without a scheme is taken as https."""
    if db_field.name == "button_url":
        kwargs["assume_scheme"] = "https"
    return db_field.formfield(**kwargs)


class BroadcastForm(ConsoleModelForm):
    audience_tariff_id = forms.TypedChoiceField(
        label=_("tariff"), coerce=int, empty_value=None, required=False
    )
    audience_node_id = forms.TypedChoiceField(
        label=_("node"), coerce=int, empty_value=None, required=False
    )

    class Meta:
        formfield_callback = _https_urls
        model = Broadcast
        fields = list(BROADCAST_FIELDS)
        widgets = {
            "text_ru": forms.Textarea(attrs={"rows": 8, "cols": 70}),
            "text_en": forms.Textarea(attrs={"rows": 8, "cols": 70}),
        }
        help_texts = {"button_text": _("Optional: a link button under the message.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        empty = [("", "—")]
        if "audience_tariff_id" in self.fields:  # not on a started (read-only) broadcast
            tariffs = Tariff.objects.order_by("sort_order", "pk")
            self.fields["audience_tariff_id"].choices = empty + [(t.pk, str(t)) for t in tariffs]
            self.fields["audience_tariff_id"].help_text = _("For “on a tariff”.")
        if "audience_node_id" in self.fields:
            nodes = Node.objects.order_by("name")
            self.fields["audience_node_id"].choices = empty + [(n.pk, n.name) for n in nodes]
            self.fields["audience_node_id"].help_text = _("For “on a node”.")

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and self.instance.status != BroadcastStatus.DRAFT:
            raise forms.ValidationError(gettext("Only a draft broadcast can be edited."))
        draft = Broadcast(
            **{name: cleaned.get(name) for name in BROADCAST_FIELDS if name != "photo"},
        )
        photo = cleaned.get("photo")
        draft.photo = photo or None
        for field, problems in broadcast_problems(draft).items():
            for problem in problems:
                self.add_error(None if field == "__all__" else field, problem)
        return cleaned


@admin.register(Broadcast)
class BroadcastAdmin(ModelAdmin):
    form = BroadcastForm
    list_display = [
        "id",
        "text_short",
        "audience",
        "language",
        "status",
        "send_at",
        "recipients_total",
        "sent_count",
        "failed_count",
        "blocked_count",
        "created_by",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "audience", "language"]
    list_select_related = ["created_by"]
    search_fields = ["text_ru", "text_en"]
    ordering = ["-created_at"]
    change_form_template = "admin/notifications/broadcast/change_form.html"
    state_fields = [
        "status",
        "send_at",
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
            return [*BROADCAST_FIELDS, *self.state_fields]
        return ["audience_now", *self.state_fields]

    def get_fields(self, request, obj=None):
        fields = list(BROADCAST_FIELDS)
        if obj is None:
            return fields
        if obj.status == BroadcastStatus.DRAFT:
            return [*fields, "audience_now", *self.state_fields]
        return [*fields, *self.state_fields]

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (
            obj is None or obj.status == BroadcastStatus.DRAFT
        )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "button_url":
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.send_broadcast")

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in BROADCAST_FIELDS}
        if data["photo"] is False:  # "clear" ticked
            data["photo"] = ""
        if change:
            if "photo" not in form.changed_data:
                data.pop("photo")
            saved = broadcast_update(broadcast=obj, data=data)
        else:
            saved = broadcast_create(actor=request.user, **data)
        obj.pk, obj.created_at, obj.created_by_id = saved.pk, saved.created_at, saved.created_by_id
        obj._state.adding = False

    @admin.display(description=_("Text"))
    def text_short(self, broadcast: Broadcast) -> str:
        return str(broadcast).split(" ", 1)[-1]

    @admin.display(description=_("Recipients right now"))
    def audience_now(self, broadcast: Broadcast) -> str:
        count = broadcast_audience_count(broadcast=broadcast)
        return format_html(
            '<span id="broadcast-audience-now">{}</span> {}',
            count,
            gettext("(banned customers and those who blocked the bot are left out)"),
        )

    @admin.display(description=_("Progress"))
    def progress_display(self, broadcast: Broadcast) -> str:
        counts = broadcast_progress(broadcast_id=broadcast.pk)
        url = reverse("admin:notifications_outboxmessage_changelist")
        rows = [
            (gettext("sent"), OutboxStatus.SENT),
            (gettext("failed"), OutboxStatus.FAILED),
            (gettext("blocked"), OutboxStatus.BLOCKED),
            (gettext("pending"), OutboxStatus.PENDING),
            (gettext("sending"), OutboxStatus.SENDING),
            (gettext("cancelled by the stop"), OutboxStatus.SKIPPED),
        ]
        total = counts["total"]
        done = total - counts["in_flight"]
        return format_html(
            '<progress id="broadcast-progress-bar" max="{}" value="{}"></progress> '
            '<span id="broadcast-progress">{}</span><br>{}',
            max(total, 1),
            done,
            gettext("%(sent)s of %(total)s messages sent")
            % {"sent": counts[OutboxStatus.SENT], "total": total},
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
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/send/", view(self.send_view), name="notifications_broadcast_send"
            ),
            path(
                "<path:object_id>/test/", view(self.test_view), name="notifications_broadcast_test"
            ),
            path(
                "<path:object_id>/schedule/",
                view(self.schedule_view),
                name="notifications_broadcast_schedule",
            ),
            path(
                "<path:object_id>/stop/", view(self.stop_view), name="notifications_broadcast_stop"
            ),
            path(
                "<path:object_id>/photo/",
                view(self.photo_view),
                name="notifications_broadcast_photo",
            ),
            *super().get_urls(),
        ]

    def _broadcast_for(self, request: HttpRequest, object_id: str, *, send: bool) -> Broadcast:
        if send and not self.has_send_permission(request):
            raise PermissionDenied
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        broadcast = self.get_object(request, object_id)
        if broadcast is None:
            raise Http404
        return broadcast

    @staticmethod
    def _change_url(broadcast: Broadcast) -> str:
        return reverse("admin:notifications_broadcast_change", args=[broadcast.pk])

    def send_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A confirmation page with the recipient count; confirmed, ``broadcast_start``."""
        broadcast = self._broadcast_for(request, object_id, send=True)
        change_url = self._change_url(broadcast)
        if request.method == "POST":
            try:
                started = broadcast_start(broadcast=broadcast, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext(
                        "Broadcast #%(id)s is being sent to %(count)s customer(s); the progress "
                        "below updates as the outbox delivers it."
                    )
                    % {"id": started.pk, "count": started.recipients_total},
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Send broadcast #%(id)s?") % {"id": broadcast.pk},
            "opts": self.model._meta,
            "original": broadcast,
            "recipients": broadcast_audience_count(broadcast=broadcast),
            "change_url": change_url,
            "previews": self.previews(broadcast),
        }
        return TemplateResponse(request, "admin/notifications/broadcast/send_confirm.html", context)

    def _post_action(self, request: HttpRequest, object_id: str, action) -> HttpResponse:
        """Run `action(broadcast)` for a POST (it returns the success message); an
        ``ApplicationError`` is shown as an error and changes nothing."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        broadcast = self._broadcast_for(request, object_id, send=True)
        try:
            text = action(broadcast)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(broadcast))

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def action(broadcast: Broadcast) -> str:
            rows = broadcast_test_send(broadcast=broadcast, actor=request.user)
            return gettext("Test sent to your Telegram (%(count)s message(s)).") % {
                "count": len(rows)
            }

        return self._post_action(request, object_id, action)

    def schedule_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def action(broadcast: Broadcast) -> str:
            field = forms.DateTimeField(input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
            try:
                send_at = field.clean(request.POST.get("send_at", ""))
            except forms.ValidationError:
                raise ApplicationError(gettext("Give the date and time to send at.")) from None
            scheduled = broadcast_schedule(broadcast=broadcast, actor=request.user, send_at=send_at)
            return gettext("Broadcast #%(id)s is scheduled for %(when)s.") % {
                "id": scheduled.pk,
                "when": timezone.localtime(scheduled.send_at).strftime("%Y-%m-%d %H:%M"),
            }

        return self._post_action(request, object_id, action)

    def stop_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def action(broadcast: Broadcast) -> str:
            cancelled = broadcast_stop(broadcast=broadcast, actor=request.user)
            return gettext(
                "Broadcast #%(id)s is stopped: %(count)s message(s) will not be sent."
            ) % {"id": broadcast.pk, "count": cancelled}

        return self._post_action(request, object_id, action)

    def photo_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The broadcast's photo, for the preview: only to staff who may view broadcasts
        (uploaded files are never served publicly)."""
        broadcast = self._broadcast_for(request, object_id, send=False)
        if not broadcast.photo:
            raise Http404
        response = FileResponse(broadcast.photo.open("rb"))
        response["Cache-Control"] = "private, max-age=300"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def previews(self, broadcast: Broadcast) -> list[dict]:
        """The message per language as the customer sees it: photo, text, buttons."""
        photo_url = (
            reverse("admin:notifications_broadcast_photo", args=[broadcast.pk])
            if broadcast.pk and broadcast.photo
            else ""
        )
        previews = []
        for code, name in Language.choices:
            text = broadcast.text_for(code)
            if not text:
                continue
            markup = broadcast_markup(broadcast, language=code) or {}
            previews.append(
                {
                    "language": code,
                    "name": name,
                    "fallback": not getattr(broadcast, f"text_{code}").strip(),
                    "html": telegram_html_preview(text),
                    "photo_url": photo_url,
                    "buttons": [
                        [{"text": button["text"], "url": button.get("url", "")} for button in row]
                        for row in markup.get("inline_keyboard", [])
                    ],
                }
            )
        return previews

    def render_change_form(  # noqa: PLR0917 - Django's signature
        self, request, context, add=False, change=False, form_url="", obj=None
    ):
        may_send = obj is not None and self.has_send_permission(request)
        status = obj.status if obj is not None else None
        context.update(
            {
                "can_send": may_send
                and status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED),
                "can_schedule": may_send and status == BroadcastStatus.DRAFT,
                "can_test": may_send,
                "can_stop": may_send
                and status in (BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING),
                "auto_refresh": status in (BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING),
                "previews": self.previews(obj) if obj is not None else [],
                "schedule_min": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
                "expired_audience": BroadcastAudience.EXPIRED,
            }
        )
        return super().render_change_form(request, context, add, change, form_url, obj)
