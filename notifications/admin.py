"""The notification outbox in the console: read-only, with a retry action. Broadcasts are
written and sent from the console's own admin (console/admin/broadcasts.py)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from core.admin import ReadOnlyAdmin, id_column
from notifications.models import OutboxMessage
from notifications.services import outbox_messages_retry


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin, ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "audience",
        "chat_id",
        "customer",
        "kind",
        "status",
        "attempts",
        "sent_at",
        "broadcast_id_shown",
        "text_short",
        "last_error_short",
    ]
    list_filter = ["status", "audience", "kind", "created_at"]
    list_select_related = ["customer"]
    search_fields = ["customer__username", "=dedupe_key"]
    search_help_text = _("Chat id or message id (exact), customer @username, or dedupe key.")
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    show_full_result_count = False
    actions = ["retry_selected"]
    broadcast_id_shown = id_column("broadcast", _("Broadcast"))
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("qr_payload", "reply_markup")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.change_outboxmessage")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.lstrip("-").isdigit():
            number = int(term)
            return queryset.filter(chat_id=number) | queryset.filter(pk=number), False
        return super().get_search_results(request, queryset, term.lstrip("@"))

    @admin.display(description=_("Text"))
    def text_short(self, message: OutboxMessage) -> str:
        return (message.text[:60] + "…") if len(message.text) > 60 else message.text

    @admin.display(description=_("Last error"))
    def last_error_short(self, message: OutboxMessage) -> str:
        return message.last_error[:80]

    @admin.action(
        description=_("Retry selected messages (failed, blocked, skipped)"), permissions=["retry"]
    )
    def retry_selected(self, request: HttpRequest, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = outbox_messages_retry(message_ids=ids, actor=request.user)
        if count:
            self.message_user(
                request,
                _("%(count)s message(s) queued again.") % {"count": count},
                messages.SUCCESS,
            )
        left = len(ids) - count
        if left:
            self.message_user(
                request,
                _("%(count)s message(s) were not retried: sent or being sent right now.")
                % {"count": left},
                messages.ERROR if not count else messages.WARNING,
            )
