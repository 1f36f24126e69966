"""Admin pieces every app's admin uses: the intermediate form page that actions ask their
questions on, running an action for each selected object, and the audit log admin. The login
with 2FA is the console's (console/admin.py)."""

from __future__ import annotations

import base64
import functools
import hashlib
import re

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template import Context, Template, loader
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold import widgets as unfold_widgets
from unfold.admin import ModelAdmin
from unfold.decorators import action as unfold_action
from unfold.enums import ActionVariant

from core.exceptions import ApplicationError
from core.models import AuditLog

# --- The theme's one inline style ----------------------------------------------------------

# django-unfold's page skeleton sets its colour palette as CSS variables in one inline
# <style id="unfold-theme-colors"> (its styles.css only refers to them).
_THEME_STYLE = re.compile(
    r'(\{% if colors %\}\s*<style id="unfold-theme-colors">)(.*?)(</style>)', re.S
)


@functools.cache
def unfold_theme_style_hash() -> str:
    """The CSP source (``'sha256-…'``) that allows exactly unfold's colour variables.

    Renders that element's body from unfold's own template with the site's colours and border
    radius (settings UNFOLD, which no request changes here), the same text every page carries,
    so the console's policy allows it by hash and no other inline style
    (core/middleware.py; a test compares it with a rendered page)."""
    source = loader.get_template("unfold/layouts/skeleton.html").template.source
    match = _THEME_STYLE.search(source)
    if match is None:  # unfold moved it: no hash, the browser test reports the violation
        return ""
    fragment = "{% load unfold %}" + match.group(2)
    site = admin.site
    body = Template(fragment).render(
        Context(
            {
                "colors": site._get_colors("COLORS", None),
                "border_radius": site._get_config("BORDER_RADIUS", None),
            }
        )
    )
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return f"'sha256-{digest}'"


# --- Forms in the console's theme -----------------------------------------------------------

# Django's plain widgets -> django-unfold's styled ones (unfold's ModelAdmin does this for
# model fields, unfold/overrides.py; the action forms below are plain forms).
UNFOLD_WIDGETS: dict[type[forms.Widget], type[forms.Widget]] = {
    forms.TextInput: unfold_widgets.UnfoldAdminTextInputWidget,
    forms.NumberInput: unfold_widgets.UnfoldAdminIntegerFieldWidget,
    forms.EmailInput: unfold_widgets.UnfoldAdminEmailInputWidget,
    forms.URLInput: unfold_widgets.UnfoldAdminURLInputWidget,
    forms.Textarea: unfold_widgets.UnfoldAdminTextareaWidget,
    forms.Select: unfold_widgets.UnfoldAdminSelectWidget,
    forms.CheckboxInput: unfold_widgets.UnfoldBooleanWidget,
    forms.PasswordInput: unfold_widgets.UnfoldAdminPasswordWidget,
}


def unfold_widget(widget: forms.Widget) -> forms.Widget:
    """`widget` as its django-unfold counterpart (same attributes, choices and value
    rendering), or unchanged when it has none (hidden inputs, unfold's own widgets)."""
    themed = UNFOLD_WIDGETS.get(type(widget))
    if themed is None:
        return widget
    new = themed(attrs=dict(widget.attrs))
    if hasattr(widget, "choices"):
        new.choices = widget.choices
    if hasattr(widget, "render_value"):
        new.render_value = widget.render_value
    new.is_required = widget.is_required
    return new


class ConsoleFormMixin:
    """For the console's own forms (action questions, manual payments, model forms): every
    field's widget in the theme's style."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget = unfold_widget(field.widget)


class ConsoleForm(ConsoleFormMixin, forms.Form):
    """A plain form in the console's theme."""


class ConsoleModelForm(ConsoleFormMixin, forms.ModelForm):
    """A model form in the console's theme."""


# --- Intermediate pages for actions ----------------------------------------------------------


def action_form_page(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset,
    *,
    form: forms.Form,
    action: str,
    title: str,
    submit: str,
    intro: str = "",
    extra: dict | None = None,
) -> TemplateResponse:
    """The page an action shows to ask its question (days, reason, text, node…).

    Re-posts the selected ids and the action name, plus `apply`, back to the changelist.
    """
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": opts,
        "form": form,
        "objects": queryset[:50],
        "count": queryset.count(),
        "action": action,
        "submit": submit,
        "intro": intro,
        "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)],
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across", "0"),
        **(extra or {}),
    }
    return TemplateResponse(request, "admin/console/action_form.html", context)


def run_for_each(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset,
    call,
    *,
    done: str,
) -> int:
    """Call `call(obj)` (a service) for each selected object; report errors and the count."""
    ok = 0
    for obj in queryset:
        try:
            call(obj)
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
        else:
            ok += 1
    if ok:
        modeladmin.message_user(request, done.format(count=ok), messages.SUCCESS)
    return ok


def form_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset,
    *,
    form_class: type[forms.Form],
    call,
    done,
    **page,
) -> TemplateResponse | None:
    """An action that asks its question first: the form page (``action_form_page`` with
    `page`), then, once the form is valid, ``call(obj, cleaned_data)`` for each selected object
    (``run_for_each``). `done` is the success message, or a function of the cleaned data."""
    form = form_class(request.POST if "apply" in request.POST else None)
    if not (form.is_bound and form.is_valid()):
        return action_form_page(modeladmin, request, queryset, form=form, **page)
    data = form.cleaned_data
    run_for_each(
        modeladmin,
        request,
        queryset.order_by("pk"),
        lambda obj: call(obj, data),
        done=done(data) if callable(done) else done,
    )
    return None


# --- Buttons on an object's page ---------------------------------------------------------------
#
# django-unfold's ``actions_detail`` (unfold/mixins/action_model_admin.py): each button is a
# method decorated with ``unfold.decorators.action``, served at ``<object_id>/<url_path>/`` and
# shown and allowed only when every ``has_<permission>_permission(request, object_id)`` is true
# (the decorator refuses the URL with 403 otherwise). Our buttons run the list's own action
# for that one object: the same question form, service, audit row and messages.


def detail_object(modeladmin: admin.ModelAdmin, request: HttpRequest, object_id):
    """The object of a button's page (None when missing or not visible), fetched once per
    request: each button's permission check asks for it."""
    cache = request.__dict__.setdefault("_console_detail_objects", {})
    key = (modeladmin.model._meta.label, str(object_id))
    if key not in cache:
        cache[key] = modeladmin.get_object(request, unquote(str(object_id)))
    return cache[key]


def detail_applies(modeladmin: admin.ModelAdmin, request: HttpRequest, object_id, test) -> bool:
    """Whether a button applies to the page's object: `test(obj)`; False for a missing one."""
    if object_id is None:
        return True  # the list: the action itself reports what does not apply
    obj = detail_object(modeladmin, request, object_id)
    return obj is not None and bool(test(obj))


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])


def run_detail_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    object_id,
    list_action: str,
    *,
    confirm: dict | None = None,
):
    """Run the list action `list_action` for the page's object: its form page (posting back
    here), then the action itself; back to the object's page with its messages. `confirm`
    (``action_form_page``'s title, submit, intro): an action without a question is confirmed
    first, so a GET never changes anything."""
    obj = detail_object(modeladmin, request, object_id)
    if obj is None:
        raise Http404
    queryset = modeladmin.get_queryset(request).filter(pk=obj.pk)
    if confirm is not None and "apply" not in request.POST:
        return action_form_page(
            modeladmin,
            request,
            queryset,
            form=ConsoleForm(),
            action=list_action,
            extra={"back_url": change_url(obj)},
            **confirm,
        )
    response = getattr(modeladmin, list_action)(request, queryset)
    if response is None:
        return HttpResponseRedirect(change_url(obj))
    if getattr(response, "context_data", None) is not None:  # a form page: back to the object
        response.context_data["back_url"] = change_url(obj)
    return response


def detail_button(
    name: str,
    list_action: str,
    *,
    description,
    permission: str,
    variant: ActionVariant = ActionVariant.DEFAULT,
    icon: str | None = None,
    confirm: dict | None = None,
):
    """A button on the object's page (list it in ``actions_detail`` under `name`) that runs
    the list action `list_action` for that object; shown and allowed when
    ``has_<permission>_permission(request, object_id)`` holds."""

    def button(self, request: HttpRequest, object_id):
        return run_detail_action(self, request, object_id, list_action, confirm=confirm)

    button.__name__ = button.__qualname__ = name
    return unfold_action(
        description=description,
        permissions=[permission],
        url_path=name.removesuffix("_detail").replace("_", "-"),
        variant=variant,
        icon=icon,
    )(button)


def id_column(field: str, description):
    """A list column with a foreign key's id (no join), headed by `description`, a
    translated name. Listing "payment_id" itself would be headed "Payment id" in every
    language (the admin's label for a column name); give the column another name."""

    @admin.display(description=description, ordering=field)
    def column(self, obj) -> int | None:
        return getattr(obj, f"{field}_id")

    return column


class ReadOnlyAdmin:
    """For a model admin or an inline: nobody adds, changes or deletes these rows here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Audit log -------------------------------------------------------------------------------

# Actors other than operators, as services label them.
ACTOR_LABELS = ["system", "bot", "celery", "cli", "robokassa", "freekassa", "manual", "promo"]


class ActorFilter(admin.SimpleListFilter):
    """Who acted: a staff user, or one of the system's labels. No scan of the log itself."""

    title = _("actor")
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        users = get_user_model().objects.filter(is_staff=True).order_by("username")
        return [
            *((f"user:{user.pk}", user.get_username()) for user in users),
            *((f"label:{label}", label) for label in ACTOR_LABELS),
        ]

    def queryset(self, request, queryset):
        value = self.value() or ""
        kind, _, ident = value.partition(":")
        if kind == "user" and ident.isdigit():
            return queryset.filter(acting_user_id=int(ident))
        if kind == "label" and ident:
            return queryset.filter(acting_user__isnull=True, actor_label=ident)
        return queryset


class ObjectTypeFilter(admin.SimpleListFilter):
    """The kind of object: every model of ours, listed without scanning the log."""

    title = _("object type")
    parameter_name = "object_type"

    def lookups(self, request, model_admin):
        ours = ["accounts", "billing", "nodes", "notifications", "subscriptions"]
        return [
            (model._meta.label_lower, model._meta.verbose_name.capitalize())
            for label in ours
            for model in apps.get_app_config(label).get_models()
        ]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(object_type=self.value())
        return queryset


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin, ModelAdmin):
    """Append-only: nobody adds, edits or deletes audit rows from the console."""

    list_display = [
        "event_time",
        "event_type",
        "actor_display",
        "customer_link",
        "object_display",
        "message",
    ]
    list_filter = ["event_type", ActorFilter, ObjectTypeFilter, "event_time"]
    list_select_related = ["acting_user", "customer"]
    search_fields = ["message"]
    search_help_text = _("Object id (exact), customer Telegram id, or words of the message.")
    date_hierarchy = "event_time"
    ordering = ["-event_time", "-id"]
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditLog._meta.fields if f.name != "id"]
    fields = readonly_fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.isdigit():
            return queryset.filter(Q(object_id=term) | Q(customer__telegram_id=int(term))), False
        return super().get_search_results(request, queryset, term)

    @admin.display(description=_("Actor"), ordering="acting_user")
    def actor_display(self, row: AuditLog) -> str:
        return row.actor

    @admin.display(description=_("Customer"), ordering="customer")
    def customer_link(self, row: AuditLog) -> str:
        if not row.customer_id:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:accounts_customer_change", args=[row.customer_id]),
            row.customer,
        )

    @admin.display(description=_("Object"))
    def object_display(self, row: AuditLog) -> str:
        if not row.object_type:
            return "—"
        app_label, _, model = row.object_type.partition(".")
        try:
            url = reverse(f"admin:{app_label}_{model}_change", args=[row.object_id])
        except NoReverseMatch:  # a model without an admin: plain text
            return f"{row.object_type}#{row.object_id}"
        return format_html('<a href="{}">{}#{}</a>', url, model, row.object_id)
