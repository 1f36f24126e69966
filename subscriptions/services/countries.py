"""The subscriber's country: where a subscription's keys live, when its tariff allows
several countries (``Node.country``). Placement prefers it (``services.placement``); a
change moves the keys as an operator's move or a failover does."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.exceptions import ApplicationError
from core.models import AuditEvent
from core.services import audit_log_write
from nodes.models import SyncState
from nodes.selectors import LIVE_KEY_STATES
from subscriptions.models import Subscription, SubscriptionStatus, Tariff
from subscriptions.notifications import notify_keys_moved
from subscriptions.selectors import nodes_eligible
from subscriptions.services.keys import subscription_keys_converge_in_lock
from subscriptions.services.moves import subscription_move
from subscriptions.services.placement import _candidates_locked, node_pick_for_new_client


def tariff_countries(*, tariff: Tariff) -> list[str]:
    """The countries a subscription on `tariff` may choose: those of its eligible nodes
    (enabled, not down), sorted; a choice exists only with two or more."""
    codes = nodes_eligible(tariff=tariff).exclude(country="").values_list("country", flat=True)
    return sorted({code.upper() for code in codes})


def country_check(*, tariff: Tariff, country: str, language: str) -> str:
    """`country` as stored ("" or an upper-case code the tariff offers); else
    ``ApplicationError`` in `language`."""
    country = (country or "").strip().upper()
    if country and country not in tariff_countries(tariff=tariff):
        with translation.override(language):
            raise ApplicationError(
                _("This country is not available for this subscription."),
                {"tariff_id": tariff.pk, "country": country},
            )
    return country


@transaction.atomic
def subscription_country_set(
    *,
    subscription: Subscription,
    country: str,
    actor=None,
    actor_label: str = "customer",
    now: datetime | None = None,
) -> Subscription:
    """Move an active subscription's keys to `country` (a code its tariff offers).

    Refused (``ApplicationError`` in the customer's language, nothing changed) for an
    unknown country, a subscription that is not active, or when no node in the country can
    take a key now. The keys outside the country are removed from their panels on commit
    and new ones placed in it; the customer gets the new links (as after a failover).
    """
    now = now or timezone.now()
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer", "tariff")
        .get(pk=subscription.pk)
    )
    language = subscription.customer.language
    country = country_check(tariff=subscription.tariff, country=country, language=language)
    with translation.override(language):
        if subscription.status != SubscriptionStatus.ACTIVE or subscription.is_trial:
            raise ApplicationError(
                _("The country can be changed only for an active paid subscription."),
                {"subscription_id": subscription.pk},
            )
        if country == subscription.country:
            return subscription
        in_country = nodes_eligible(tariff=subscription.tariff).filter(country__iexact=country)
        if country and not _candidates_locked(in_country):
            raise ApplicationError(
                _("No server in this country can take your keys right now. Please try later."),
                {"subscription_id": subscription.pk, "country": country},
            )
    before = subscription.country
    subscription.country = country
    subscription.save(update_fields=["country", "updated_at"])
    audit_log_write(
        event_type=AuditEvent.ADMIN_ACTION if actor else AuditEvent.KEY_MOVED,
        obj=subscription,
        acting_user=actor,
        actor_label="" if actor else actor_label,
        customer_id=subscription.customer_id,
        message=f"country {before or 'any'} → {country or 'any'}",
        extra_data={"action": "subscription_country_set", "from": before, "to": country},
    )
    if not country:
        return subscription
    keys = list(subscription.keys.select_related("node").order_by("pk"))
    outside = [
        k for k in keys if k.sync_state in LIVE_KEY_STATES and k.node.country.upper() != country
    ]
    if not outside:
        return subscription
    if subscription.node_count == 1:
        target = node_pick_for_new_client(tariff=subscription.tariff, country=country)
        subscription_move(
            subscription=subscription,
            node=target,
            actor=actor,
            reason=f"subscription #{subscription.pk}: country {before or 'any'} → {country}",
            now=now,
        )
        return subscription
    for key in outside:
        key.sync_state = SyncState.REMOVING
        key.enable = False
        key.desired_version += 1
        key.attempts = 0
        key.save(
            update_fields=["sync_state", "enable", "desired_version", "attempts", "updated_at"]
        )
    removed = {key.node_id for key in outside}
    subscription_keys_converge_in_lock(
        subscription=subscription,
        now=now,
        reason=f"country {country}",
        keys=keys,
        exclude_node_ids=removed,
    )
    if subscription.keys_notified_at:
        notify_keys_moved(subscription=subscription, node_down=False)
    return subscription
