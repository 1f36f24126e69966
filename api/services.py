"""The API's own writes: tokens (create, revoke, last use). Everything else the API changes
goes through the services of the app that owns it (subscriptions, billing; a node's
reconciliation: ``nodes.services.reconcile.node_reconcile_request``), as the console's
actions do.

Tokens are stored the way django-rest-knox stores them
(https://jazzband.github.io/django-rest-knox/settings, "SECURE_HASH_ALGORITHM"): a public
prefix finds the row, and only a hash of the token is kept, so a copy of the database lets
nobody call the API. The secret is 256 random bits, so a fast hash (SHA-256) is enough; a
slow password hash would only slow every request down.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from api.models import TOKEN_KIND, ApiToken
from api.scopes import SCOPE_PERMISSIONS, Scope, scope_name
from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write

# How stale `last_used_at` may get before a request writes it again: one UPDATE a minute per
# token at most, instead of one per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
PREFIX_BYTES = 6  # 12 hex characters
SECRET_BYTES = 32  # 256 bits


def token_digest(raw: str) -> str:
    """What is stored of a token: the SHA-256 of all of it, in hex."""
    return hashlib.sha256(raw.encode()).hexdigest()


def token_parse(raw: str) -> tuple[str, str] | None:
    """``vpnsite_<prefix>_<secret>`` -> (prefix, the whole token); None when malformed."""
    kind, _, rest = raw.partition("_")
    prefix, _, secret = rest.partition("_")
    if kind != TOKEN_KIND or len(prefix) != PREFIX_BYTES * 2 or not secret:
        return None
    if any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix, raw


def api_token_scope_missing(*, owner, scope: str) -> list[str]:
    """The console permissions `owner` lacks for a token of `scope` (empty: none lacking)."""
    return sorted(perm for perm in SCOPE_PERMISSIONS[Scope(scope)] if not owner.has_perm(perm))


def api_token_owner_check(*, owner, scope: str) -> None:
    """Refuse a token its owner could not use: an inactive or non-staff owner, or a scope
    beyond the owner's console role."""
    if not (owner.is_active and owner.is_staff):
        raise ApplicationError(
            f"{owner} is not an active staff user: only console users can own API tokens.",
            {"owner_id": owner.pk},
        )
    missing = api_token_scope_missing(owner=owner, scope=scope)
    if missing:
        raise ApplicationError(
            f"{owner} cannot be given a {scope_name(scope)} token: they lack "
            f"{', '.join(missing)} in the console.",
            {"owner_id": owner.pk, "scope": scope, "missing": missing},
        )


@transaction.atomic
def api_token_create(
    *,
    owner,
    scope: str,
    name: str,
    actor,
    expires_at: datetime | None = None,
    rate_per_minute: int | None = None,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for `owner`, audited; returns it and the token itself, which exists only
    in this return value (show it once)."""
    now = now or timezone.now()
    name = (name or "").strip()
    if not name:
        raise ApplicationError("An API token needs a name.", {})
    if scope not in Scope.values:
        raise ApplicationError(f"Unknown scope {scope!r}.", {"scope": scope})
    if expires_at is not None and expires_at <= now:
        raise ApplicationError(
            "The expiry must be in the future.", {"expires_at": expires_at.isoformat()}
        )
    api_token_owner_check(owner=owner, scope=scope)
    for _attempt in range(3):
        prefix = secrets.token_hex(PREFIX_BYTES)
        raw = f"{TOKEN_KIND}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
        token = ApiToken(
            name=name,
            owner=owner,
            scope=scope,
            prefix=prefix,
            secret_hash=token_digest(raw),
            expires_at=expires_at,
            rate_per_minute=rate_per_minute,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        token.full_clean(exclude=["owner"], validate_unique=False)
        try:
            with transaction.atomic():
                token.save(force_insert=True)
            break
        except IntegrityError:  # the prefix was taken: draw again
            continue
    else:  # pragma: no cover - three collisions of 48 random bits
        raise ApplicationError("Could not draw a free token prefix; try again.", {})
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=token,
        acting_user=actor,
        message=f"API token “{name}” ({scope}) created for {owner}",
        extra_data={
            "action": "api_token_create",
            "owner_id": owner.pk,
            "scope": scope,
            "prefix": prefix,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor, now: datetime | None = None) -> ApiToken:
    """Revoke `token` at once (requests with it are refused from now on), audited."""
    now = now or timezone.now()
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is not None:
        raise ApplicationError(
            f"API token {locked.masked} was already revoked.", {"token_id": locked.pk}
        )
    locked.revoked_at = now
    locked.revoked_by = actor if getattr(actor, "pk", None) else None
    locked.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION,
        obj=locked,
        acting_user=actor,
        message=f"API token “{locked.name}” ({locked.masked}) revoked",
        extra_data={"action": "api_token_revoke", "owner_id": locked.owner_id},
    )
    token.revoked_at, token.revoked_by = locked.revoked_at, locked.revoked_by
    return locked


def api_token_touch(*, token: ApiToken, now: datetime | None = None) -> bool:
    """Record that `token` was used; at most one UPDATE per LAST_USED_RESOLUTION."""
    now = now or timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return False
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
    return True
