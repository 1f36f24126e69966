"""The keyboards of the checkout's questions (texts in ``texts_checkout``)."""

from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from notifications.callbacks import (
    BUY,
    BUY_NEW,
    SUB_VIEW,
    buy_renew_data,
    callback_data,
    subscription_data,
)
from telegram_bot.bot import texts_checkout
from telegram_bot.bot.keyboards import back_to_menu_button

if TYPE_CHECKING:
    from telegram_bot.bot.selectors import BuyOptions
    from telegram_bot.bot.selectors_checkout import Purchase


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
