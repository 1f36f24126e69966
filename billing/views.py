"""Where the provider sends the buyer's browser back: /pay/success/ and /pay/fail/.

These pages are never proof of payment (docs/payments.md "Robokassa: Success URL and Fail URL",
"Rules for both providers") and change nothing: only the
server-to-server notification credits. They say what we know, in the buyer's language, and
send the person back to the bot.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from billing.exceptions import PaymentError
from billing.models import PaymentStatus
from billing.providers import provider_get
from billing.selectors import payment_get

LANGUAGE_PARAMS = ("Culture", "lang", "culture")


def _params(request: HttpRequest) -> dict[str, str]:
    params = {key: request.GET.get(key, "") for key in request.GET}
    if request.method == "POST":
        params.update({key: request.POST.get(key, "") for key in request.POST})
    return params


def _language(request: HttpRequest, params: dict[str, str]) -> str:
    supported = {code for code, _name in settings.LANGUAGES}
    for name in LANGUAGE_PARAMS:
        value = params.get(name, "").strip().lower()[:2]
        if value in supported:
            return value
    # LocaleMiddleware already chose from the cookie / Accept-Language.
    active = (translation.get_language() or settings.LANGUAGE_CODE)[:2]
    return active if active in supported else settings.LANGUAGE_CODE


def _bot_url() -> str:
    username = settings.TELEGRAM_BOT_USERNAME.strip().lstrip("@")
    return f"https://t.me/{username}" if username else ""


def _payment_state(params: dict[str, str]) -> str:
    """``paid`` / ``pending`` only for a redirect Robokassa signed (Password #1), else ``""``.

    An unsigned redirect (FreeKassa, a hand-typed URL) shows nothing about any payment, so the
    page cannot be used to probe payment ids.
    """
    if not params.get("SignatureValue"):
        return ""
    try:
        payment_id = provider_get("robokassa").redirect_verify(params=params)
    except PaymentError:
        return ""
    payment = payment_get(payment_id=payment_id)
    if payment is None:
        return ""
    if payment.status in (PaymentStatus.PAID, PaymentStatus.REFUNDED):
        return "paid"
    return "pending"


def _render(request: HttpRequest, *, template: str, state: str, language: str) -> HttpResponse:
    with translation.override(language):
        response = render(
            request,
            template,
            {"bot_url": _bot_url(), "state": state, "LANGUAGE_CODE": language},
        )
    response["Content-Language"] = language
    return response


@never_cache
@csrf_exempt  # the provider's page may POST the buyer back here; nothing is changed
@require_http_methods(["GET", "POST"])
def pay_success(request: HttpRequest) -> HttpResponse:
    params = _params(request)
    return _render(
        request,
        template="billing/pay_success.html",
        state=_payment_state(params),
        language=_language(request, params),
    )


@never_cache
@csrf_exempt  # the provider's page may POST the buyer back here; nothing is changed
@require_http_methods(["GET", "POST"])
def pay_fail(request: HttpRequest) -> HttpResponse:
    params = _params(request)
    return _render(
        request, template="billing/pay_fail.html", state="", language=_language(request, params)
    )
