"""The console's theme (django-unfold, docs/console.md "Theme"): the values the ``UNFOLD``
setting (vpnsite/settings/integrations/console.py) points at by dotted path. Unfold calls each
with the request (``unfold.sites.UnfoldAdminSite._get_value``).

The sidebar groups the admin's pages by task. Each item shows only to an operator the page
would let in: its link's ModelAdmin decides (``has_view_or_change_permission``), the same check
the admin's own app list makes, so the groups "support" and "operators" (and any custom role)
see exactly the pages they can open.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from console.analytics_views import ANALYTICS_PERMISSIONS


@dataclass(frozen=True)
class Entry:
    """A model's changelist in the sidebar."""

    title: Promise
    icon: str  # a Material Symbols name (unfold ships the font)
    model: str  # "app_label.ModelName"


# The tasks an operator comes to the console for. Every registered model is in one group
# (console/tests/admin/test_theme.py fails when one is left out).
SIDEBAR: list[tuple[Promise, list[Entry]]] = [
    (
        _("Sales"),
        [
            Entry(_("Payments"), "payments", "billing.Payment"),
            Entry(_("Tariffs"), "sell", "subscriptions.Tariff"),
            Entry(_("Promo codes"), "confirmation_number", "billing.PromoCode"),
            Entry(_("Promo code redemptions"), "redeem", "billing.PromoRedemption"),
            Entry(_("Gifts"), "featured_seasonal_and_gifts", "billing.Gift"),
            Entry(_("Balance entries"), "account_balance_wallet", "billing.BalanceEntry"),
            Entry(_("Referral rewards"), "share", "billing.ReferralReward"),
            Entry(_("Webhook events"), "webhook", "billing.WebhookEvent"),
        ],
    ),
    (
        _("Subscribers"),
        [
            Entry(_("Customers"), "person", "accounts.Customer"),
            Entry(_("Subscriptions"), "card_membership", "subscriptions.Subscription"),
        ],
    ),
    (
        _("Nodes"),
        [
            Entry(_("Nodes"), "dns", "nodes.Node"),
            Entry(_("Keys on nodes"), "vpn_key", "nodes.NodeClient"),
        ],
    ),
    (
        _("Messages"),
        [
            Entry(_("Broadcasts"), "campaign", "notifications.Broadcast"),
            Entry(_("Outbox"), "outbox", "notifications.OutboxMessage"),
        ],
    ),
    (
        _("System"),
        [
            Entry(_("Runtime settings"), "tune", "constance.Config"),
            Entry(_("Operators"), "badge", "accounts.User"),
            Entry(_("Groups"), "groups", "auth.Group"),
            Entry(_("Two-factor devices"), "phonelink_lock", "otp_totp.TOTPDevice"),
            Entry(_("API tokens"), "key", "api.ApiToken"),
            Entry(_("Audit records"), "history", "core.AuditLog"),
            Entry(_("Login attempts"), "lock_clock", "axes.AccessAttempt"),
            Entry(_("Login failures"), "gpp_bad", "axes.AccessFailureLog"),
            Entry(_("Access log"), "login", "axes.AccessLog"),
        ],
    ),
]


def _model_admin(label: str):
    """The ModelAdmin registered for "app_label.ModelName" (constance's Config is no model of
    the app registry, so the site's registry is searched)."""
    for model, model_admin in admin.site._registry.items():
        if model._meta.label == label:
            return model_admin
    return None


def _model_item(request: HttpRequest, entry: Entry) -> dict | None:
    model_admin = _model_admin(entry.model)
    if model_admin is None:
        return None
    opts = model_admin.opts
    allowed = model_admin.has_view_or_change_permission(request)
    return {
        "title": entry.title,
        "icon": entry.icon,
        "link": reverse(f"{admin.site.name}:{opts.app_label}_{opts.model_name}_changelist"),
        "permission": lambda request, allowed=allowed: allowed,
    }


def _analytics_item(request: HttpRequest) -> dict | None:
    """The analytics page's item, for those who may open it (its permissions)."""
    if not request.user.has_perms(ANALYTICS_PERMISSIONS):
        return None
    return {"title": _("Analytics"), "icon": "monitoring", "link": reverse("admin-analytics")}


def sidebar_navigation(request: HttpRequest) -> list[dict]:
    """UNFOLD["SIDEBAR"]["navigation"]: the dashboard (and analytics), then a group per task.

    Items an operator may not open carry ``permission`` False and unfold leaves them out; a
    group left without items is hidden by unfold's markup."""
    overview = [{"title": _("Dashboard"), "icon": "dashboard", "link": reverse("admin:index")}]
    analytics = _analytics_item(request)
    if analytics is not None:
        overview.append(analytics)
    navigation = [{"title": _("Overview"), "items": overview}]
    for title, entries in SIDEBAR:
        items = [item for entry in entries if (item := _model_item(request, entry))]
        navigation.append({"title": title, "collapsible": False, "items": items})
    return navigation


# The header, title and "View site" link stay the admin site's (vpnsite/urls.py sets them):
# unfold reads its own settings instead, so these hand them over.


def site_header(request: HttpRequest) -> str:
    return admin.site.site_header


def site_title(request: HttpRequest) -> str:
    return admin.site.site_title


def site_url(request: HttpRequest) -> str:
    return admin.site.site_url
