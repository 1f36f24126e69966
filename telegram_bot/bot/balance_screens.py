"""The balance in the bot: its screen (balance, top-up amounts, latest entries), a top-up's
payment methods and link, paying a tariff from the balance (a confirmation first), and the
auto-renew switch on a subscription card. Reads, texts and keyboards here; the handlers are
``handlers/balance.py``; every write is a ``billing.services`` call.

Callback data (``notifications.callbacks``): ``bal``, ``bal:t:<amount>``,
``bal:p:<amount>:<provider>``, ``bal:y:<payment>``, ``bal:r`` (🤝 Invite friends: the
invite link and what invitations brought), ``subs:ar:<sub>:<0|1>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from accounts.models import Customer
from billing.models import BalanceEntry, BalanceEntryKind, Payment
from billing.providers import provider_label
from billing.providers.stars import STARS
from billing.selectors import ReferralStats, referral_stats
from billing.services.balance import balance_top_up_create, payment_pay_from_balance
from billing.services.checkout import checkout_message_set, checkout_payment_get
from billing.services.ledger import BALANCE_CURRENCY, BALANCE_PROVIDER
from billing.services.payments import payment_checkout_url
from billing.services.referral import referral_rules
from notifications.callbacks import (
    BALANCE,
    BALANCE_PAY,
    BALANCE_REFERRAL,
    BALANCE_TOP_UP,
    BALANCE_TOP_UP_PROVIDER,
    BUY,
    MENU,
    SUB_AUTO_RENEW,
    SUB_VIEW,
    SUBSCRIPTIONS,
    buy_tariff_data,
    callback_data,
    subscription_data,
)
from notifications.formatting import date_format, days, money_format
from notifications.texts import (
    bot_url,
    button_balance,
    button_buy,
    button_menu,
    button_my_subscriptions,
    tariff_name,
)
from subscriptions.selectors import subscription_expiry_after_extend
from telegram_bot.bot import texts
from telegram_bot.bot.selectors import ProviderInfo, buy_offer_load, providers_get

HISTORY_SIZE = 10


# --- Reads and writes (called through ``call_service``) ----------------------------------


@dataclass(frozen=True)
class BalanceScreen:
    balance: Decimal
    entries: tuple[BalanceEntry, ...]  # newest first
    amounts: tuple[int, ...]  # the top-up amounts on offer
    providers: tuple[ProviderInfo, ...]


def top_up_providers(language: str) -> tuple[ProviderInfo, ...]:
    """The methods that can top up the balance: every configured one but Telegram Stars
    (they pay a tariff's Stars price, never roubles)."""
    return tuple(p for p in providers_get(language) if p.code != STARS)


def balance_screen_get(*, customer: Customer) -> BalanceScreen:
    """The balance, its latest entries, and the top-ups on offer (only with a provider)."""
    balance = Customer.objects.values_list("balance", flat=True).get(pk=customer.pk)
    entries = tuple(BalanceEntry.objects.filter(customer=customer).order_by("-pk")[:HISTORY_SIZE])
    providers = top_up_providers(customer.language)
    low, high = settings.BALANCE_TOP_UP_MIN, settings.BALANCE_TOP_UP_MAX
    amounts = tuple(a for a in settings.BALANCE_TOP_UP_AMOUNTS if low <= a <= high)
    return BalanceScreen(
        balance=balance,
        entries=entries,
        amounts=amounts if providers else (),
        providers=providers,
    )


@dataclass(frozen=True)
class ReferralScreen:
    link: str  # "" without TELEGRAM_BOT_USERNAME
    stats: ReferralStats
    percent: int
    days: int
    every: bool


def referral_screen_get(*, customer: Customer) -> ReferralScreen:
    """The invite link (``/start <referral code>``), the rules as set now, the figures."""
    code = Customer.objects.values_list("referral_code", flat=True).get(pk=customer.pk)
    base = bot_url()
    percent, days_, every = referral_rules()
    return ReferralScreen(
        link=f"{base}?start={code}" if base else "",
        stats=referral_stats(customer_id=customer.pk),
        percent=percent,
        days=days_,
        every=every,
    )


@dataclass(frozen=True)
class TopUpCheckout:
    payment_id: int
    payment_number: int  # the customer's own (Payment.number), what messages show
    amount: Decimal
    url: str
    provider_label: str


@transaction.atomic
def top_up_start(
    *,
    customer: Customer,
    amount: int,
    provider: str,
    chat_id: int | None = None,
    message_id: int | None = None,
) -> TopUpCheckout:
    """A pending top-up of one of the offered amounts and its payment link, shown in message
    `message_id` of `chat_id` (edited to "paid" once it is credited: ``checkout_settle``)."""
    if amount not in settings.BALANCE_TOP_UP_AMOUNTS:
        amount = -1  # refused below, in the customer's language
    payment = balance_top_up_create(customer=customer, amount=Decimal(amount), provider=provider)
    if chat_id is not None and message_id is not None:
        checkout_message_set(payment=payment, chat_id=chat_id, message_id=message_id)
    return TopUpCheckout(
        payment_id=payment.pk,
        payment_number=payment.number,
        amount=payment.amount,
        url=payment_checkout_url(payment=payment),
        provider_label=provider_label(provider, customer.language),
    )


@dataclass(frozen=True)
class BalanceCheckout:
    """A pending ``balance`` payment waiting for the customer's confirmation."""

    payment_id: int
    tariff_id: int
    tariff_name: str
    amount: Decimal
    balance: Decimal
    target_id: int | None
    expires_after: datetime | None
    country: str


def balance_checkout_start(
    *,
    customer: Customer,
    tariff_id: int,
    subscription_id: int | None,
    country: str = "",
    now: datetime | None = None,
) -> BalanceCheckout | None:
    """The checkout's pending ``balance`` payment (one per purchase, reused on a second
    press: ``checkout_payment_get``); None when the choice is no longer on sale."""
    now = now or timezone.now()
    tariff, subscription = buy_offer_load(
        customer=customer, tariff_id=tariff_id, subscription_id=subscription_id, now=now
    )
    if tariff is None:
        return None
    payment = checkout_payment_get(
        customer=customer,
        tariff=tariff,
        provider=BALANCE_PROVIDER,
        subscription=subscription,
        country=country,
        now=now,
    ).payment
    return BalanceCheckout(
        payment_id=payment.pk,
        tariff_id=tariff.pk,
        tariff_name=tariff_name(
            name=tariff.name, name_en=tariff.name_en, language=customer.language
        ),
        amount=payment.amount,
        balance=Customer.objects.values_list("balance", flat=True).get(pk=customer.pk),
        target_id=subscription.pk if subscription else None,
        expires_after=(
            subscription_expiry_after_extend(
                subscription=subscription, days=tariff.duration_days, now=now
            )
            if subscription
            else None
        ),
        country=payment.country,
    )


@dataclass(frozen=True)
class BalancePaid:
    payment_id: int
    tariff_name: str
    amount: Decimal
    balance: Decimal
    subscription_id: int
    expires_at: datetime
    credited: bool  # False: it had been paid already (a second press)


def balance_pay(*, customer: Customer, payment_id: int) -> BalancePaid:
    """Pay the pending ``balance`` payment (``payment_pay_from_balance``: once)."""
    credit = payment_pay_from_balance(customer=customer, payment_id=payment_id)
    payment = Payment.objects.select_related("tariff", "subscription").get(pk=payment_id)
    return BalancePaid(
        payment_id=payment.pk,
        tariff_name=tariff_name(
            name=payment.tariff.name, name_en=payment.tariff.name_en, language=customer.language
        ),
        amount=payment.amount,
        balance=Customer.objects.values_list("balance", flat=True).get(pk=customer.pk),
        subscription_id=payment.subscription_id,
        expires_at=payment.subscription.expires_at,
        credited=credit.credited,
    )


# --- Texts -------------------------------------------------------------------------------


def _money(amount: Decimal) -> str:
    return money_format(amount, BALANCE_CURRENCY)


def kind_label(kind: str) -> str:
    """A ledger entry's kind, in the active language."""
    return {
        BalanceEntryKind.TOP_UP: _("top-up"),
        BalanceEntryKind.PURCHASE: _("purchase"),
        BalanceEntryKind.AUTO_RENEW: _("auto-renewal"),
        BalanceEntryKind.ADJUSTMENT: _("correction by support"),
        BalanceEntryKind.REFUND: _("refund"),
        BalanceEntryKind.REFERRAL: _("referral reward"),
    }.get(kind, kind)


def balance_text(*, language: str, screen: BalanceScreen) -> str:
    with translation.override(language):
        lines = [
            _("<b>💰 Your balance: %(balance)s</b>") % {"balance": _money(screen.balance)},
            "",
            _("Pay for tariffs from it, or let it renew a subscription automatically."),
        ]
        if screen.amounts:
            lines.append(_("Choose an amount to top up:"))
        else:
            lines.append(_("Top-ups are not available right now."))
        lines += ["", _("<b>Latest operations</b>")]
        if not screen.entries:
            lines.append(_("No operations yet."))
        for entry in screen.entries:
            sign = "+" if entry.amount > 0 else "\u2212"  # a minus sign
            lines.append(
                f"{date_format(entry.created_at, short=True)} · {sign}{_money(abs(entry.amount))}"
                f" · {kind_label(entry.kind)}"
            )
        return "\n".join(lines)


def referral_text(*, language: str, screen: ReferralScreen) -> str:
    with translation.override(language):
        lines = [_("<b>🤝 Invite friends</b>"), ""]
        if screen.percent:
            if screen.every:
                rule = _("💰 %(percent)s%% of every payment of your friends goes to your balance.")
            else:
                rule = _("💰 %(percent)s%% of a friend's first payment goes to your balance.")
            lines.append(rule % {"percent": screen.percent})
        if screen.days:
            if screen.every:
                rule = _("📅 +%(days)s to your subscription for every payment of your friends.")
            else:
                rule = _("📅 +%(days)s to your subscription for a friend's first payment.")
            lines.append(rule % {"days": days(screen.days)})
        if not screen.percent and not screen.days:
            lines.append(_("Invitations are not rewarded at the moment."))
        lines.append("")
        if screen.link:
            lines += [_("Your invite link:"), f"<code>{escape(screen.link)}</code>", ""]
        else:
            lines += [_("The invite link is not available right now."), ""]
        stats = screen.stats
        lines.append(
            _("Invited: %(invited)s · paid: %(paid)s")
            % {"invited": stats.invited, "paid": stats.paid}
        )
        earned = _("Earned: %(money)s") % {"money": _money(stats.earned)}
        if stats.days:
            earned += f" + {days(stats.days)}"
        lines.append(earned)
        return "\n".join(lines)


def top_up_providers_text(*, language: str, amount: int) -> str:
    with translation.override(language):
        return _("💰 Top-up of %(amount)s. Choose a payment method:") % {
            "amount": _money(Decimal(amount))
        }


def top_up_checkout_text(*, language: str, checkout: TopUpCheckout) -> str:
    with translation.override(language):
        return "\n\n".join(
            [
                _("<b>💳 Payment %(number)s</b>") % {"number": checkout.payment_number},
                _("Balance top-up — %(amount)s, via %(provider)s")
                % {"amount": _money(checkout.amount), "provider": escape(checkout.provider_label)},
                _(
                    "Tap “Pay” to open the payment page. The balance is topped up as soon as "
                    "the payment goes through, and this chat gets a confirmation."
                ),
            ]
        )


def balance_confirm_text(*, language: str, checkout: BalanceCheckout) -> str:
    with translation.override(language):
        parts = [
            _("💰 Pay <b>%(amount)s</b> from your balance for %(tariff)s?")
            % {"amount": _money(checkout.amount), "tariff": escape(checkout.tariff_name)},
            _("Balance: %(balance)s → %(after)s")
            % {
                "balance": _money(checkout.balance),
                "after": _money(max(checkout.balance - checkout.amount, Decimal("0"))),
            },
        ]
        if checkout.expires_after is not None:
            parts.append(
                _("After payment, subscription #%(number)s will run until %(date)s.")
                % {"number": checkout.target_id, "date": date_format(checkout.expires_after)}
            )
        return "\n\n".join(parts)


def balance_paid_text(*, language: str, paid: BalancePaid) -> str:
    with translation.override(language):
        return _(
            "✅ Paid from your balance: %(tariff)s — %(amount)s (payment #%(payment)s).\n"
            "Your subscription runs until %(date)s. Balance: %(balance)s."
        ) % {
            "tariff": escape(paid.tariff_name),
            "amount": _money(paid.amount),
            "payment": paid.payment_id,
            "date": date_format(paid.expires_at),
            "balance": _money(paid.balance),
        }


def auto_renew_line(*, language: str, on: bool) -> str:
    """The card's line about auto-renew."""
    with translation.override(language):
        if on:
            return _("🔄 Auto-renew is on: renewed from your balance %(days)s before it ends.") % {
                "days": days(settings.AUTO_RENEW_DAYS_BEFORE)
            }
        return _("Auto-renew from the balance is off.")


# --- Keyboards ---------------------------------------------------------------------------


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


def _menu(language: str) -> InlineKeyboardButton:
    return _button(button_menu(language=language), MENU)


def balance_keyboard(*, language: str, screen: BalanceScreen) -> InlineKeyboardMarkup:
    buttons = [
        _button(
            f"\u2795 {_money(Decimal(amount))}", callback_data(BALANCE, BALANCE_TOP_UP, str(amount))
        )
        for amount in screen.amounts
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(
        [_button(button_invite(language=language), callback_data(BALANCE, BALANCE_REFERRAL))]
    )
    rows.append([_menu(language)])
    return InlineKeyboardMarkup(rows)


def button_invite(*, language: str) -> str:
    with translation.override(language):
        return _("🤝 Invite friends")


def referral_keyboard(*, language: str, screen: ReferralScreen) -> InlineKeyboardMarkup:
    rows = []
    if screen.link:
        with translation.override(language):
            share = _("📤 Share the link")
            invite = _("Join me: a fast VPN")
        url = f"https://t.me/share/url?{urlencode({'url': screen.link, 'text': invite})}"
        rows.append([InlineKeyboardButton(share, url=url)])
    rows.append([_button(button_balance(language=language), BALANCE), _menu(language)])
    return InlineKeyboardMarkup(rows)


def top_up_providers_keyboard(
    *, language: str, amount: int, providers: tuple[ProviderInfo, ...]
) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                provider.label,
                callback_data(BALANCE, BALANCE_TOP_UP_PROVIDER, str(amount), provider.code),
            )
        ]
        for provider in providers
    ]
    rows.append([_button(texts.button_back(language=language), BALANCE), _menu(language)])
    return InlineKeyboardMarkup(rows)


def top_up_checkout_keyboard(*, language: str, checkout: TopUpCheckout) -> InlineKeyboardMarkup:
    pay = texts.button_pay(language=language, amount=checkout.amount, currency=BALANCE_CURRENCY)
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(pay, url=checkout.url)],
            [_button(button_balance(language=language), BALANCE), _menu(language)],
        ]
    )


def balance_method_button(*, language: str, balance: Decimal, data: str) -> InlineKeyboardButton:
    """The buy flow's "Balance" payment method (shown when the balance pays the tariff)."""
    with translation.override(language):
        return _button(_("💰 From the balance (%(balance)s)") % {"balance": _money(balance)}, data)


def balance_confirm_keyboard(*, language: str, checkout: BalanceCheckout) -> InlineKeyboardMarkup:
    with translation.override(language):
        pay = _("✅ Pay %(amount)s from the balance") % {"amount": _money(checkout.amount)}
    other = texts.button_other_method(language=language)
    return InlineKeyboardMarkup(
        [
            [_button(pay, callback_data(BALANCE, BALANCE_PAY, str(checkout.payment_id)))],
            [
                _button(
                    other, buy_tariff_data(checkout.tariff_id, checkout.target_id, checkout.country)
                ),
                _menu(language),
            ],
        ]
    )


def balance_paid_keyboard(*, language: str, paid: BalancePaid) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                _button(
                    button_my_subscriptions(language=language),
                    subscription_data(SUB_VIEW, paid.subscription_id),
                ),
                _menu(language),
            ]
        ]
    )


def balance_short_keyboard(*, language: str) -> InlineKeyboardMarkup:
    """After a refused payment from the balance: top it up, buy otherwise, or the menu."""
    return InlineKeyboardMarkup(
        [
            [
                _button(button_balance(language=language), BALANCE),
                _button(button_buy(language=language), BUY),
            ],
            [_menu(language)],
        ]
    )


def with_auto_renew_button(
    markup: InlineKeyboardMarkup, *, language: str, subscription_id: int, on: bool
) -> InlineKeyboardMarkup:
    """A subscription card's keyboard with the auto-renew switch above its last row."""
    with translation.override(language):
        label = _("⏸ Turn auto-renew off") if on else _("🔄 Turn auto-renew on")
    data = callback_data(SUBSCRIPTIONS, SUB_AUTO_RENEW, str(subscription_id), "0" if on else "1")
    rows = [list(row) for row in markup.inline_keyboard]
    rows.insert(max(len(rows) - 1, 0), [_button(label, data)])
    return InlineKeyboardMarkup(rows)
