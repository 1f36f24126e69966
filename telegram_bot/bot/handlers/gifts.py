"""Gifts (callback data ``buy:g…`` and ``gift…``: ``notifications.callbacks``): buying a tariff
as a gift, and redeeming a code from its deep link (``/start gift_<CODE>``), ``/gift <CODE>``
or the code sent as a message."""

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from accounts.models import Customer
from billing.services.gifts import GIFT_CODE_ALPHABET, GIFT_CODE_LENGTH, GIFT_START_PREFIX
from core.exceptions import ApplicationError
from notifications.callbacks import (
    BUY,
    BUY_GIFT,
    BUY_GIFT_PROVIDER,
    GIFT,
    GIFT_NEW,
    GIFT_RENEW,
    callback_args,
    callback_pattern,
    int_arg,
)
from telegram_bot.bot import keyboards, keyboards_gifts, texts, texts_gifts
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.buy import show_tariffs
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, reply, show
from telegram_bot.bot.handlers.fallback import outdated_button
from telegram_bot.bot.selectors import buy_offer_get
from telegram_bot.bot.selectors_gifts import gift_offer_get
from telegram_bot.bot.services import checkout_message_moved, checkout_start
from telegram_bot.bot.services_gifts import gift_redeem_start

# A code sent as a message on its own (with or without the deep link's prefix, any case,
# dashes or spaces between groups): ``gift_code_normalize`` has the final word.
CODE_MESSAGE = filters.Regex(
    rf"(?i)^\s*({GIFT_START_PREFIX})?([{GIFT_CODE_ALPHABET}][\s-]?){{{GIFT_CODE_LENGTH}}}\s*$"
)


def gift_start_code(payload: str | None) -> str | None:
    """The code of a ``/start gift_<CODE>`` payload, else None (a referral code)."""
    if payload and payload.lower().startswith(GIFT_START_PREFIX):
        return payload[len(GIFT_START_PREFIX) :]
    return None


async def show_gift(update: Update, customer: Customer, code: str) -> None:
    """What the gift gives and how to redeem it, or why it cannot be redeemed."""
    language = customer.language
    try:
        offer = await call_service(gift_offer_get, customer=customer, code=code)
    except ApplicationError as exc:
        await reply(
            update,
            texts_gifts.gift_refused(language=language, message=exc.message),
            keyboards.dead_end_keyboard(language=language),
        )
        return
    await reply(
        update,
        texts_gifts.gift_offer(language=language, offer=offer),
        keyboards_gifts.gift_offer_keyboard(language=language, offer=offer),
    )


async def gift_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/gift <CODE>``: the gift; without a code, how to redeem one."""
    customer = await customer_for_update(update)
    if customer is None:
        return
    if not context.args:
        await reply(
            update,
            texts_gifts.gift_ask_code(language=customer.language),
            keyboards.dead_end_keyboard(language=customer.language),
        )
        return
    await show_gift(update, customer, "".join(context.args))


async def gift_code_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A message that is a gift code on its own."""
    customer = await customer_for_update(update)
    if customer is not None:
        await show_gift(update, customer, update.effective_message.text)


async def gift_redeem_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``gift:n:<code>`` (a new subscription) or ``gift:r:<code>:<sub>`` (add its days)."""
    query = update.callback_query
    await query.answer()
    args = callback_args(query.data)
    action = args[0] if args else ""
    code = args[1] if len(args) > 1 else ""
    subscription_id = int_arg(args, 2) if action == GIFT_RENEW else None
    if (
        not code
        or action not in (GIFT_NEW, GIFT_RENEW)
        or (action == GIFT_RENEW and subscription_id is None)
    ):
        await outdated_button(update, context, answered=True)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    language = customer.language
    try:
        redeemed = await call_service(
            gift_redeem_start, customer=customer, code=code, subscription_id=subscription_id
        )
    except ApplicationError as exc:
        await show(
            update,
            texts_gifts.gift_refused(language=language, message=exc.message),
            keyboards.dead_end_keyboard(language=language),
        )
        return
    await show(
        update,
        texts_gifts.gift_redeemed(language=language, redeemed=redeemed),
        keyboards_gifts.gift_redeemed_keyboard(language=language, redeemed=redeemed),
    )


async def gift_tariff_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``buy:g:<tariff>``: the tariff as a gift, the payment methods."""
    query = update.callback_query
    await query.answer()
    tariff_id = int_arg(callback_args(query.data), 1)
    if tariff_id is None:
        await outdated_button(update, context, answered=True)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    language = customer.language
    offer = await call_service(
        buy_offer_get, customer=customer, tariff_id=tariff_id, subscription_id=None
    )
    if offer.tariff is None:
        await show_tariffs(
            update, customer, new=True, notice=texts.not_available(language=language)
        )
    elif not offer.providers:
        await show(
            update,
            texts.buy_no_providers(language=language),
            keyboards.dead_end_keyboard(language=language),
        )
    else:
        await show(
            update,
            texts_gifts.gift_providers(language=language, offer=offer),
            keyboards_gifts.gift_providers_keyboard(language=language, offer=offer),
        )


async def gift_provider_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``buy:gp:<tariff>:<provider>``: the gift checkout's one pending payment and its link."""
    query = update.callback_query
    await query.answer()
    args = callback_args(query.data)
    tariff_id = int_arg(args, 1)
    provider = args[2] if len(args) > 2 else ""
    if tariff_id is None or not provider:
        await outdated_button(update, context, answered=True)
        return
    customer = await customer_for_update(update)
    if customer is None:
        return
    language = customer.language
    pressed = query.message
    try:
        checkout = await call_service(
            checkout_start,
            customer=customer,
            tariff_id=tariff_id,
            provider=provider,
            chat_id=pressed.chat.id if pressed else None,
            message_id=pressed.message_id if pressed else None,
            gift=True,
        )
    except ApplicationError as exc:
        await show(
            update,
            texts_gifts.gift_refused(language=language, message=exc.message),
            keyboards.buy_retry_keyboard(language=language),
        )
        return
    shown = await show(
        update,
        texts_gifts.gift_checkout(language=language, checkout=checkout),
        keyboards_gifts.gift_checkout_keyboard(language=language, checkout=checkout),
    )
    if shown is not None and (pressed is None or shown.message_id != pressed.message_id):
        await call_service(
            checkout_message_moved,
            payment_id=checkout.payment_id,
            chat_id=shown.chat.id,
            message_id=shown.message_id,
        )


# Before the buy flow: its bare ``buy`` pattern would match ``buy:g…`` too.
HANDLERS: list[BaseHandler] = [
    CommandHandler("gift", gift_command, filters=PRIVATE_MESSAGE),
    MessageHandler(PRIVATE_MESSAGE & filters.TEXT & CODE_MESSAGE, gift_code_message),
    CallbackQueryHandler(gift_tariff_chosen, pattern=callback_pattern(BUY, BUY_GIFT)),
    CallbackQueryHandler(gift_provider_chosen, pattern=callback_pattern(BUY, BUY_GIFT_PROVIDER)),
    CallbackQueryHandler(gift_redeem_button, pattern=callback_pattern(GIFT)),
]
