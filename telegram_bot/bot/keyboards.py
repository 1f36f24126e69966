"""Inline keyboards, built on the callback-data scheme of ``notifications.callbacks``."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from accounts.models import Language
from billing.services.ledger import BALANCE_PROVIDER
from notifications.callbacks import (
    BALANCE,
    BUY,
    BUY_NEW,
    HELP,
    LANGUAGE,
    MENU,
    SUB_DEVICE_REMOVE,
    SUB_DEVICE_REMOVE_YES,
    SUB_DEVICES,
    SUB_KEYS,
    SUB_QR,
    SUB_URL,
    SUB_VIEW,
    SUBSCRIPTIONS,
    TRIAL,
    buy_gift_data,
    buy_provider_data,
    buy_renew_data,
    buy_tariff_data,
    callback_data,
    subscription_data,
    subscription_device_data,
)
from notifications.texts import button_balance
from subscriptions.deeplinks import APPS, BOT_APPS, app_open_url
from telegram_bot.bot import help_screens, texts, texts_gifts
from telegram_bot.bot.balance_screens import balance_method_button

if TYPE_CHECKING:
    from telegram_bot.bot.selectors import (
        BuyOffer,
        BuyOptions,
        Checkout,
        DeviceInfo,
        SubscriptionCard,
        SubscriptionDevices,
    )


@dataclass(frozen=True)
class MenuEntry:
    """A main-menu button: its callback data and a label function ``(language=) -> str``.

    A `trial_only` entry is shown only while the free trial is on offer to the customer.
    """

    callback_data: str
    label: Callable[..., str]
    trial_only: bool = False


BUY_ENTRY = MenuEntry(callback_data(BUY), texts.button_buy)
SUBSCRIPTIONS_ENTRY = MenuEntry(callback_data(SUBSCRIPTIONS), texts.button_my_subscriptions)
BALANCE_ENTRY = MenuEntry(callback_data(BALANCE), button_balance)
TRIAL_ENTRY = MenuEntry(callback_data(TRIAL), texts.button_trial, trial_only=True)
HELP_ENTRY = MenuEntry(callback_data(HELP), texts.button_help)
LANGUAGE_ENTRY = MenuEntry(callback_data(LANGUAGE), texts.button_language)

# In display order.
MAIN_MENU: tuple[MenuEntry, ...] = (
    BUY_ENTRY,
    SUBSCRIPTIONS_ENTRY,
    BALANCE_ENTRY,
    TRIAL_ENTRY,
    HELP_ENTRY,
    LANGUAGE_ENTRY,
)


def _rows(
    buttons: Sequence[InlineKeyboardButton], per_row: int
) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def main_menu_keyboard(
    *,
    language: str,
    entries: Sequence[MenuEntry] = MAIN_MENU,
    per_row: int = 2,
    trial: bool = False,
) -> InlineKeyboardMarkup:
    """The main menu; `trial` shows the free-trial entry (see `selectors.trial_offered`)."""
    buttons = [
        InlineKeyboardButton(entry.label(language=language), callback_data=entry.callback_data)
        for entry in entries
        if trial or not entry.trial_only
    ]
    # Support within reach: its own row, only when a contact is set.
    return InlineKeyboardMarkup([*_rows(buttons, per_row), *_support_rows(language)])


def back_to_menu_button(*, language: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(texts.button_menu(language=language), callback_data=MENU)


def _support_rows(language: str) -> list[list[InlineKeyboardButton]]:
    url = texts.support_url()
    return [[InlineKeyboardButton(texts.button_support(language=language), url=url)]] if url else []


def help_keyboard(*, language: str) -> InlineKeyboardMarkup:
    """The platform picker of /help (``help_screens``), support and the menu."""
    return help_screens.help_overview_keyboard(language=language)


def language_keyboard(*, language: str) -> InlineKeyboardMarkup:
    """Each language in its own name; the current one is ticked."""
    choices = [
        InlineKeyboardButton(
            ("✓ " if code == language else "") + str(label),
            callback_data=callback_data(LANGUAGE, code),
        )
        for code, label in Language.choices
    ]
    return InlineKeyboardMarkup([choices, [back_to_menu_button(language=language)]])


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


def _menu_row(language: str, back: str | None = None) -> list[InlineKeyboardButton]:
    row = [back_to_menu_button(language=language)]
    if back is not None:
        row.insert(0, _button(texts.button_back(language=language), back))
    return row


def banned_keyboard(*, language: str) -> InlineKeyboardMarkup | None:
    """Under the ban message: the support contact, when one is set."""
    rows = _support_rows(language)
    return InlineKeyboardMarkup(rows) if rows else None


def dead_end_keyboard(*, language: str) -> InlineKeyboardMarkup:
    """Nothing to do here right now: help (and support) or the menu."""
    last = [
        _button(texts.button_help(language=language), HELP),
        back_to_menu_button(language=language),
    ]
    return InlineKeyboardMarkup([*_support_rows(language), last])


def buy_tariffs_keyboard(*, language: str, options: "BuyOptions") -> InlineKeyboardMarkup:
    """One button per tariff; a renewal may switch to a new subscription instead."""
    target_id = options.target.id if options.target else None
    rows = [
        [
            _button(
                texts.button_tariff(language=language, tariff=tariff),
                buy_tariff_data(tariff.id, target_id),
            )
        ]
        for tariff in options.tariffs
    ]
    if options.target is not None:
        rows.append(
            [_button(texts.button_new_subscription(language=language), callback_data(BUY, BUY_NEW))]
        )
    rows.append(_menu_row(language))
    return InlineKeyboardMarkup(rows)


def _buy_back(target_id: int | None) -> str:
    """Back to the tariff list this purchase came from."""
    return buy_renew_data(target_id) if target_id else callback_data(BUY, BUY_NEW)


def buy_providers_keyboard(*, language: str, offer: "BuyOffer") -> InlineKeyboardMarkup:
    """One button per payment method, then back to the tariffs."""
    target_id = offer.target.id if offer.target else None
    rows = [
        [
            _button(
                provider.label,
                buy_provider_data(offer.tariff.id, target_id, provider.code, offer.country),
            )
        ]
        for provider in offer.providers
    ]
    if offer.balance is not None:  # the balance pays for it (``handlers.balance``)
        data = buy_provider_data(offer.tariff.id, target_id, BALANCE_PROVIDER, offer.country)
        rows.append([balance_method_button(language=language, balance=offer.balance, data=data)])
    if target_id is None:  # a new subscription's tariff may be bought as a gift
        rows.append([_gift_button(language, offer.tariff.id)])
    rows.append(_menu_row(language, back=_buy_back(target_id)))
    return InlineKeyboardMarkup(rows)


def _gift_button(language: str, tariff_id: int) -> InlineKeyboardButton:
    """ "🎁 As a gift" (``handlers.gifts``)."""
    return _button(texts_gifts.button_gift(language=language), buy_gift_data(tariff_id))


def buy_checkout_keyboard(*, language: str, checkout: "Checkout") -> InlineKeyboardMarkup:
    """The payment link, another method, the menu."""
    target_id = checkout.target.id if checkout.target else None
    rows = [
        [
            _button(
                texts.button_other_method(language=language),
                buy_tariff_data(checkout.tariff.id, target_id, checkout.country),
            ),
            back_to_menu_button(language=language),
        ]
    ]
    if checkout.url:  # Telegram Stars have none: the invoice below has its own Pay button
        pay = texts.button_pay(
            language=language, amount=checkout.amount, currency=checkout.currency
        )
        rows.insert(0, [InlineKeyboardButton(pay, url=checkout.url)])
    return InlineKeyboardMarkup(rows)


def buy_retry_keyboard(*, language: str) -> InlineKeyboardMarkup:
    """After a refused purchase: start the purchase again, or the menu."""
    return InlineKeyboardMarkup(
        [
            [
                _button(texts.button_buy(language=language), BUY),
                back_to_menu_button(language=language),
            ]
        ]
    )


def subscriptions_none_keyboard(*, language: str, trial: bool) -> InlineKeyboardMarkup:
    row = [_button(texts.button_buy(language=language), BUY)]
    if trial:
        row.append(_button(texts.button_trial(language=language), TRIAL))
    return InlineKeyboardMarkup([row, [back_to_menu_button(language=language)]])


def subscriptions_list_keyboard(
    *, language: str, cards: Sequence["SubscriptionCard"]
) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                texts.subscription_button(language=language, card=card),
                subscription_data(SUB_VIEW, card.id),
            )
        ]
        for card in cards
    ]
    rows.append(
        [_button(texts.button_buy(language=language), BUY), back_to_menu_button(language=language)]
    )
    return InlineKeyboardMarkup(rows)


def _renew_button(language: str, card: "SubscriptionCard") -> InlineKeyboardButton:
    """Renew this subscription; a trial or a suspended one cannot be: buy a new one instead."""
    if card.is_trial or card.status == "suspended":
        return _button(texts.button_buy(language=language), BUY)
    return _button(texts.button_renew(language=language), buy_renew_data(card.id))


def subscription_keyboard(
    *, language: str, card: "SubscriptionCard", many: bool
) -> InlineKeyboardMarkup:
    """Keys, URL, QR and renew for one subscription; back to the list when there are more."""
    rows = [
        [
            _button(texts.button_keys(language=language), subscription_data(SUB_KEYS, card.id)),
            _button(
                texts.button_subscription_url(language=language),
                subscription_data(SUB_URL, card.id),
            ),
        ],
        [
            _button(texts.button_qr(language=language), subscription_data(SUB_QR, card.id)),
            _renew_button(language, card),
        ],
        [_button(texts.button_devices(language=language), subscription_data(SUB_DEVICES, card.id))],
    ]
    last = [back_to_menu_button(language=language)]
    if many:
        last.insert(0, _button(texts.button_all_subscriptions(language=language), SUBSCRIPTIONS))
    rows.append(last)
    return InlineKeyboardMarkup(rows)


def app_buttons(*, language: str, feed_url: str) -> list[list[InlineKeyboardButton]]:
    """One-tap "add to <app>" buttons, two a row. Telegram's URL buttons take only http(s)
    and tg:// links, so each opens our https page that opens the app (``subscriptions.page``)."""
    buttons = [
        InlineKeyboardButton(
            texts.button_add_to_app(app_name=APPS[app].name, language=language),
            url=app_open_url(feed_url=feed_url, app=app),
        )
        for app in BOT_APPS
    ]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def subscription_keys_keyboard(*, language: str, card: "SubscriptionCard") -> InlineKeyboardMarkup:
    rows = [
        *app_buttons(language=language, feed_url=card.feed_url),
        [
            _button(texts.button_qr(language=language), subscription_data(SUB_QR, card.id)),
            _button(texts.button_how_to_connect(language=language), HELP),
        ],
    ]
    if not card.running:
        rows.append([_renew_button(language, card)])
    rows.append(_menu_row(language, back=subscription_data(SUB_VIEW, card.id)))
    return InlineKeyboardMarkup(rows)


def subscription_url_keyboard(*, language: str, card: "SubscriptionCard") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(texts.button_open_page(language=language), url=card.feed_url)],
            [_button(texts.button_qr(language=language), subscription_data(SUB_QR, card.id))],
            _menu_row(language, back=subscription_data(SUB_VIEW, card.id)),
        ]
    )


def subscription_qr_keyboard(*, language: str, subscription_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [_menu_row(language, back=subscription_data(SUB_VIEW, subscription_id))]
    )


def trial_granted_keyboard(*, language: str, subscription_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                _button(
                    texts.button_my_subscriptions(language=language),
                    subscription_data(SUB_VIEW, subscription_id),
                ),
                _button(texts.button_how_to_connect(language=language), HELP),
            ],
            [back_to_menu_button(language=language)],
        ]
    )


def subscription_devices_keyboard(
    *, language: str, screen: "SubscriptionDevices"
) -> InlineKeyboardMarkup:
    """One "remove" button per device (none while no removal is allowed), then back."""
    card = screen.card
    rows = []
    if screen.removals.left != 0:
        rows = [
            [
                _button(
                    texts.button_device_remove(language=language, device=device),
                    subscription_device_data(SUB_DEVICE_REMOVE, card.id, device.id),
                )
            ]
            for device in screen.devices
        ]
    rows.append(_menu_row(language, back=subscription_data(SUB_VIEW, card.id)))
    return InlineKeyboardMarkup(rows)


def device_remove_keyboard(
    *, language: str, subscription_id: int, device: "DeviceInfo"
) -> InlineKeyboardMarkup:
    """Confirm the removal, or back to the devices."""
    return InlineKeyboardMarkup(
        [
            [
                _button(
                    texts.button_device_remove_yes(language=language),
                    subscription_device_data(SUB_DEVICE_REMOVE_YES, subscription_id, device.id),
                )
            ],
            _menu_row(language, back=subscription_data(SUB_DEVICES, subscription_id)),
        ]
    )
