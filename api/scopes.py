"""What an API token may do: one of the console's roles (docs/console.md, "Groups and
permissions"; accounts/migrations/0002_console_groups.py).

A request passes when the token's scope reaches the endpoint's (``api.permissions``) *and*
the token's owner still holds the console permissions the endpoint needs, so a token never
does more than its owner could do in the console, even after the owner was moved to a
smaller group.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    READ_ONLY = "read_only", _("Read-only")
    SUPPORT = "support", _("Support")
    OPERATORS = "operators", _("Operators")


def scope_name(scope: str) -> str:
    """The scope as the API's own (English) messages name it: "read-only", "support",
    "operators". Not the label: labels follow the console's language, the API's messages
    do not."""
    return Scope(scope).value.replace("_", "-")


# A scope includes every scope of a lower rank.
SCOPE_RANK = {Scope.READ_ONLY: 0, Scope.SUPPORT: 1, Scope.OPERATORS: 2}

# The console permissions each endpoint needs (the views name them in ``required_perms``).
PERM_VIEW_CUSTOMER = "accounts.view_customer"
PERM_VIEW_SUBSCRIPTION = "subscriptions.view_subscription"
PERM_VIEW_TARIFF = "subscriptions.view_tariff"
PERM_VIEW_PAYMENT = "billing.view_payment"
PERM_VIEW_NODE = "nodes.view_node"
PERM_EXTEND_SUBSCRIPTION = "subscriptions.extend_subscription"
PERM_CHANGE_SUBSCRIPTION = "subscriptions.change_subscription"
PERM_CHANGE_PAYMENT = "billing.change_payment"
PERM_CHANGE_NODE = "nodes.change_node"

_READ = frozenset(
    {
        PERM_VIEW_CUSTOMER,
        PERM_VIEW_SUBSCRIPTION,
        PERM_VIEW_TARIFF,
        PERM_VIEW_PAYMENT,
        PERM_VIEW_NODE,
    }
)
_SUPPORT = _READ | {PERM_EXTEND_SUBSCRIPTION}
_OPERATORS = _SUPPORT | {PERM_CHANGE_SUBSCRIPTION, PERM_CHANGE_PAYMENT, PERM_CHANGE_NODE}

# What an owner must hold to be given a token of each scope: everything the scope's
# endpoints need. The "support" group holds SUPPORT's, "operators" OPERATORS'.
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    Scope.READ_ONLY: _READ,
    Scope.SUPPORT: _SUPPORT,
    Scope.OPERATORS: _OPERATORS,
}


def scope_includes(*, granted: str, needed: str) -> bool:
    """Whether a token of scope `granted` may call an endpoint that needs scope `needed`."""
    return SCOPE_RANK[Scope(granted)] >= SCOPE_RANK[Scope(needed)]
