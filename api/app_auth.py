"""Who calls the subscriber API (/api/app/v1/): a Telegram user, by the Mini App's initData
sent as ``Authorization: tma <initData>`` (``api.initdata`` checks it).

The customer is found or registered exactly as the bot does on every update
(``accounts.services.customer_register_or_update``), so the Mini App and the bot see one
customer with one language. ``request.user`` is the ``Customer``, ``request.auth`` the
``InitData``. A banned customer is refused (403 ``customer_banned``), as the bot refuses them.
"""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from accounts.models import Customer
from accounts.services import customer_register_or_update
from api.initdata import InitData, InitDataError, init_data_parse
from core.ratelimit import rate_hit

KEYWORD = "tma"
WINDOW_SECONDS = 60


class InitDataRefused(exceptions.AuthenticationFailed):
    pass


class TelegramInitDataAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request)
        keyword, _space, raw = header.partition(b" ")
        if keyword.decode("latin-1").lower() != KEYWORD:
            return None
        try:
            raw = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raw = ""
        try:
            data = init_data_parse(
                raw,
                bot_token=settings.TELEGRAM_BOT_TOKEN,
                max_age=settings.MINIAPP_INIT_DATA_MAX_AGE,
                now=time.time(),
            )
        except InitDataError as exc:
            raise InitDataRefused(str(exc), code=exc.code) from exc
        user = data.user
        customer, _created = customer_register_or_update(
            telegram_id=user.id,
            username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
            language_code=user.language_code,
        )
        return customer, data

    def authenticate_header(self, request) -> str:
        # A WWW-Authenticate header makes DRF answer 401 (not 403) without credentials.
        return f'{KEYWORD} realm="app"'


class IsSubscriber(BasePermission):
    """A customer authenticated by initData who is not banned."""

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, InitData) or not isinstance(request.user, Customer):
            return False
        if request.user.is_banned:
            self.message = "Your account is blocked."
            self.code = "customer_banned"
            return False
        return True


class SubscriberRateThrottle(BaseThrottle):
    """MINIAPP_RATE_PER_MINUTE calls a minute per customer (``core.ratelimit``: atomic,
    shared by every web process, fails open)."""

    timer = time.time

    def allow_request(self, request, view) -> bool:
        if not isinstance(request.user, Customer):
            return True
        self.now = self.timer()
        hits = rate_hit(key=f"app:{request.user.pk}", window=WINDOW_SECONDS, now=self.now)
        return hits <= settings.MINIAPP_RATE_PER_MINUTE

    def wait(self) -> float:
        return WINDOW_SECONDS - (self.now % WINDOW_SECONDS)
