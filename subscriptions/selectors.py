"""Reads about subscriptions: links, feed data, what the customer sees."""

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.models import AuditEvent, AuditLog
from core.runtime_settings import runtime_settings
from nodes.models import Node, NodeClient, NodeHealth
from nodes.selectors import LIVE_KEY_STATES, inbound_flow
from nodes.services.keys import key_sub_id
from notifications import texts
from notifications.formatting import country_flag, country_name
from subscriptions.models import GIB, Device, Subscription, SubscriptionStatus, Tariff
from subscriptions.vless import VlessLinkError, vless_link_build

logger = logging.getLogger(__name__)

# What ``feed_token_new`` (``secrets.token_urlsafe``) produces, up to the column's length.
FEED_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class KeyLink:
    node_name: str  # the operator's name: internal, never shown to the customer
    place: str  # what the customer sees ("🇩🇪 Frankfurt"), also the link's remark
    health: str
    link: str


def node_place(*, location: str = "", country: str = "", language: str | None = None) -> str:
    """Where a node is, as customers see it: "🇩🇪 Frankfurt" (flag and city), or the flag and
    the country's name in `language` when the node has no city ("🇩🇪 Germany").

    The operator's node name ("de-frankfurt-1") stays internal: it is never part of this.
    With neither a city nor a country, "🌐 VPN".
    """
    # Control characters would survive percent-encoding but garble client apps' lists.
    city = " ".join("".join(ch if ch.isprintable() else " " for ch in location).split())
    flag = country_flag(country)
    place = city or (country_name(country, language) if flag else "")
    return " ".join(part for part in (flag, place) if part) or "🌐 VPN"


def subscription_feed_url(*, subscription: Subscription) -> str:
    return f"{settings.PUBLIC_BASE_URL}/sub/{subscription.feed_token}"


def _keys_for_links(subscription: Subscription) -> QuerySet[NodeClient]:
    health_rank = Case(
        When(node__health=NodeHealth.UP, then=Value(0)),
        When(node__health=NodeHealth.UNKNOWN, then=Value(1)),
        When(node__health=NodeHealth.DEGRADED, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    return (
        NodeClient.objects.filter(
            subscription=subscription,
            sync_state__in=LIVE_KEY_STATES,
            node__is_enabled=True,
        )
        .select_related("node")
        .annotate(health_rank=health_rank)
        .order_by("health_rank", "node__name")
    )


def subscription_links(*, subscription: Subscription) -> list[KeyLink]:
    """VLESS links of the subscription's keys, healthy nodes first.

    Built from our database (the node's cached inbound), never by asking a panel, so the
    feed answers even when every panel is away. A node whose inbound was never fetched
    yet is skipped (it gets a link after its first health check).

    Each link is named by its node's place in the customer's language (``node_place``);
    two nodes in one place read "🇩🇪 Frankfurt" and "🇩🇪 Frankfurt 2", so an app's list
    tells them apart without showing the operator's node names.
    """
    language = subscription.customer.language
    links = []
    seen: dict[str, int] = {}
    for key in _keys_for_links(subscription):
        node = key.node
        inbound = node.inbound_cache or {}
        if not inbound:
            continue
        host = node.public_host or urlsplit(node.panel_url).hostname or ""
        port = node.public_port or inbound.get("port") or 443
        key.subscription = subscription  # key_sub_id reads it: no query per key
        place = node_place(location=node.location, country=node.country, language=language)
        seen[place] = seen.get(place, 0) + 1
        if seen[place] > 1:
            place = f"{place} {seen[place]}"
        try:
            link = vless_link_build(
                client_uuid=str(subscription.client_uuid),
                host=host,
                port=int(port),
                stream_settings=inbound.get("stream_settings") or {},
                protocol_settings=inbound.get("settings") or {},
                remark=place,
                flow=inbound_flow(inbound=inbound),
                # The panel client's subId seeds the REALITY spx, as 3x-ui's own feed does.
                client_key=key_sub_id(key=key),
            )
        except VlessLinkError as exc:
            logger.warning("node %s: cannot build a link: %s", node.name, exc)
            continue
        links.append(KeyLink(node_name=node.name, place=place, health=node.health, link=link))
    return links


def _keys_traffic(field: str) -> Coalesce:
    """The sum of `field` over a subscription's keys (every key, removed ones too), as a
    subquery of the subscription's own row."""
    total = (
        NodeClient.objects.filter(subscription=OuterRef("pk"))
        .order_by()
        .values("subscription")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(total), 0)


def _device_count() -> Coalesce:
    """How many devices the subscription has, as a subquery of its own row."""
    count = (
        Device.objects.filter(subscription=OuterRef("pk"))
        .order_by()
        .values("subscription")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(count), 0)


def subscription_by_feed_token(*, token: str, hwid: str = "") -> Subscription | None:
    """The subscription behind a feed URL, with the traffic of its keys (``traffic_upload``,
    ``traffic_download``: bytes, as the panels last reported them) and its devices
    (``device_count``; with `hwid`, ``device_seen_at``: when that device was last recorded,
    None when it is new) in the same query; None for anything that cannot be a token.

    Tokens are ``secrets.token_urlsafe`` output, so any other character (a NUL byte, which
    PostgreSQL text cannot even hold) ends the lookup before the database sees it.
    """
    if not FEED_TOKEN_RE.fullmatch(token):
        return None
    device = {}
    if hwid:
        seen = Device.objects.filter(subscription=OuterRef("pk"), hwid=hwid).values("last_seen_at")
        device["device_seen_at"] = Subquery(seen[:1])
    return (
        Subscription.objects.select_related("customer", "tariff")
        .annotate(
            traffic_upload=_keys_traffic("traffic_up"),
            traffic_download=_keys_traffic("traffic_down"),
            device_count=_device_count(),
            **device,
        )
        .filter(feed_token=token)
        .first()
    )


def trial_tariff_id() -> int:
    """The trial tariff's id as set (runtime setting TRIAL_TARIFF, default TRIAL_TARIFF_ID);
    0: no trial."""
    try:
        return int(runtime_settings().get("TRIAL_TARIFF") or 0)
    except (TypeError, ValueError):
        return 0


def trial_tariff_get() -> Tariff | None:
    """The tariff the runtime setting TRIAL_TARIFF names while it is an active trial
    tariff; else None."""
    tariff_id = trial_tariff_id()
    if not tariff_id:
        return None
    return Tariff.objects.filter(pk=tariff_id, is_active=True, is_trial=True).first()


def renewal_tariffs_q(subscription: Subscription) -> Q:
    """Tariffs that may pay for renewing `subscription`: its own, or one with the same limits.

    A renewal only adds days (limits stay as bought), so a tariff with other limits would
    charge for devices or traffic the customer does not get; that is a new subscription.
    The bot's buy flow and a gift's redemption (``billing.services.gifts``) both use it.
    """
    same_limits = Q(
        device_limit=subscription.device_limit,
        hwid_device_limit=subscription.hwid_device_limit,
        node_count=subscription.node_count,
        traffic_reset=subscription.traffic_reset,
    )
    if subscription.traffic_limit_bytes % GIB == 0:
        same_limits &= Q(traffic_limit_gb=subscription.traffic_limit_bytes // GIB)
    else:
        same_limits = Q(pk__in=[])
    return Q(pk=subscription.tariff_id) | same_limits


def subscription_expiry_after_extend(
    *, subscription: Subscription, days: int, now: datetime | None = None
) -> datetime:
    """Where `subscription_extend(days=days)` would put `expires_at` now (for previews)."""
    now = now or timezone.now()
    running = subscription.is_running(now)
    return (subscription.expires_at if running else now) + timedelta(days=days)


def nodes_eligible(*, tariff: Tariff | None, tariff_id=None) -> QuerySet[Node]:
    """Enabled nodes with positive weight that are not down and that the tariff allows
    (`tariff_id` instead: an id or a query expression giving it, e.g. a ``Subquery``)."""
    nodes = Node.objects.filter(is_enabled=True, weight__gt=0).exclude(health=NodeHealth.DOWN)
    if tariff is not None and tariff.pk:
        tariff_id = tariff.pk
    if tariff_id is not None:
        # A tariff without a node list may use every node; one query either way.
        allowed = Tariff.eligible_nodes.through.objects.filter(tariff_id=tariff_id)
        nodes = nodes.filter(~Exists(allowed) | Exists(allowed.filter(node_id=OuterRef("pk"))))
    return nodes


def subscriptions_short_of_keys() -> QuerySet[Subscription]:
    """Active subscriptions without any live key on a healthy node (to place or re-place).

    A placement task lost after a payment is made good here by the reconcile beat: a new
    subscription has no key at all. (Partly placed ones are left out on purpose: a tariff
    asking for more nodes than are up would be re-synced, locking node rows, every run.)
    """
    healthy_live = Q(
        keys__sync_state__in=LIVE_KEY_STATES,
        keys__node__is_enabled=True,
    ) & ~Q(keys__node__health=NodeHealth.DOWN)
    return (
        Subscription.objects.filter(status=SubscriptionStatus.ACTIVE)
        .annotate(live=Count("keys", filter=healthy_live, distinct=True))
        .filter(live=0)
        .order_by("pk")
    )


# --- The feed's answer when the subscription cannot be used (docs/x3ui.md) ----------------

STATE_ACTIVE = "active"
STATE_BANNED = "banned"
STATE_ENDED = "ended"
STATE_OVER_LIMIT = "over-limit"
STATE_DEVICE_LIMIT = "device-limit"


def feed_device_refused(subscription: Subscription) -> bool:
    """Whether the device named to ``subscription_by_feed_token`` (``hwid``) is a new one over
    the subscription's device limit. A device already recorded is always served, even when
    the subscription holds more devices than its limit (a race of two new devices can
    leave one more: docs/x3ui.md "Devices by hardware id")."""
    limit = subscription.hwid_device_limit
    return (
        bool(limit)
        and getattr(subscription, "device_seen_at", None) is None
        and subscription.device_count >= limit
    )


def feed_traffic_used(subscription: Subscription) -> int:
    """Bytes used: what the panels last reported for its keys, or the recorded total when
    that is more (``traffic_upload``/``traffic_download``: annotated by
    ``subscription_by_feed_token``)."""
    return max(
        subscription.traffic_used_bytes,
        subscription.traffic_upload + subscription.traffic_download,
    )


def subscription_feed_state(subscription: Subscription, now, *, hwid: str = "") -> str:
    """Why the subscription cannot be used, most serious first; ``active`` when it can.

    `hwid`: the device the request names (``subscriptions.devices``), which must be the one
    given to ``subscription_by_feed_token``; a new one over the device limit is refused.
    """
    if subscription.customer.is_banned:
        return STATE_BANNED
    if not subscription.is_running(now):
        return STATE_ENDED
    if subscription.traffic_limit_reached(feed_traffic_used(subscription)):
        return STATE_OVER_LIMIT
    if hwid and feed_device_refused(subscription):
        return STATE_DEVICE_LIMIT
    return STATE_ACTIVE


def feed_placeholder_remark(state: str, language: str) -> str:
    """What the app shows as the one entry's name: what happened and where to go.

    Renewing happens in the bot (``TELEGRAM_BOT_USERNAME``); a ban is explained by support
    (runtime setting SUPPORT_CONTACT); each falls back to the other, then to no place at all.
    """
    bot = settings.TELEGRAM_BOT_USERNAME.strip().lstrip("@")
    bot = f"@{bot}" if bot else ""
    support = texts.support_contact()  # "@username", a link or an e-mail, as configured
    with translation.override(language):
        if state == STATE_BANNED:
            place = support or bot
            if place:
                return _("Access blocked — contact %(place)s") % {"place": place}
            return _("Access blocked — contact support")
        place = bot or support
        if state == STATE_DEVICE_LIMIT:
            if place:
                return _("Device limit reached — remove a device in %(place)s") % {"place": place}
            return _("Device limit reached — remove a device you no longer use")
        if state == STATE_OVER_LIMIT:
            if place:
                return _("Traffic limit reached — renew in %(place)s") % {"place": place}
            return _("Traffic limit reached — renew your subscription")
        if place:
            return _("Subscription ended — renew in %(place)s") % {"place": place}
        return _("Subscription ended — renew your subscription")


def feed_expire_ts(subscription: Subscription, state: str, now) -> int:
    """``expire`` of ``Subscription-Userinfo``: never a future date for a subscription that
    cannot be used (banned or cancelled: now; ended: its real, past end)."""
    if state == STATE_BANNED:
        return int(now.timestamp())
    if state == STATE_ENDED:
        return int(min(subscription.expires_at, now).timestamp())
    return int(subscription.expires_at.timestamp())


# --- Devices (hardware ids) -------------------------------------------------------------------

# Removals a subscriber made count against SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY over this window.
DEVICE_REMOVAL_WINDOW = timedelta(hours=24)


def subscription_devices(*, subscription: Subscription) -> list[Device]:
    """The subscription's devices, the one seen last first."""
    return list(Device.objects.filter(subscription=subscription).order_by("-last_seen_at", "-pk"))


@dataclass(frozen=True)
class DeviceRemovals:
    """How many devices the subscriber may remove now (``left``: None without a limit) and,
    when none, the moment the next removal is allowed."""

    limit: int
    used: int
    left: int | None
    next_at: datetime | None


def device_removals_get(*, subscription: Subscription, now: datetime) -> DeviceRemovals:
    """The subscriber's removals of the last 24 hours (their audit rows) against
    ``SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY`` (0: no limit)."""
    limit = settings.SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY
    times = list(
        AuditLog.objects.filter(
            event_type=AuditEvent.DEVICE_REMOVED,
            object_type=Subscription._meta.label_lower,
            object_id=str(subscription.pk),
            event_time__gt=now - DEVICE_REMOVAL_WINDOW,
        )
        .order_by("event_time")
        .values_list("event_time", flat=True)
    )
    used = len(times)
    if not limit:
        return DeviceRemovals(limit=0, used=used, left=None, next_at=None)
    if used < limit:
        return DeviceRemovals(limit=limit, used=used, left=limit - used, next_at=None)
    # The window holds `used` removals; the next is allowed once `used - limit + 1` of them
    # have left it.
    return DeviceRemovals(
        limit=limit, used=used, left=0, next_at=times[used - limit] + DEVICE_REMOVAL_WINDOW
    )


def subscription_traffic_reset_upcoming(
    subscription: Subscription, now: datetime | None = None
) -> datetime | None:
    """The next traffic reset of a running subscription if it comes before the end of its
    term (a 30-day term on a monthly reset ends first: no reset is promised); else None."""
    moment = subscription.traffic_reset_next_at
    if moment is None or not subscription.is_running(now) or moment >= subscription.expires_at:
        return None
    return moment


def feed_refill_at(subscription: Subscription, state: str) -> datetime | None:
    """``subscription_traffic_reset_upcoming`` for the feed: for a usable or over-limit
    subscription only (nothing resets for a banned customer). The ``Subscription-Refill-Date``
    header and the page."""
    if state not in (STATE_ACTIVE, STATE_OVER_LIMIT):
        return None
    return subscription_traffic_reset_upcoming(subscription)
