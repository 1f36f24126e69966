"""The callback-data scheme, as plain strings (no python-telegram-bot import).

Callback data is ``<prefix>[:<arg>...]``, at most 64 bytes (Telegram's limit). Everything a
button needs travels in its data, so a keyboard sent before a restart keeps working: the bot
holds no per-chat state. Outbox notifications (built in Celery workers) use the same builders
as the bot's keyboards, so a button in a notification lands in the same handler.

Flows and their data:

- ``menu``, ``help``, ``lang[:<code>]`` — main menu, help, language.
- ``buy`` — the tariff list (renews the running subscription, if there is one);
  ``buy:n`` — a new subscription even so; ``buy:r:<sub>`` — renew that subscription;
  ``buy:r`` — renew the latest paid subscription (a broadcast's "Renew" button);
  ``buy:t:<tariff>:<sub|0>[:<country>]`` — payment methods for a tariff (first the
  country, for a new subscription whose tariff offers several);
  ``buy:p:<tariff>:<sub|0>:<provider>[:<country>]`` — the checkout's pending payment and
  its link; ``buy:g:<tariff>`` — payment methods for the tariff as a gift,
  ``buy:gp:<tariff>:<provider>`` — the gift checkout's pending payment and its link.
- ``gift:n:<code>`` — redeem a gift code as a new subscription; ``gift:r:<code>:<sub>`` —
  add its days to that subscription.
- ``subs`` — the customer's subscriptions; ``subs:v:<sub>`` one of them;
  ``subs:k:<sub>`` its keys; ``subs:u:<sub>`` its subscription URL; ``subs:q:<sub>`` its QR code;
  ``subs:d:<sub>`` its devices (hardware ids); ``subs:dr:<sub>:<device>`` asks to remove one,
  ``subs:dy:<sub>:<device>`` removes it; ``subs:c:<sub>`` the countries its keys may
  live in, ``subs:cs:<sub>:<code>`` moves them there.
- ``trial`` — take the free trial.
- ``bal`` — the balance, its top-up amounts and its latest entries; ``bal:t:<amount>`` the
  payment methods for a top-up; ``bal:p:<amount>:<provider>`` its pending payment and link;
  ``bal:y:<payment>`` pays a pending ``balance`` checkout from the balance (the buy flow's
  ``buy:p:<tariff>:<sub|0>:balance`` asks first); ``subs:ar:<sub>:<0|1>`` switches a
  subscription's auto-renew off or on.
- ``promo:<tariff>:<sub|0>[:<country>]`` — enter a promo code for this purchase (the code
  then arrives as a text message: the one piece of per-chat state, ``telegram_bot.bot.promo``);
  ``buy:p:<tariff>:<sub|0>:free[:<country>]`` — take a purchase a promo code makes free.
"""

import re

CALLBACK_DATA_MAX_BYTES = 64
SEPARATOR = ":"

# Prefixes, one per flow. Short on purpose: they travel in every button.
MENU = "menu"
HELP = "help"
LANGUAGE = "lang"
BUY = "buy"
SUBSCRIPTIONS = "subs"
TRIAL = "trial"
BALANCE = "bal"

# Steps of the balance flow.
BALANCE_TOP_UP = "t"
BALANCE_TOP_UP_PROVIDER = "p"
BALANCE_PAY = "y"
BALANCE_REFERRAL = "r"  # the "Invite friends" screen

GIFT = "gift"
PROMO = "promo"

# Steps of the buy flow (the second part of its data).
BUY_NEW = "n"
BUY_RENEW = "r"
BUY_TARIFF = "t"
BUY_PROVIDER = "p"
BUY_GIFT = "g"
BUY_GIFT_PROVIDER = "gp"

# Ways to redeem a gift (the second part of ``gift`` data).
GIFT_NEW = "n"
GIFT_RENEW = "r"

# What to show about one subscription.
SUB_VIEW = "v"
SUB_KEYS = "k"
SUB_URL = "u"
SUB_QR = "q"
SUB_DEVICES = "d"
SUB_DEVICE_REMOVE = "dr"
SUB_DEVICE_REMOVE_YES = "dy"
SUB_COUNTRY = "c"
SUB_COUNTRY_SET = "cs"
SUB_AUTO_RENEW = "ar"


def callback_data(prefix: str, *args: str) -> str:
    """Join a prefix and its arguments; refuse data Telegram would reject."""
    data = SEPARATOR.join((prefix, *args))
    if len(data.encode()) > CALLBACK_DATA_MAX_BYTES:
        raise ValueError(f"callback data longer than {CALLBACK_DATA_MAX_BYTES} bytes: {data!r}")
    return data


def callback_pattern(prefix: str, *args: str) -> str:
    """A regex matching `prefix` (and `args`) alone or followed by arguments.

    ``callback_pattern("lang")`` matches ``lang`` and ``lang:en``;
    ``callback_pattern("buy", "t")`` matches ``buy:t:3:0`` but not ``buy`` or ``buy:p:3:0:x``.
    """
    head = re.escape(SEPARATOR.join((prefix, *args)))
    return rf"^{head}(?:{re.escape(SEPARATOR)}.*)?$"


def callback_exact(prefix: str, *args: str) -> str:
    """A regex matching exactly `prefix` (and `args`), with nothing after."""
    return rf"^{re.escape(SEPARATOR.join((prefix, *args)))}$"


def callback_args(data: str | None) -> list[str]:
    """The arguments after the prefix: ``"lang:en"`` -> ``["en"]``."""
    return (data or "").split(SEPARATOR)[1:]


def int_arg(args: list[str], index: int) -> int | None:
    """``args[index]`` as a non-negative int, or None when missing or malformed."""
    try:
        value = args[index]
    except IndexError:
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 12 else None


# Builders of the buttons that messages outside the bot need.


def buy_renew_data(subscription_id: int) -> str:
    return callback_data(BUY, BUY_RENEW, str(subscription_id))


def buy_tariff_data(tariff_id: int, subscription_id: int | None, country: str = "") -> str:
    args = (str(tariff_id), str(subscription_id or 0), *((country,) if country else ()))
    return callback_data(BUY, BUY_TARIFF, *args)


def buy_provider_data(
    tariff_id: int, subscription_id: int | None, provider: str, country: str = ""
) -> str:
    args = (str(tariff_id), str(subscription_id or 0), provider, *((country,) if country else ()))
    return callback_data(BUY, BUY_PROVIDER, *args)


def buy_gift_data(tariff_id: int) -> str:
    return callback_data(BUY, BUY_GIFT, str(tariff_id))


def buy_gift_provider_data(tariff_id: int, provider: str) -> str:
    return callback_data(BUY, BUY_GIFT_PROVIDER, str(tariff_id), provider)


def gift_redeem_data(code: str, subscription_id: int | None = None) -> str:
    if subscription_id is None:
        return callback_data(GIFT, GIFT_NEW, code)
    return callback_data(GIFT, GIFT_RENEW, code, str(subscription_id))


def promo_data(tariff_id: int, subscription_id: int | None, country: str = "") -> str:
    args = (str(tariff_id), str(subscription_id or 0), *((country,) if country else ()))
    return callback_data(PROMO, *args)


def subscription_data(action: str, subscription_id: int) -> str:
    return callback_data(SUBSCRIPTIONS, action, str(subscription_id))


def subscription_device_data(action: str, subscription_id: int, device_id: int) -> str:
    return callback_data(SUBSCRIPTIONS, action, str(subscription_id), str(device_id))


def subscription_country_data(subscription_id: int, country: str) -> str:
    return callback_data(SUBSCRIPTIONS, SUB_COUNTRY_SET, str(subscription_id), country)
