"""The gift screens' keyboards (texts in ``texts_gifts``)."""

from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from notifications.callbacks import (
    SUB_VIEW,
    buy_gift_data,
    buy_gift_provider_data,
    buy_tariff_data,
    gift_redeem_data,
    subscription_data,
)
from telegram_bot.bot import texts, texts_gifts
from telegram_bot.bot.keyboards import back_to_menu_button

if TYPE_CHECKING:
    from telegram_bot.bot.selectors import BuyOffer, Checkout
    from telegram_bot.bot.selectors_gifts import GiftOffer
    from telegram_bot.bot.services_gifts import GiftRedeemed


def gift_button(*, language: str, tariff_id: int) -> InlineKeyboardButton:
    """ "🎁 As a gift" on a new subscription's tariff (``buy:g:<tariff>``)."""
    return InlineKeyboardButton(
        texts_gifts.button_gift(language=language), callback_data=buy_gift_data(tariff_id)
    )


def gift_providers_keyboard(*, language: str, offer: "BuyOffer") -> InlineKeyboardMarkup:
    """One button per payment method, then back to the tariff."""
    rows = [
        [
            InlineKeyboardButton(
                provider.label,
                callback_data=buy_gift_provider_data(offer.tariff.id, provider.code),
            )
        ]
        for provider in offer.providers
    ]
    rows.append(
        [
            InlineKeyboardButton(
                texts.button_back(language=language),
                callback_data=buy_tariff_data(offer.tariff.id, None),
            ),
            back_to_menu_button(language=language),
        ]
    )
    return InlineKeyboardMarkup(rows)


def gift_checkout_keyboard(*, language: str, checkout: "Checkout") -> InlineKeyboardMarkup:
    """The payment link, another method, the menu."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.button_pay(
                        language=language, amount=checkout.amount, currency=checkout.currency
                    ),
                    url=checkout.url,
                )
            ],
            [
                InlineKeyboardButton(
                    texts.button_other_method(language=language),
                    callback_data=buy_gift_data(checkout.tariff.id),
                ),
                back_to_menu_button(language=language),
            ],
        ]
    )


def gift_offer_keyboard(*, language: str, offer: "GiftOffer") -> InlineKeyboardMarkup:
    """A new subscription, or one button per subscription the gift may extend; the menu."""
    rows = [
        [
            InlineKeyboardButton(
                texts_gifts.button_gift_new(language=language),
                callback_data=gift_redeem_data(offer.code),
            )
        ]
    ]
    rows += [
        [
            InlineKeyboardButton(
                texts_gifts.button_gift_extend(
                    language=language,
                    number=target.number,
                    tariff=target.tariff_name,
                    date=target.expires_at,
                ),
                callback_data=gift_redeem_data(offer.code, target.id),
            )
        ]
        for target in offer.targets
    ]
    rows.append([back_to_menu_button(language=language)])
    return InlineKeyboardMarkup(rows)


def gift_redeemed_keyboard(*, language: str, redeemed: "GiftRedeemed") -> InlineKeyboardMarkup:
    """The subscription it made or extended, the menu."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.button_my_subscriptions(language=language),
                    callback_data=subscription_data(SUB_VIEW, redeemed.subscription_id),
                ),
                back_to_menu_button(language=language),
            ]
        ]
    )
