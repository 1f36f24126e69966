"""The keyboards of the checkout's questions (texts in ``texts_checkout``)."""

from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from notifications.callbacks import (
    BUY,
    BUY_NEW,
    SUB_COUNTRY,
    SUB_VIEW,
    buy_renew_data,
    buy_tariff_data,
    callback_data,
    subscription_country_data,
    subscription_data,
)
from notifications.formatting import country_label
from telegram_bot.bot import texts, texts_checkout
from telegram_bot.bot.keyboards import back_to_menu_button
from telegram_bot.bot.keyboards_gifts import gift_button

if TYPE_CHECKING:
    from telegram_bot.bot.selectors import BuyOffer, BuyOptions
    from telegram_bot.bot.selectors_checkout import CountryChoice, Purchase


def buy_renewal_choice_keyboard(*, language: str, options: "BuyOptions") -> InlineKeyboardMarkup:
    """One "renew" button per running subscription, then a new one, then the menu."""
    rows = [
        [
            InlineKeyboardButton(
                texts_checkout.button_renew_choice(language=language, target=target),
                callback_data=buy_renew_data(target.id),
            )
        ]
        for target in options.choices
    ]
    rows.append(
        [
            InlineKeyboardButton(
                texts_checkout.button_buy_new(language=language),
                callback_data=callback_data(BUY, BUY_NEW),
            )
        ]
    )
    rows.append([back_to_menu_button(language=language)])
    return InlineKeyboardMarkup(rows)


def purchase_again_keyboard(
    *, language: str, purchase: "Purchase", again: str
) -> InlineKeyboardMarkup:
    """Yes: the button pressed (`again`, its data) goes on; no: the subscription bought."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts_checkout.button_purchase_again_yes(language=language),
                    callback_data=again,
                )
            ],
            [
                InlineKeyboardButton(
                    texts_checkout.button_purchase_again_no(language=language),
                    callback_data=subscription_data(SUB_VIEW, purchase.subscription_id),
                )
            ],
            [back_to_menu_button(language=language)],
        ]
    )


def with_country_button(
    markup: InlineKeyboardMarkup, *, language: str, choice: "CountryChoice"
) -> InlineKeyboardMarkup:
    """A subscription card's keyboard with the country button above its last row."""
    rows = [list(row) for row in markup.inline_keyboard]
    button = InlineKeyboardButton(
        texts_checkout.button_country(language=language, choice=choice),
        callback_data=subscription_data(SUB_COUNTRY, choice.subscription_id),
    )
    rows.insert(max(len(rows) - 1, 0), [button])
    return InlineKeyboardMarkup(rows)


def country_menu_keyboard(*, language: str, choice: "CountryChoice") -> InlineKeyboardMarkup:
    """One button per country (the current one ticked), then back to the card."""
    rows = [
        [
            InlineKeyboardButton(
                ("✓ " if code == choice.country else "") + country_label(code, language),
                callback_data=subscription_country_data(choice.subscription_id, code),
            )
        ]
        for code in choice.countries
    ]
    rows.append(
        [
            InlineKeyboardButton(
                texts.button_back(language=language),
                callback_data=subscription_data(SUB_VIEW, choice.subscription_id),
            ),
            back_to_menu_button(language=language),
        ]
    )
    return InlineKeyboardMarkup(rows)


def buy_countries_keyboard(*, language: str, offer: "BuyOffer") -> InlineKeyboardMarkup:
    """One button per country (the payment methods follow), then back to the tariffs."""
    rows = [
        [
            InlineKeyboardButton(
                country_label(code, language),
                callback_data=buy_tariff_data(offer.tariff.id, None, code),
            )
        ]
        for code in offer.countries
    ]
    # A gift takes no country (the recipient's subscription goes anywhere): offered here too.
    rows.append([gift_button(language=language, tariff_id=offer.tariff.id)])
    rows.append(
        [
            InlineKeyboardButton(
                texts.button_back(language=language), callback_data=callback_data(BUY, BUY_NEW)
            ),
            back_to_menu_button(language=language),
        ]
    )
    return InlineKeyboardMarkup(rows)
