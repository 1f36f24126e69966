"""/buy: tariffs → payment method → a pending payment and its link; renewals included
(callback data ``buy…``: ``notifications.callbacks``)."""

from html import escape

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from accounts.models import Customer
from billing.services.ledger import BALANCE_PROVIDER
from core.exceptions import ApplicationError
from notifications.callbacks import (
    BUY,
    BUY_NEW,
    BUY_PROVIDER,
    BUY_RENEW,
    BUY_TARIFF,
    callback_args,
    callback_pattern,
    int_arg,
)
from telegram_bot.bot import (
    keyboards,
    keyboards_checkout,
    keyboards_promo,
    texts,
    texts_checkout,
    texts_promo,
)
from telegram_bot.bot.db import call_service
from telegram_bot.bot.handlers.balance import balance_checkout
from telegram_bot.bot.handlers.common import PRIVATE_MESSAGE, customer_for_update, show
from telegram_bot.bot.handlers.fallback import outdated_button
from telegram_bot.bot.handlers.stars import send_stars_invoice
from telegram_bot.bot.promo import (
    FREE_PROVIDER,
    promo_checkout_free,
    promo_code_get,
    promo_codes_offered,
    promo_offer_get,
    promo_wait_pop,
)
from telegram_bot.bot.selectors import buy_offer_get, buy_options_get, renewal_latest_id
from telegram_bot.bot.selectors_checkout import purchase_since
from telegram_bot.bot.services import checkout_message_moved, checkout_start


async def show_tariffs(
    update: Update,
    customer: Customer,
    *,
    subscription_id: int | None = None,
    new: bool = False,
    notice: str = "",
) -> None:
    """The tariff list, or why nothing can be bought right now (never a dead end)."""
    language = customer.language
    options = await call_service(
        buy_options_get, customer=customer, subscription_id=subscription_id, new=new
    )
    if not options.providers:
        text = texts.buy_no_providers(language=language)
    elif options.choices:
        await show(
            update,
            texts_checkout.buy_renewal_choice(language=language, options=options),
            keyboards_checkout.buy_renewal_choice_keyboard(language=language, options=options),
        )
        return
    elif not options.tariffs:
        text = texts.buy_no_tariffs(language=language)
    else:
        await show(
            update,
            texts.buy_tariffs(language=language, options=options, notice=notice),
            keyboards.buy_tariffs_keyboard(language=language, options=options),
        )
        return
    await show(update, text, keyboards.dead_end_keyboard(language=language))


async def buy_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/buy: the tariffs renewing the running subscription; with several, which one."""
    customer = await customer_for_update(update)
    if customer is None:
        return
    await show_tariffs(update, customer)


async def buy_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``buy``, ``buy:n`` (new), ``buy:r:<sub>`` (renew it), ``buy:r`` (the latest paid)."""
    query = update.callback_query
    await query.answer()
    args = callback_args(query.data)
    action = args[0] if args else ""
    subscription_id = int_arg(args, 1) if action == BUY_RENEW else None
    # ``buy:r`` alone (a broadcast's "Renew"): the customer's latest paid subscription.
    renew_latest = action == BUY_RENEW and len(args) == 1
    if action not in ("", BUY_NEW, BUY_RENEW) or (
        action == BUY_RENEW and not subscription_id and not renew_latest
    ):
        await outdated_button(update, context, answered=True)
        return
    customer = await customer_for_update(update)
    if customer is None or (action and await _bought_meanwhile(update, customer)):
        return
    if renew_latest:
        subscription_id = await call_service(renewal_latest_id, customer=customer)
    await show_tariffs(update, customer, subscription_id=subscription_id, new=action == BUY_NEW)


async def _bought_meanwhile(update: Update, customer: Customer) -> bool:
    """Whether the customer bought something after the pressed message was last shown: then
    ask before a second purchase (yes presses the same button on the question, which is
    newer than the purchase) and return True."""
    message = update.callback_query.message
    if message is None:
        return False
    shown_at = getattr(message, "edit_date", None) or message.date
    purchase = await call_service(purchase_since, customer=customer, shown_at=shown_at)
    if purchase is None:
        return False
    language = customer.language
    await show(
        update,
        texts_checkout.purchase_again(language=language, purchase=purchase),
        keyboards_checkout.purchase_again_keyboard(
            language=language, purchase=purchase, again=update.callback_query.data
        ),
    )
    return True


async def _purchase(
    update: Update, context: ContextTypes.DEFAULT_TYPE, *, provider_needed: bool
) -> tuple[Customer, int, int | None, str, str] | None:
    """Answer the press and resolve ``buy:<step>:<tariff>:<sub|0>[:<code>][:<country>]`` into
    (customer, tariff id, the subscription renewed or None, provider, country); None when
    already answered (also
    by the question whether to buy again after a purchase since the button was shown)."""
    query = update.callback_query
    await query.answer()
    args = callback_args(query.data)
    tariff_id, subscription_id = int_arg(args, 1), int_arg(args, 2)
    provider = args[3] if provider_needed and len(args) > 3 else ""
    country = args[4 if provider_needed else 3] if len(args) > (4 if provider_needed else 3) else ""
    if tariff_id is None or subscription_id is None or (provider_needed and not provider):
        await outdated_button(update, context, answered=True)
        return None
    customer = await customer_for_update(update)
    if customer is None or await _bought_meanwhile(update, customer):
        return None
    return customer, tariff_id, subscription_id or None, provider, country


async def tariff_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``buy:t:<tariff>:<sub|0>[:<country>]``: the tariff, its country, the payment methods."""
    purchase = await _purchase(update, context, provider_needed=False)
    if purchase is None:
        return
    customer, tariff_id, subscription_id, _provider, country = purchase
    await offer_screen(
        update, customer, tariff_id=tariff_id, subscription_id=subscription_id, country=country
    )


async def offer_screen(
    update: Update, customer: Customer, *, tariff_id: int, subscription_id: int | None, country: str
) -> None:
    """The chosen tariff: its country first if it offers several, else the payment methods."""
    language = customer.language
    offer = await call_service(
        buy_offer_get,
        customer=customer,
        tariff_id=tariff_id,
        subscription_id=subscription_id,
        country=country,
    )
    if offer.tariff is None:
        await show_tariffs(
            update,
            customer,
            subscription_id=subscription_id,
            new=subscription_id is None,
            notice=texts.not_available(language=language),
        )
    elif not offer.providers and offer.balance is None:
        await show(
            update,
            texts.buy_no_providers(language=language),
            keyboards.dead_end_keyboard(language=language),
        )
    elif offer.countries and not offer.country:
        await show(
            update,
            texts_checkout.buy_countries(language=language, offer=offer),
            keyboards_checkout.buy_countries_keyboard(language=language, offer=offer),
        )
    else:
        await _providers_screen(update, customer, offer)


async def _providers_screen(update: Update, customer: Customer, offer) -> None:
    """The payment methods, with what the chat's promo code does to the price. Shown again,
    the screen ends a question for a code ("« Back" from it)."""
    language = customer.language
    chat_id = update.effective_chat.id
    await call_service(promo_wait_pop, chat_id=chat_id)
    code = await call_service(promo_code_get, chat_id=chat_id)
    promo = await call_service(
        promo_offer_get, customer=customer, code=code, tariff_id=offer.tariff.id
    )
    offered = promo is not None or await call_service(promo_codes_offered)
    text = texts.buy_providers(language=language, offer=offer)
    if promo is not None:
        # Above the last paragraph ("Choose a payment method:").
        head, _sep, tail = text.rpartition("\n\n")
        text = "\n\n".join([head, texts_promo.promo_note(language=language, offer=promo), tail])
    await show(
        update,
        text,
        keyboards_promo.buy_providers_keyboard(
            language=language, offer=offer, promo=promo, offered=offered
        ),
    )


async def provider_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``buy:p:<tariff>:<sub|0>:<code>``: the checkout's one pending payment, link/invoice."""
    purchase = await _purchase(update, context, provider_needed=True)
    if purchase is None:
        return
    customer, tariff_id, subscription_id, provider, country = purchase
    if provider == BALANCE_PROVIDER:  # from the balance: a confirmation first
        await balance_checkout(
            update,
            customer,
            tariff_id=tariff_id,
            subscription_id=subscription_id,
            country=country,
        )
        return
    language = customer.language
    pressed = update.callback_query.message
    chat_id = update.effective_chat.id
    if provider == FREE_PROVIDER:
        entry = await call_service(
            promo_checkout_free,
            customer=customer,
            tariff_id=tariff_id,
            subscription_id=subscription_id,
            chat_id=chat_id,
            country=country,
        )
        await show(
            update,
            texts_promo.promo_entered(language=language, entry=entry),
            keyboards_promo.promo_granted_keyboard(language=language),
        )
        return
    # The chat's promo code, when it applies to this tariff (the providers screen said so).
    code = await call_service(promo_code_get, chat_id=chat_id)
    promo = await call_service(promo_offer_get, customer=customer, code=code, tariff_id=tariff_id)
    promo = promo if promo is not None and promo.applies else None
    try:
        checkout = await call_service(
            checkout_start,
            customer=customer,
            tariff_id=tariff_id,
            provider=provider,
            subscription_id=subscription_id,
            chat_id=pressed.chat.id if pressed else None,
            message_id=pressed.message_id if pressed else None,
            country=country,
            promo_code=promo.code if promo is not None else "",
        )
    except ApplicationError as exc:
        await show(update, escape(exc.message), keyboards.buy_retry_keyboard(language=language))
        return
    text = texts.buy_checkout(language=language, checkout=checkout)
    if promo is not None:
        text += "\n\n" + texts_promo.promo_note(language=language, offer=promo)
    shown = await show(
        update,
        text,
        keyboards.buy_checkout_keyboard(language=language, checkout=checkout),
    )
    if shown is not None and (pressed is None or shown.message_id != pressed.message_id):
        await call_service(
            checkout_message_moved,
            payment_id=checkout.payment_id,
            chat_id=shown.chat.id,
            message_id=shown.message_id,
        )
    if checkout.invoice is not None and update.effective_chat is not None:
        await send_stars_invoice(
            context, chat_id=update.effective_chat.id, invoice=checkout.invoice
        )


# The specific steps first: the bare ``buy`` pattern would match their data too.
HANDLERS: list[BaseHandler] = [
    CommandHandler("buy", buy_command, filters=PRIVATE_MESSAGE),
    CallbackQueryHandler(tariff_chosen, pattern=callback_pattern(BUY, BUY_TARIFF)),
    CallbackQueryHandler(provider_chosen, pattern=callback_pattern(BUY, BUY_PROVIDER)),
    CallbackQueryHandler(buy_button, pattern=callback_pattern(BUY)),
]
