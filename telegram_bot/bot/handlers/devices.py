"""A subscription's devices (hardware ids) and removing one (callback data ``subs:d…``:
``notifications.callbacks``). The rules (whose device, how many removals a day) live in
``subscriptions.services.devices.device_remove``."""

from html import escape

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes

from accounts.models import Customer
from core.exceptions import ApplicationError
from notifications.callbacks import (
    SUB_DEVICE_REMOVE,
    SUB_DEVICE_REMOVE_YES,
    SUB_DEVICES,
    SUBSCRIPTIONS,
    callback_args,
    callback_pattern,
    int_arg,
)
from subscriptions.services.devices import device_remove
from telegram_bot.bot import keyboards, texts
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.common import customer_for_update, show
from telegram_bot.bot.handlers.fallback import outdated_button
from telegram_bot.bot.handlers.subscriptions import show_subscriptions
from telegram_bot.bot.selectors import SubscriptionDevices, subscription_devices_get


async def show_devices(
    update: Update, customer: Customer, subscription_id: int, *, notice: str = ""
) -> None:
    """The devices screen; the customer's subscriptions when that one is not theirs."""
    language = customer.language
    screen = await call_service(
        subscription_devices_get, customer=customer, subscription_id=subscription_id
    )
    if screen is None:
        await show_subscriptions(
            update, customer, notice=texts.subscription_not_found(language=language)
        )
        return
    await show(
        update,
        texts.subscription_devices(language=language, screen=screen, notice=notice),
        keyboards.subscription_devices_keyboard(language=language, screen=screen),
    )


async def _pressed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, *, device_needed: bool
) -> tuple[Customer, int, int | None] | None:
    """Answer the press and resolve ``subs:<action>:<sub>[:<device>]``; None when answered."""
    query = update.callback_query
    await query.answer()
    args = callback_args(query.data)
    subscription_id, device_id = int_arg(args, 1), int_arg(args, 2)
    if subscription_id is None or (device_needed and device_id is None):
        await outdated_button(update, context, answered=True)
        return None
    customer = await customer_for_update(update)
    if customer is None:
        return None
    return customer, subscription_id, device_id


async def devices_view(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:d:<sub>``: the devices, last seen first, each with a "remove" button."""
    pressed = await _pressed(update, context, device_needed=False)
    if pressed is not None:
        customer, subscription_id, _device_id = pressed
        await show_devices(update, customer, subscription_id)


async def device_remove_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:dr:<sub>:<device>``: what removing does, and a button to confirm."""
    pressed = await _pressed(update, context, device_needed=True)
    if pressed is None:
        return
    customer, subscription_id, device_id = pressed
    language = customer.language
    screen: SubscriptionDevices | None = await call_service(
        subscription_devices_get, customer=customer, subscription_id=subscription_id
    )
    device = screen.device(device_id) if screen is not None else None
    if device is None or screen.removals.left == 0:
        notice = texts.device_gone(language=language) if device is None else ""
        await show_devices(update, customer, subscription_id, notice=notice)
        return
    await show(
        update,
        texts.device_remove_confirm(language=language, screen=screen, device=device),
        keyboards.device_remove_keyboard(
            language=language, subscription_id=subscription_id, device=device
        ),
    )


async def device_remove_confirmed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``subs:dy:<sub>:<device>``: remove it (once; the daily number is the service's rule)."""
    pressed = await _pressed(update, context, device_needed=True)
    if pressed is None:
        return
    customer, subscription_id, device_id = pressed
    try:
        removed = await call_service(
            device_remove,
            customer=customer,
            subscription_id=subscription_id,
            device_id=device_id,
        )
    except ApplicationError as exc:
        notice = escape(exc.message)
    else:
        notice = texts.device_removed(language=customer.language, label=removed.label)
    await show_devices(update, customer, subscription_id, notice=notice)


HANDLERS: list[BaseHandler] = [
    CallbackQueryHandler(devices_view, pattern=callback_pattern(SUBSCRIPTIONS, SUB_DEVICES)),
    CallbackQueryHandler(
        device_remove_ask, pattern=callback_pattern(SUBSCRIPTIONS, SUB_DEVICE_REMOVE)
    ),
    CallbackQueryHandler(
        device_remove_confirmed, pattern=callback_pattern(SUBSCRIPTIONS, SUB_DEVICE_REMOVE_YES)
    ),
]
