"""The console speaks Russian and English: every name and label of ours is translated.

Two checks, both failing when someone adds a console string without gettext or without its
Russian msgstr:

- the registry: for every model of our apps registered in the admin, its names, field names,
  choice labels, list columns, actions, filters and fieldsets differ between Russian and
  English (except texts made only of words both languages spell alike, ``SAME_IN_BOTH``);
- the pages: every changelist, add page and change page, fetched by a Russian browser, shows
  none of the English words our console used to show (``ENGLISH_WORDS``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path, label_for_field
from django.urls import reverse
from django.utils import timezone, translation

from accounts.tests.factories import CustomerFactory
from api.tests.factories import ApiTokenFactory
from billing.models import (
    BalanceEntryKind,
    Payment,
    PaymentStatus,
    PromoKind,
    ReferralReward,
)
from billing.tests.factories import (
    BalanceEntryFactory,
    GiftFactory,
    PaymentFactory,
    PromoCodeFactory,
    PromoRedemptionFactory,
    WebhookEventFactory,
)
from core.tests.factories import AuditLogFactory
from nodes.tests.factories import NodeClientFactory, NodeFactory
from notifications.tests.factories import OutboxMessageFactory
from subscriptions.models import Tariff
from subscriptions.tests.factories import DeviceFactory, SubscriptionFactory, TariffFactory

OUR_APPS = {"accounts", "api", "billing", "core", "nodes", "notifications", "subscriptions"}

# Owned by the broadcasts' rewrite (issue 21, h-broadcast), translated there.
NOT_YET = {"notifications.broadcast"}

# Words spelt the same in Russian and English: names of things, standards and headers. A text
# made only of these (and digits, punctuation) may stay as it is.
SAME_IN_BOTH = {"ID", "UUID", "URL", "API", "Telegram", "User-Agent", "VLESS", "TOTP", "3x-ui"}

# Choice labels that are names in their own language on purpose (the bot's language menu).
ENDONYMS = {("accounts.customer", "language")}


def _same_in_both(text: str) -> bool:
    words = re.findall(r"[A-Za-z][A-Za-z0-9-]*", text)
    return all(word in SAME_IN_BOTH for word in words)


def _our_admins():
    return sorted(
        (
            (model, model_admin)
            for model, model_admin in admin.site._registry.items()
            if model._meta.app_label in OUR_APPS and model._meta.label_lower not in NOT_YET
        ),
        key=lambda pair: pair[0]._meta.label_lower,
    )


def _texts(model, model_admin):
    """(where, lazy text) of every console text the registry gives for `model`."""
    opts = model._meta
    yield "verbose_name", opts.verbose_name
    yield "verbose_name_plural", opts.verbose_name_plural
    for field in opts.get_fields():
        if field.auto_created and not field.concrete:
            continue  # reverse relations: named by the other model
        yield f"field {field.name}", field.verbose_name
        if field.help_text:
            yield f"help_text {field.name}", field.help_text
        if field.choices and (opts.label_lower, field.name) not in ENDONYMS:
            for value, label in field.flatchoices:
                if value not in ("", None):
                    yield f"choice {field.name}={value}", label
    for name in model_admin.list_display:
        if name != "action_checkbox":
            yield f"column {name}", label_for_field(name, model, model_admin)
    for name in model_admin.actions or ():
        action = getattr(model_admin, name) if isinstance(name, str) else name
        yield f"action {getattr(action, '__name__', name)}", action.short_description
    for entry in model_admin.list_filter:
        if isinstance(entry, str):
            yield f"filter {entry}", get_fields_from_path(model, entry)[-1].verbose_name
        elif isinstance(entry, tuple):
            yield f"filter {entry[0]}", get_fields_from_path(model, entry[0])[-1].verbose_name
        else:
            yield f"filter {entry.__name__}", entry.title
    for title, _options in model_admin.fieldsets or ():
        if title:
            yield f"fieldset {title}", title
    if model_admin.search_help_text:
        yield "search_help_text", model_admin.search_help_text
    for inline in model_admin.inlines:
        if inline.verbose_name_plural:
            yield f"inline {inline.__name__}", inline.verbose_name_plural


@pytest.mark.parametrize(
    ("model", "model_admin"),
    _our_admins(),
    ids=[model._meta.label_lower for model, _ in _our_admins()],
)
def test_every_console_name_of_ours_is_translated(model, model_admin):
    untranslated = []
    for where, text in _texts(model, model_admin):
        with translation.override("en"):
            english = str(text)
        with translation.override("ru"):
            russian = str(text)
        if russian == english and not _same_in_both(english):
            untranslated.append(f"{where}: {english!r}")
    assert not untranslated, f"{model._meta.label}: not translated to Russian: {untranslated}"


def test_the_check_catches_an_untranslated_text():
    """The comparison itself: a plain string is the same in both languages; a translated one
    differs; a name both languages share passes."""
    from django.utils.translation import gettext_lazy

    assert str(gettext_lazy("Subscriptions")) != ""
    with translation.override("ru"):
        assert str(gettext_lazy("Subscriptions")) == "Подписки"
    assert not _same_in_both("Subscriptions (newest 20)")
    assert _same_in_both("Telegram ID")


# --- The pages, as a Russian browser gets them ---------------------------------------------

# English words our console showed before it was translated (headings, columns, filters,
# actions, the dashboard's cards, fieldsets, buttons). Matched as whole words, case-sensitive:
# a value such as a provider's code stays as it is.
ENGLISH_WORDS = [
    "Subscription",
    "Subscriptions",
    "subscription",
    "Customer",
    "Customers",
    "customer",
    "Payment",
    "Payments",
    "payment",
    "Tariff",
    "Tariffs",
    "Node",
    "Nodes",
    "Key",
    "Keys",
    "Active",
    "Expired",
    "Pending",
    "Paid",
    "Refund",
    "Refunded",
    "Extend",
    "Expire",
    "Balance",
    "Health",
    "Status",
    "Provider",
    "Revenue",
    "Messages",
    "Audit",
    "Actor",
    "Reason",
    "Location",
    "Latency",
    "Devices",
    "Gift",
    "Gives",
    "Uses",
    "Usage",
    "Redemptions",
    "Token",
    "State",
    "Access",
    "Activity",
    "Referrals",
    "Panel",
    "Links",
    "Reprocess",
    "Dismiss",
    "Retry",
    "Reconcile",
    "selected",
    "days",
    "invited",
    "rewards",
    "enabled",
    "disabled",
    "expiring",
    "soon",
    "open",
    "Today",
    "Expiring",
    "Other",
    "Totals",
    "Manual",
    "Operations",
    "console",
]
_ENGLISH = re.compile(r"(?<![\w-])(" + "|".join(ENGLISH_WORDS) + r")(?![\w-])")


class _VisibleText(HTMLParser):
    """The text a person reads: no scripts, styles or SVG, no tags, no attribute values."""

    HIDDEN = {"script", "style", "template", "svg"}
    # Django stores permission names once, in English ("Can view customer": auth's
    # create_permissions), for its own models as for ours: the operator page's permission
    # pickers are left out.
    HIDDEN_SELECTS = {"user_permissions", "user_permissions_old"}

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0
        self._open: list[bool] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN or (
            tag == "select" and dict(attrs).get("name") in self.HIDDEN_SELECTS
        ):
            self._hidden += 1
            self._open.append(True)
        elif tag in self.HIDDEN | {"select"}:
            self._open.append(False)

    def handle_endtag(self, tag):
        if tag in self.HIDDEN | {"select"} and self._open and self._open.pop():
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_words(html: str) -> list[str]:
    return sorted(set(_ENGLISH.findall(visible_text(html))))


@pytest.fixture
def world(db, superuser):
    """One row of every model of ours, with values (names, texts) in no English words."""
    node = NodeFactory(name="fra-1", location="Франкфурт")
    tariff = TariffFactory(name="Базовый", name_en="Basic-1")
    customer = CustomerFactory(username="ivan", first_name="Иван", last_name="Петров")
    subscription = SubscriptionFactory(customer=customer, tariff=tariff)
    NodeClientFactory(subscription=subscription, node=node)
    DeviceFactory(subscription=subscription, model="Pixel-8", os="Android", user_agent="Happ/1.0")
    payment = PaymentFactory(
        customer=customer,
        tariff=tariff,
        status=PaymentStatus.PAID,
        paid_at=timezone.now(),
        description="оплата",
    )
    WebhookEventFactory(payment=payment, outcome="зачислено")
    BalanceEntryFactory(customer=customer, kind=BalanceEntryKind.TOP_UP, reason="пополнение")
    GiftFactory()
    promo = PromoCodeFactory(code="SALE10", kind=PromoKind.PERCENT, percent=10, days=0)
    PromoRedemptionFactory(promo=promo, customer=customer)
    inviter = CustomerFactory(username="olga", first_name="Ольга", last_name="")
    ReferralReward.objects.create(
        payment=payment, inviter=inviter, invitee=customer, amount=Decimal("10.00"), days=3
    )
    OutboxMessageFactory(customer=customer, text="Привет", kind="reminder")
    AuditLogFactory(customer=customer, message="продлено")
    ApiTokenFactory(owner=superuser, name="Синхронизация", expires_at=None)
    # Rows the factories made on their own (a gift's payment and tariff) get such values too.
    Tariff.objects.update(name="Базовый")
    Payment.objects.update(description="оплата")
    return {"customer": customer, "subscription": subscription, "payment": payment}


def _pages():
    for model, model_admin in _our_admins():
        yield model, model_admin, "changelist"
        yield model, model_admin, "add"
        yield model, model_admin, "change"


@pytest.mark.parametrize(
    ("model", "model_admin", "page"),
    list(_pages()),
    ids=[f"{m._meta.label_lower}-{page}" for m, _, page in _pages()],
)
def test_every_console_page_reads_russian_in_a_russian_browser(
    client, superuser, world, *, model, model_admin, page
):
    client.force_login(superuser)
    opts = model._meta
    name = f"admin:{opts.app_label}_{opts.model_name}_{page}"
    if page in {"changelist", "add"}:
        url = reverse(name)
    else:
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"the fixture has no {opts.label}"
        url = reverse(name, args=[obj.pk])
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="ru")
    if page == "add" and response.status_code == 403:
        return  # rows of this model are never added in the console
    assert response.status_code == 200, url
    html = response.content.decode()
    assert 'lang="ru"' in html
    assert english_words(html) == [], url


def test_the_dashboard_reads_russian_in_a_russian_browser(client, superuser, world):
    NodeFactory(name="ams-1", health="down", last_error="тайм-аут")
    subscription = world["subscription"]
    subscription.expires_at = timezone.now() + timedelta(days=1)
    subscription.save(update_fields=["expires_at"])
    WebhookEventFactory(status="failed", error="сбой", event_key="7")
    client.force_login(superuser)
    html = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert 'id="figure-active"' in html
    assert 'id="webhooks-failed"' in html
    assert "Активные подписки" in html
    assert english_words(html) == []


def test_the_same_pages_read_english_in_an_english_browser(client, superuser, world):
    """The check is not vacuous: the English console shows those words."""
    client.force_login(superuser)
    html = client.get(
        reverse("admin:subscriptions_subscription_changelist"), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert {"Subscriptions", "Status", "Customer"} <= set(english_words(html))
    html = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Active" in english_words(html)
