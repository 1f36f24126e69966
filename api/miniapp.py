"""/app/: the Mini App (docs/api.md, "Subscriber API and Mini App"): one HTML page, one script
and one stylesheet from our static files (``api/static/api/miniapp.*``), no framework, no
CDN. The page itself knows nobody: its script reads Telegram's initData and calls
/api/app/v1/ with it. Its texts come from gettext (locale/) in both languages, as JSON in
the page; the script picks the customer's.

Telegram Web opens a Mini App in an iframe of https://web.telegram.org, so this page (and
only this page) may be framed there; the phone apps open it in their web view.
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from accounts.models import Language
from core.middleware import csp_header_value

# Telegram Web K and A (https://core.telegram.org/bots/webapps: "Telegram Web").
FRAME_ANCESTORS = ["'self'", "https://web.telegram.org"]


def miniapp_texts() -> dict[str, str]:
    """Every text of the page in the active language; ``%(name)s`` is filled in by the
    script."""
    return {
        "title": _("My VPN"),
        "loading": _("Loading…"),
        "no_init_data": _("Open this app from the bot's menu button in Telegram."),
        "error": _("Something went wrong. Please try again."),
        "expired": _("This session has expired. Close the app and open it again."),
        "subscriptions": _("My subscriptions"),
        "none": _("You have no subscriptions yet."),
        "subscription_title": _("Subscription %(number)s · %(tariff)s"),
        "status_active": _("Active until %(date)s"),
        "status_expired": _("Ended %(date)s"),
        "status_suspended": _("Suspended"),
        "trial": _("Free trial"),
        "traffic": _("%(used)s of %(limit)s used"),
        "traffic_unlimited": _("%(used)s used, no limit"),
        "gb": _("%(value)s GB"),
        "devices_count": _("Devices: %(count)s of %(limit)s"),
        "details": _("Keys and devices"),
        "buy": _("Buy a subscription"),
        "renew": _("Renew"),
        "back": _("« Back"),
        "subscription_url": _("Subscription URL"),
        "copy": _("Copy"),
        "copied": _("Copied"),
        "add_to": _("Add to %(app)s"),
        "keys": _("Keys"),
        "no_keys": _("The keys are being prepared. They will appear here in a minute."),
        "devices": _("Devices"),
        "no_devices": _("No devices yet."),
        "remove": _("Remove"),
        "remove_confirm": _("Tap again to remove"),
        "removed": _("Removed: %(label)s"),
        "removals_left": _("Removals left today: %(count)s"),
        "choose_tariff": _("Choose a tariff"),
        "choose_subscription": _("Which subscription do you want to renew?"),
        "new_subscription": _("A new subscription"),
        "renewal_of": _("Renewal of subscription %(number)s"),
        "days": _("%(days)s days"),
        "devices_limit": _("up to %(count)s devices"),
        "choose_provider": _("How do you want to pay?"),
        "no_providers": _("Payment is not available right now. Please contact support."),
        "pay": _("Pay %(amount)s"),
        "pay_hint": _("The link is valid for %(minutes)s minutes."),
        "waiting": _("Waiting for the payment… This page updates by itself."),
        "paid": _("Paid! Your subscription is ready."),
        "paid_balance": _("Paid from your balance. Your subscription is ready."),
        "balance": _("Balance: %(amount)s"),
        "from_balance": _("💰 From the balance (%(balance)s)"),
        "balance_confirm": _("Pay %(amount)s from your balance? It will then hold %(after)s."),
        "balance_pay": _("✅ Pay %(amount)s from the balance"),
        "promo_code": _("Promo code"),
        "promo_apply": _("Apply"),
        "promo_price": _("With promo code %(code)s: %(price)s instead of %(before)s."),
        "promo_days": _("Promo code %(code)s adds %(days)s days."),
        "promo_free": _("🎁 Get it free"),
        "free_done": _("Done: %(title)s runs until %(date)s."),
        "support": _("Contact support"),
        "language": _("Language"),
    }


@require_safe
@never_cache
@xframe_options_exempt
def miniapp_page(request):
    texts = {}
    for language in Language.values:
        with translation.override(language):
            texts[language] = miniapp_texts()
    response = render(request, "api/miniapp.html", {"texts": texts})
    csp = {**settings.SECURE_CSP, "frame-ancestors": FRAME_ANCESTORS}
    response["Content-Security-Policy"] = csp_header_value(csp)
    return response
