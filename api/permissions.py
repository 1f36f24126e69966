"""One permission class per scope (``api.scopes``): an endpoint names the least scope it
needs, and its view the console permissions (``required_perms``) the token's owner must
still hold. Both must pass; a refusal is 403 with a code saying which one failed:
``scope_insufficient`` (e.g. a support token asking for a refund) or ``owner_permission``
(the owner lost the console permission since the token was made).
"""

from __future__ import annotations

from django.contrib import admin
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from api.models import ApiToken
from api.scopes import Scope, scope_includes, scope_name


class TokenScope(BasePermission):
    """A valid API token (``ApiTokenAuthentication``) whose scope reaches ``scope``, owned by
    someone who holds every one of the view's ``required_perms``."""

    scope: str = Scope.OPERATORS
    # Writes are allowed only where an action asks for a write scope explicitly.
    safe_only = False

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False  # DRF answers 401 (no credentials) with our WWW-Authenticate
        if self.safe_only and request.method not in SAFE_METHODS:
            # Only an action that names a write scope may write: 405, whoever asks.
            raise exceptions.MethodNotAllowed(request.method)
        if not scope_includes(granted=token.scope, needed=self.scope):
            self.message = (
                f"This token's scope is {scope_name(token.scope)}; "
                f"this endpoint needs {scope_name(self.scope)}."
            )
            self.code = "scope_insufficient"
            return False
        perms = tuple(getattr(view, "required_perms", ()))
        if not perms:
            # Every endpoint names its console permissions: none named is a bug, refused.
            self.message = "This endpoint declares no permissions."
            self.code = "owner_permission"
            return False
        missing = [perm for perm in perms if not token.owner.has_perm(perm)]
        if missing:
            self.message = (
                f"The token's owner {token.owner} no longer holds {', '.join(missing)} "
                "in the console."
            )
            self.code = "owner_permission"
            return False
        return True


class ReadOnlyScope(TokenScope):
    """Any valid token, reads only (GET, HEAD, OPTIONS)."""

    scope = Scope.READ_ONLY
    safe_only = True


class SupportScope(TokenScope):
    """Support and operators tokens."""

    scope = Scope.SUPPORT


class OperatorsScope(TokenScope):
    """Operators tokens only."""

    scope = Scope.OPERATORS


class SchemaReader(BasePermission):
    """The schema and its docs page: a valid API token, or a console session (the console's
    own check, 2FA included)."""

    message = "Sign in to the console, or send an API token."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiToken):
            return True
        # SessionAuthentication (before this) left the session's user on the request.
        if getattr(request._request, "user", None) is None:
            return False
        return request.method in SAFE_METHODS and admin.site.has_permission(request._request)
