"""Reads behind the bot's screens: plain dataclasses, so handlers never touch the ORM.

Each function is one `call_service` away from a handler and reads what its screen shows in
one or two queries. Every subscription lookup is scoped to the asking customer: an id from
callback data (which a client can forge) never reveals someone else's subscription.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from accounts.models import Customer
from billing.providers import provider_label, providers_enabled
from billing.providers.stars import STARS, STARS_CURRENCY
from billing.services.stars import StarsInvoice
from core.qr import qr_png
from nodes.models import NodeClient
from nodes.selectors import LIVE_KEY_STATES
from notifications.formatting import money_format
from notifications.texts import tariff_name
from subscriptions.devices import device_label
from subscriptions.models import Subscription, SubscriptionStatus, Tariff
from subscriptions.selectors import (
    DeviceRemovals,
    device_removals_get,
    node_place,
    renewal_tariffs_q,
    subscription_devices,
    subscription_expiry_after_extend,
    subscription_feed_url,
    subscription_links,
    subscription_traffic_reset_upcoming,
    trial_tariff_get,
    trial_tariff_id,
)
from subscriptions.services.countries import tariff_countries

# How long the bot trusts its answer to "is a free trial on offer?" (it is asked on every
# main menu; an operator's change to the trial tariff shows within this time).
TRIAL_OFFER_CACHE_SECONDS = 60


@dataclass(frozen=True)
class TariffInfo:
    id: int
    name: str  # in the customer's language
    duration_days: int
    device_limit: int
    traffic_limit_gb: int
    price: Decimal
    currency: str


@dataclass(frozen=True)
class ProviderInfo:
    code: str
    label: str  # what the customer pays with, and the provider (``provider_label``)


@dataclass(frozen=True)
class RenewalTarget:
    """The subscription a purchase will extend."""

    id: int
    number: int  # the customer's own (Subscription.number), what messages show
    tariff_name: str
    expires_at: datetime
    running: bool


@dataclass(frozen=True)
class BuyOptions:
    """The first buy screen: what is on sale, how to pay, and what a purchase extends."""

    tariffs: tuple[TariffInfo, ...]
    providers: tuple[ProviderInfo, ...]
    target: RenewalTarget | None
    # Why a renewal that was asked for became a new purchase: "", "trial" or "gone".
    refused: str = ""
    # Several running subscriptions and none named: which one to renew (or a new one)?
    choices: tuple[RenewalTarget, ...] = ()


@dataclass(frozen=True)
class BuyOffer:
    """A tariff chosen (None: no longer on sale for this purchase) and how to pay for it."""

    tariff: TariffInfo | None
    providers: tuple[ProviderInfo, ...]
    target: RenewalTarget | None
    expires_after: datetime | None  # a renewal's expiry once paid
    # A new subscription's countries to choose from (two or more, else empty), the chosen one.
    countries: tuple[str, ...] = ()
    country: str = ""
    # The customer's balance when it pays for this tariff (then "Balance" is a method), else None.
    balance: Decimal | None = None


@dataclass(frozen=True)
class Checkout:
    """A pending payment and the link that pays it."""

    payment_id: int
    payment_number: int  # the customer's own (Payment.number), what messages show
    url: str
    amount: Decimal
    currency: str
    provider_label: str
    tariff: TariffInfo
    target: RenewalTarget | None
    expires_after: datetime | None
    valid_minutes: int
    country: str = ""  # a new subscription's chosen country
    # Telegram Stars: no link (`url` is ""), the bot sends this invoice instead.
    invoice: StarsInvoice | None = None
    gift: bool = False  # bought as a gift (``billing.services.gifts``)


@dataclass(frozen=True)
class SubscriptionCard:
    id: int
    tariff_name: str  # the tariff it runs on now (a renewal with another tariff moves it)
    status: str  # "active", "expired" (also an active one past its expiry), "suspended"
    is_trial: bool
    running: bool
    over_traffic: bool
    expires_at: datetime
    time_left: timedelta
    traffic_used_bytes: int
    traffic_limit_bytes: int
    device_limit: int
    hwid_device_limit: int  # devices by hardware id; 0: no limit
    device_count: int
    locations: tuple[str, ...]
    feed_url: str
    # The tariff's reset period ("never", "day", "week", "month") and the next reset.
    traffic_reset: str = "never"
    traffic_reset_at: datetime | None = None
    number: int | None = None  # the customer's own number (``Subscription.number``)
    auto_renew: bool = False  # renewed from the balance before it ends (``billing.autorenew``)


@dataclass(frozen=True)
class KeyInfo:
    place: str
    link: str


@dataclass(frozen=True)
class SubscriptionKeys:
    card: SubscriptionCard
    links: tuple[KeyInfo, ...]


@dataclass(frozen=True)
class DeviceInfo:
    id: int
    label: str  # model, else OS, else the start of its id (from the app: escape to show)
    details: str  # "Android 15 · Happ"
    last_seen_at: datetime


@dataclass(frozen=True)
class SubscriptionDevices:
    """The devices screen: the subscription, its devices (seen last first), how many more the
    subscriber may remove now."""

    card: SubscriptionCard
    devices: tuple[DeviceInfo, ...]
    removals: DeviceRemovals

    def device(self, device_id: int) -> DeviceInfo | None:
        return next((d for d in self.devices if d.id == device_id), None)


def trial_offered(*, customer: Customer) -> bool:
    """Whether the main menu offers `customer` the free trial (cached: asked on every menu)."""
    tariff_id = trial_tariff_id()
    if customer.trial_used_at is not None or not tariff_id:
        return False
    key = f"bot:trial-offered:{tariff_id}"
    offered = cache.get(key)
    if offered is None:
        offered = trial_tariff_get() is not None
        cache.set(key, offered, TRIAL_OFFER_CACHE_SECONDS)
    return offered


def running_trial_get(*, customer: Customer, now: datetime | None = None) -> Subscription | None:
    """The customer's free trial while it is still running, else None."""
    now = now or timezone.now()
    return (
        Subscription.objects.running(now)
        .filter(customer=customer, is_trial=True)
        .order_by("-expires_at")
        .first()
    )


def tariff_info(tariff: Tariff, language: str) -> TariffInfo:
    return TariffInfo(
        id=tariff.pk,
        name=tariff_name(name=tariff.name, name_en=tariff.name_en, language=language),
        duration_days=tariff.duration_days,
        device_limit=tariff.device_limit,
        traffic_limit_gb=tariff.traffic_limit_gb,
        price=tariff.price,
        currency=tariff.currency,
    )


def providers_get(language: str) -> tuple[ProviderInfo, ...]:
    """The configured payment methods, in settings order, named for the customer."""
    return tuple(ProviderInfo(code, provider_label(code, language)) for code in providers_enabled())


def tariff_providers(tariff: Tariff, language: str) -> tuple[ProviderInfo, ...]:
    """The methods that can pay for `tariff`: Telegram Stars only with a Stars price (then
    shown on the button: "⭐ Telegram Stars · 50 ⭐")."""
    providers = []
    for provider in providers_get(language):
        if provider.code != STARS:
            providers.append(provider)
        elif tariff.price_stars:
            price = money_format(Decimal(tariff.price_stars), STARS_CURRENCY, language)
            providers.append(ProviderInfo(provider.code, f"{provider.label} · {price}"))
    return tuple(providers)


def _on_sale() -> Q:
    return Q(is_active=True, is_trial=False, price__gt=0)


def _renewal_tariffs(subscription: Subscription) -> Q:
    """Tariffs that may pay for renewing `subscription` (``renewal_tariffs_q``)."""
    return renewal_tariffs_q(subscription)


def renewal_target(subscription: Subscription, language: str, now: datetime) -> RenewalTarget:
    return RenewalTarget(
        id=subscription.pk,
        number=subscription.number,
        tariff_name=tariff_name(
            name=subscription.tariff.name, name_en=subscription.tariff.name_en, language=language
        ),
        expires_at=subscription.expires_at,
        running=subscription.is_running(now),
    )


def _renewable(*, customer: Customer, subscription_id: int) -> Subscription | None:
    """The customer's subscription if a payment may extend it (not a trial, not suspended)."""
    return (
        Subscription.objects.select_related("tariff")
        .filter(
            pk=subscription_id,
            customer=customer,
            is_trial=False,
            status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.EXPIRED],
        )
        .first()
    )


def renewal_latest_id(*, customer: Customer) -> int | None:
    """The subscription a bare "Renew" renews: the customer's paid one that ends last (a
    running one, or one that has ended and was not cancelled); None without one, and None
    with several running (the tariff screen then asks which, as ``buy`` does)."""
    paid = Subscription.objects.filter(
        customer=customer,
        is_trial=False,
        status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.EXPIRED],
    )
    if paid.filter(Subscription.objects.running_q()).count() > 1:
        return None
    return paid.order_by("-expires_at", "-pk").values_list("pk", flat=True).first()


def buy_options_get(
    *,
    customer: Customer,
    subscription_id: int | None = None,
    new: bool = False,
    now: datetime | None = None,
) -> BuyOptions:
    """Tariffs on sale, for a new subscription or a renewal.

    With `subscription_id` that subscription is renewed (a trial or a foreign id becomes a
    new purchase, and says why); without it and unless `new`, the customer's running paid
    subscription is, and with several of them `choices` asks which (no tariffs then).
    """
    now = now or timezone.now()
    language = customer.language
    refused = ""
    subscription = None
    if subscription_id is not None:
        subscription = _renewable(customer=customer, subscription_id=subscription_id)
        if subscription is None:
            is_trial = Subscription.objects.filter(
                pk=subscription_id, customer=customer, is_trial=True
            ).exists()
            refused = "trial" if is_trial else "gone"
    elif not new:
        running = list(
            Subscription.objects.select_related("tariff")
            .filter(Subscription.objects.running_q(now), customer=customer, is_trial=False)
            .order_by("-expires_at", "-pk")
        )
        if len(running) > 1:
            return BuyOptions(
                tariffs=(),
                providers=providers_get(language),
                target=None,
                choices=tuple(renewal_target(s, language, now) for s in running),
            )
        subscription = running[0] if running else None
    tariffs = Tariff.objects.filter(_on_sale())
    if subscription is not None:
        renewal = list(tariffs.filter(_renewal_tariffs(subscription)))
        if renewal:
            return BuyOptions(
                tariffs=tuple(tariff_info(t, language) for t in renewal),
                providers=providers_get(language),
                target=renewal_target(subscription, language, now),
            )
        if subscription_id is not None:
            refused = "gone"
    return BuyOptions(
        tariffs=tuple(tariff_info(t, language) for t in tariffs),
        providers=providers_get(language),
        target=None,
        refused=refused,
    )


def buy_offer_load(
    *, customer: Customer, tariff_id: int, subscription_id: int | None, now: datetime
) -> tuple[Tariff | None, Subscription | None]:
    """The tariff and renewal target of a purchase, as buttons name them; (None, _) when the
    combination is no longer valid (tariff off sale, subscription not renewable with it)."""
    tariffs = Tariff.objects.filter(_on_sale(), pk=tariff_id)
    subscription = None
    if subscription_id:
        subscription = _renewable(customer=customer, subscription_id=subscription_id)
        if subscription is None:
            return None, None
        tariffs = tariffs.filter(_renewal_tariffs(subscription))
    return tariffs.first(), subscription


def balance_pays(*, balance: Decimal, price: Decimal, currency: str) -> bool:
    """Whether `balance` pays `price` (then "from the balance" is a method)."""
    return currency == "RUB" and balance >= price


def buy_offer_get(
    *,
    customer: Customer,
    tariff_id: int,
    subscription_id: int | None,
    country: str = "",
    now: datetime | None = None,
) -> BuyOffer:
    """The second buy screen: the chosen tariff, the renewal it makes, the payment methods;
    for a new subscription the countries its tariff offers (``tariff_countries``)."""
    now = now or timezone.now()
    language = customer.language
    tariff, subscription = buy_offer_load(
        customer=customer, tariff_id=tariff_id, subscription_id=subscription_id, now=now
    )
    if tariff is None:
        return BuyOffer(tariff=None, providers=(), target=None, expires_after=None)
    target = expires_after = None
    if subscription is not None:
        target = renewal_target(subscription, language, now)
        expires_after = subscription_expiry_after_extend(
            subscription=subscription, days=tariff.duration_days, now=now
        )
    countries = () if subscription is not None else tuple(tariff_countries(tariff=tariff))
    # The customer was read for this update (``customer_for_update``): its balance is fresh.
    balance = customer.balance
    return BuyOffer(
        balance=(
            balance
            if balance_pays(balance=balance, price=tariff.price, currency=tariff.currency)
            else None
        ),
        tariff=tariff_info(tariff, language),
        providers=tariff_providers(tariff, language),
        target=target,
        expires_after=expires_after,
        countries=countries if len(countries) > 1 else (),
        country=country.upper() if country.upper() in countries else "",
    )


def _customer_subscriptions(customer: Customer, subscription_id: int | None = None):
    subscriptions = (
        Subscription.objects.filter(customer=customer)
        .exclude(status=SubscriptionStatus.CANCELLED)
        .select_related("tariff")
        .annotate(device_count=Count("devices"))
        .prefetch_related(
            Prefetch(
                "keys",
                queryset=NodeClient.objects.filter(
                    sync_state__in=LIVE_KEY_STATES, node__is_enabled=True
                )
                .select_related("node")
                .order_by("node__name"),
                to_attr="live_keys",
            )
        )
        .order_by("-expires_at", "-pk")
    )
    if subscription_id is not None:
        subscriptions = subscriptions.filter(pk=subscription_id)
    return subscriptions


def _card(subscription: Subscription, language: str, now: datetime) -> SubscriptionCard:
    running = subscription.is_running(now)
    status = subscription.status
    if status == SubscriptionStatus.ACTIVE and not running:
        status = SubscriptionStatus.EXPIRED
    locations = tuple(
        dict.fromkeys(
            node_place(location=key.node.location, country=key.node.country, language=language)
            for key in subscription.live_keys
        )
    )
    limit = subscription.traffic_limit_bytes
    return SubscriptionCard(
        id=subscription.pk,
        number=subscription.number,
        tariff_name=tariff_name(
            name=subscription.tariff.name, name_en=subscription.tariff.name_en, language=language
        ),
        status=str(status),
        is_trial=subscription.is_trial,
        running=running,
        over_traffic=bool(limit) and subscription.traffic_used_bytes >= limit,
        expires_at=subscription.expires_at,
        time_left=max(subscription.expires_at - now, timedelta(0)),
        traffic_used_bytes=subscription.traffic_used_bytes,
        traffic_limit_bytes=limit,
        device_limit=subscription.device_limit,
        hwid_device_limit=subscription.hwid_device_limit,
        device_count=subscription.device_count,
        locations=locations,
        feed_url=subscription_feed_url(subscription=subscription),
        traffic_reset=subscription.traffic_reset,
        traffic_reset_at=subscription_traffic_reset_upcoming(subscription, now),
        auto_renew=subscription.auto_renew,
    )


def subscription_cards_get(
    *, customer: Customer, now: datetime | None = None
) -> list[SubscriptionCard]:
    """The customer's subscriptions (not cancelled), latest expiry first, in two queries."""
    now = now or timezone.now()
    return [_card(s, customer.language, now) for s in _customer_subscriptions(customer)]


def subscription_card_get(
    *, customer: Customer, subscription_id: int, now: datetime | None = None
) -> tuple[SubscriptionCard, int] | None:
    """One of the customer's subscriptions and how many they have (a "back to the list"
    button only makes sense with more than one); None: not theirs, cancelled, unknown."""
    now = now or timezone.now()
    subscription = _customer_subscriptions(customer, subscription_id).first()
    if subscription is None:
        return None
    count = _customer_subscriptions(customer).count()
    return _card(subscription, customer.language, now), count


def subscription_keys_get(
    *, customer: Customer, subscription_id: int, now: datetime | None = None
) -> SubscriptionKeys | None:
    """A subscription's card and its VLESS links (healthy nodes first), or None."""
    now = now or timezone.now()
    subscription = _customer_subscriptions(customer, subscription_id).first()
    if subscription is None:
        return None
    links = tuple(
        KeyInfo(
            place=key.place,
            link=key.link,
        )
        for key in subscription_links(subscription=subscription)
    )
    return SubscriptionKeys(card=_card(subscription, customer.language, now), links=links)


def subscription_qr_get(*, customer: Customer, subscription_id: int) -> bytes | None:
    """A PNG QR code of the customer's subscription URL, or None when it is not theirs."""
    subscription = (
        Subscription.objects.filter(pk=subscription_id, customer=customer)
        .exclude(status=SubscriptionStatus.CANCELLED)
        .only("pk", "feed_token")
        .first()
    )
    if subscription is None:
        return None
    return qr_png(data=subscription_feed_url(subscription=subscription))


def _device_info(device) -> DeviceInfo:
    system = " ".join(filter(None, [device.os, device.os_version]))
    app = device.user_agent.split("/", 1)[0].split(" ", 1)[0][:32]
    label = device_label(device)
    return DeviceInfo(
        id=device.pk,
        label=label,
        details=" · ".join(part for part in (system, app) if part and part != label),
        last_seen_at=device.last_seen_at,
    )


def subscription_devices_get(
    *, customer: Customer, subscription_id: int, now: datetime | None = None
) -> SubscriptionDevices | None:
    """A subscription's devices and the subscriber's removals left, or None when it is not
    theirs (or cancelled, or unknown)."""
    now = now or timezone.now()
    subscription = _customer_subscriptions(customer, subscription_id).first()
    if subscription is None:
        return None
    return SubscriptionDevices(
        card=_card(subscription, customer.language, now),
        devices=tuple(_device_info(d) for d in subscription_devices(subscription=subscription)),
        removals=device_removals_get(subscription=subscription, now=now),
    )
