"""`Authorization: Bearer <token>` for the operator API (RFC 6750, section 2.1:
https://datatracker.ietf.org/doc/html/rfc6750#section-2.1).

No header: the request is anonymous and the endpoint's permission answers 401. A header
that names a token which cannot be used is refused at once with 401 and a code saying why:
``token_invalid`` (malformed, unknown or wrong secret: the three are not told apart),
``token_revoked``, ``token_expired``, ``owner_inactive`` (the owner is no longer active
staff).
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from api.models import ApiToken
from api.selectors import api_token_get
from api.services import api_token_touch

KEYWORD = "Bearer"


class TokenRefused(exceptions.AuthenticationFailed):
    pass


class ApiTokenAuthentication(BaseAuthentication):
    """The request's user is the token's owner; ``request.auth`` is the ``ApiToken``."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() != KEYWORD.lower():
            return None
        if len(header) != 2:
            raise TokenRefused(
                "Malformed Authorization header: expected “Bearer <token>”.", code="token_invalid"
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raw = ""
        token = api_token_get(raw=raw) if raw else None
        if token is None:
            raise TokenRefused("Invalid API token.", code="token_invalid")
        now = timezone.now()
        token_refusal(token=token, now=now)
        api_token_touch(token=token, now=now)
        return token.owner, token

    def authenticate_header(self, request) -> str:
        # A WWW-Authenticate header makes DRF answer 401 (not 403) to unauthenticated calls.
        return f'{KEYWORD} realm="api"'


def token_refusal(*, token: ApiToken, now) -> None:
    """Raise the reason `token` cannot be used now, if there is one."""
    if token.revoked_at is not None:
        raise TokenRefused(
            f"This API token was revoked at {token.revoked_at.isoformat()}.",
            code="token_revoked",
        )
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRefused(
            f"This API token expired at {token.expires_at.isoformat()}.", code="token_expired"
        )
    owner = token.owner
    if not (owner.is_active and owner.is_staff):
        raise TokenRefused(
            "This API token's owner is no longer an active console user.",
            code="owner_inactive",
        )
