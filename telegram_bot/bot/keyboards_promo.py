"""The promo code's keyboards (texts in ``texts_promo``)."""

from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from notifications.callbacks import BUY, SUBSCRIPTIONS, buy_provider_data, promo_data
from telegram_bot.bot import keyboards, texts, texts_promo
from telegram_bot.bot.keyboards import back_to_menu_button
from telegram_bot.bot.promo import FREE_PROVIDER

if TYPE_CHECKING:
    from telegram_bot.bot.promo import PromoOffer
    from telegram_bot.bot.selectors import BuyOffer


def buy_providers_keyboard(
    *, language: str, offer: "BuyOffer", promo: "PromoOffer | None", offered: bool
) -> InlineKeyboardMarkup:
    """The payment methods (or, when the code makes it free, one "get it free" button), the
    promo code button while codes are `offered`, then back and the menu."""
    target_id = offer.target.id if offer.target else None
    rows = [
        list(row)
        for row in keyboards.buy_providers_keyboard(language=language, offer=offer).inline_keyboard
    ]
    if promo is not None and promo.free:
        free = buy_provider_data(offer.tariff.id, target_id, FREE_PROVIDER, offer.country)
        rows = [
            [InlineKeyboardButton(texts_promo.button_free(language=language), callback_data=free)],
            rows[-1],
        ]
    if not offered:
        return InlineKeyboardMarkup(rows)
    promo_button = InlineKeyboardButton(
        texts_promo.button_promo(language=language),
        callback_data=promo_data(offer.tariff.id, target_id, offer.country),
    )
    rows.insert(len(rows) - 1, [promo_button])
    return InlineKeyboardMarkup(rows)


def promo_ask_keyboard(*, language: str, back: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.button_back(language=language), callback_data=back),
                back_to_menu_button(language=language),
            ]
        ]
    )


def promo_refused_keyboard(*, language: str, again: str, back: str) -> InlineKeyboardMarkup:
    """A code refused after it was asked for: another one, or back to the payment methods."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts_promo.button_promo_again(language=language), callback_data=again
                )
            ],
            [
                InlineKeyboardButton(texts.button_back(language=language), callback_data=back),
                back_to_menu_button(language=language),
            ],
        ]
    )


def promo_saved_keyboard(*, language: str) -> InlineKeyboardMarkup:
    """A code kept for the checkout: on to the tariffs."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.button_buy(language=language), callback_data=BUY),
                back_to_menu_button(language=language),
            ]
        ]
    )


def promo_granted_keyboard(*, language: str) -> InlineKeyboardMarkup:
    """After a free grant (or a refusal of one): the subscriptions, the menu."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.button_my_subscriptions(language=language), callback_data=SUBSCRIPTIONS
                ),
                back_to_menu_button(language=language),
            ]
        ]
    )
