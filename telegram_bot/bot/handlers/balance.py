"""💰 Balance: the balance screen and top-ups (``bal…``), paying a tariff from the balance
(``buy:p:<tariff>:<sub|0>:balance`` asks, ``bal:y:<payment>`` pays), and the auto-renew
switch of a subscription card (``subs:ar:<sub>:<0|1>``). Screens: ``balance_screens``."""

from html import escape

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from accounts.models import Customer
from billing.services.autorenew import subscription_autorenew_set
from billing.services.ledger import InsufficientBalanceError
from core.exceptions import ApplicationError
from notifications.callbacks import (
    BALANCE,
    BALANCE_PAY,
    BALANCE_REFERRAL,
    BALANCE_TOP_UP,
    BALANCE_TOP_UP_PROVIDER,
    SUB_AUTO_RENEW,
    SUBSCRIPTIONS,
    callback_args,
    callback_exact,
    callback_pattern,
    int_arg,
)
from telegram_bot.bot import balance_screens as screens
from telegram_bot.bot import keyboards, texts
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, pressed, show
from telegram_bot.bot.handlers.fallback import outdated_button
from telegram_bot.bot.handlers.subscriptions import subscription_card_show
from telegram_bot.bot.services import checkout_message_moved


async def balance_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/balance, 💰 Balance: the balance, the top-up amounts, the latest operations."""
    customer = await customer_for_update(update)
    if customer is None:
        return
    screen = await call_service(screens.balance_screen_get, customer=customer)
    language = customer.language
    await show(
        update,
        screens.balance_text(language=language, screen=screen),
        screens.balance_keyboard(language=language, screen=screen),
    )


async def referral_screen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``bal:r``, /invite: 🤝 Invite friends: the invite link and what invitations brought."""
    customer = await customer_for_update(update)
    if customer is None:
        return
    screen = await call_service(screens.referral_screen_get, customer=customer)
    language = customer.language
    await show(
        update,
        screens.referral_text(language=language, screen=screen),
        screens.referral_keyboard(language=language, screen=screen),
    )


async def top_up_amount(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``bal:t:<amount>``: the payment methods for this top-up."""
    query = update.callback_query
    await query.answer()
    amount = int_arg(callback_args(query.data), 1)
    if amount is None:
        await outdated_button(update, context, answered=True)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    language = customer.language
    providers = await call_service(screens.top_up_providers, language)
    await show(
        update,
        screens.top_up_providers_text(language=language, amount=amount),
        screens.top_up_providers_keyboard(language=language, amount=amount, providers=providers),
    )


async def top_up_provider(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``bal:p:<amount>:<provider>``: a pending top-up and its payment link."""
    query = update.callback_query
    await query.answer()
    args = callback_args(query.data)
    amount, provider = int_arg(args, 1), args[2] if len(args) > 2 else ""
    if amount is None or not provider:
        await outdated_button(update, context, answered=True)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    language = customer.language
    pressed = query.message
    try:
        checkout = await call_service(
            screens.top_up_start,
            customer=customer,
            amount=amount,
            provider=provider,
            chat_id=pressed.chat.id if pressed else None,
            message_id=pressed.message_id if pressed else None,
        )
    except ApplicationError as exc:
        await show(update, escape(exc.message), screens.balance_short_keyboard(language=language))
        return
    shown = await show(
        update,
        screens.top_up_checkout_text(language=language, checkout=checkout),
        screens.top_up_checkout_keyboard(language=language, checkout=checkout),
    )
    if shown is not None and (pressed is None or shown.message_id != pressed.message_id):
        await call_service(
            checkout_message_moved,
            payment_id=checkout.payment_id,
            chat_id=shown.chat.id,
            message_id=shown.message_id,
        )


async def balance_checkout(
    update: Update,
    customer: Customer,
    *,
    tariff_id: int,
    subscription_id: int | None,
    country: str,
) -> None:
    """The buy flow's "from the balance" method: the pending payment and a confirmation."""
    language = customer.language
    try:
        checkout = await call_service(
            screens.balance_checkout_start,
            customer=customer,
            tariff_id=tariff_id,
            subscription_id=subscription_id,
            country=country,
        )
    except ApplicationError as exc:
        await show(update, escape(exc.message), keyboards.buy_retry_keyboard(language=language))
        return
    if checkout is None:
        await show(
            update,
            texts.not_available(language=language),
            keyboards.buy_retry_keyboard(language=language),
        )
        return
    await show(
        update,
        screens.balance_confirm_text(language=language, checkout=checkout),
        screens.balance_confirm_keyboard(language=language, checkout=checkout),
    )


async def balance_pay(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``bal:y:<payment>``: pay it from the balance (once, however often it is pressed)."""
    query = update.callback_query
    await query.answer()
    payment_id = int_arg(callback_args(query.data), 1)
    if payment_id is None:
        await outdated_button(update, context, answered=True)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    language = customer.language
    try:
        paid = await call_service(screens.balance_pay, customer=customer, payment_id=payment_id)
    except InsufficientBalanceError as exc:
        await show(update, escape(exc.message), screens.balance_short_keyboard(language=language))
        return
    except ApplicationError as exc:
        await show(update, escape(exc.message), keyboards.buy_retry_keyboard(language=language))
        return
    await show(
        update,
        screens.balance_paid_text(language=language, paid=paid),
        screens.balance_paid_keyboard(language=language, paid=paid),
    )


async def auto_renew_switch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:ar:<sub>:<0|1>``: switch auto-renew, then the card again."""
    query = update.callback_query
    await query.answer()
    args = callback_args(query.data)
    subscription_id, on = int_arg(args, 1), int_arg(args, 2)
    if subscription_id is None or on not in (0, 1):
        await outdated_button(update, context, answered=True)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    try:
        await call_service(
            subscription_autorenew_set,
            customer=customer,
            subscription_id=subscription_id,
            on=bool(on),
        )
    except ApplicationError as exc:
        await show(
            update, escape(exc.message), keyboards.buy_retry_keyboard(language=customer.language)
        )
        return
    await subscription_card_show(update, customer, subscription_id)


HANDLERS: list[BaseHandler] = [
    CommandHandler("balance", balance_command, filters=PRIVATE_MESSAGE),
    CommandHandler("invite", referral_screen, filters=PRIVATE_MESSAGE),
    CallbackQueryHandler(
        pressed(referral_screen), pattern=callback_exact(BALANCE, BALANCE_REFERRAL)
    ),
    CallbackQueryHandler(top_up_amount, pattern=callback_pattern(BALANCE, BALANCE_TOP_UP)),
    CallbackQueryHandler(
        top_up_provider, pattern=callback_pattern(BALANCE, BALANCE_TOP_UP_PROVIDER)
    ),
    CallbackQueryHandler(balance_pay, pattern=callback_pattern(BALANCE, BALANCE_PAY)),
    CallbackQueryHandler(
        auto_renew_switch, pattern=callback_pattern(SUBSCRIPTIONS, SUB_AUTO_RENEW)
    ),
    CallbackQueryHandler(pressed(balance_command), pattern=callback_exact(BALANCE)),
]
