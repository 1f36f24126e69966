from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from api.scopes import Scope
from core.models import BaseModel

# A token reads ``vpnsite_<prefix>_<secret>``: the prefix finds the row, the secret proves
# possession. Only the SHA-256 of the whole token is stored (``api.services.token_digest``).
TOKEN_KIND = "vpnsite"  # noqa: S105 - a label, not a secret


class ApiToken(BaseModel):
    """A credential for the operator API, owned by a console user, with a console role's scope.

    Created in the console (its secret is shown once, never stored), revoked there; it stops
    working at `expires_at`, on revocation, and when its owner is no longer active staff.
    """

    name = models.CharField(
        max_length=100, help_text=_("What uses it, e.g. “CRM sync”."), verbose_name=_("name")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text=_("The console user the API acts as: audit rows name them."),
        verbose_name=_("owner"),
    )
    scope = models.CharField(
        max_length=10,
        choices=Scope.choices,
        help_text=_(
            "Read-only: reads. Support: reads and extending subscriptions. Operators: "
            "everything the API does. The owner must hold the console permissions of the scope."
        ),
        verbose_name=_("scope"),
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False, verbose_name=_("prefix"))
    secret_hash = models.CharField(max_length=64, editable=False, verbose_name=_("secret hash"))
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("Empty: until revoked."),
        db_index=True,
        verbose_name=_("expires at"),
    )
    rate_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text=_("Requests per minute; empty: API_RATE_PER_MINUTE."),
        verbose_name=_("requests per minute"),
    )
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last used at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    revoked_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("revoked at")
    )
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("revoked by"),
    )

    class Meta:
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]
        verbose_name = _("API token")
        constraints = [
            models.CheckConstraint(
                condition=Q(scope__in=Scope.values), name="apitoken_scope_known"
            ),
            models.CheckConstraint(
                condition=~Q(secret_hash="") & ~Q(prefix=""), name="apitoken_has_secret"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    @property
    def masked(self) -> str:
        """The token as it may be shown: its kind and prefix, never the secret."""
        return f"{TOKEN_KIND}_{self.prefix}_…"

    @property
    def actor_label(self) -> str:
        """What audit rows written through this token carry beside the owner."""
        return f"api:{self.prefix}"
