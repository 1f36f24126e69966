"""Payment providers: credentials from the environment and the provider registry (a provider
is enabled when its credentials are configured)."""

from vpnsite.env import env

ROBOKASSA_LOGIN = env("ROBOKASSA_LOGIN", default="")
ROBOKASSA_PASSWORD1 = env("ROBOKASSA_PASSWORD1", default="")
ROBOKASSA_PASSWORD2 = env("ROBOKASSA_PASSWORD2", default="")
ROBOKASSA_HASH = env("ROBOKASSA_HASH", default="md5").lower()
ROBOKASSA_TEST_MODE = env.bool("ROBOKASSA_TEST_MODE", default=False)

FREEKASSA_MERCHANT_ID = env("FREEKASSA_MERCHANT_ID", default="")
FREEKASSA_SECRET1 = env("FREEKASSA_SECRET1", default="")
FREEKASSA_SECRET2 = env("FREEKASSA_SECRET2", default="")
FREEKASSA_CHECK_IP = env.bool("FREEKASSA_CHECK_IP", default=True)
_PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
YOOKASSA_SHOP_ID = env("YOOKASSA_SHOP_ID", default="")
YOOKASSA_SECRET_KEY = env("YOOKASSA_SECRET_KEY", default="")
# Where YooKassa sends the buyer after paying; default: our /pay/success/ page.
YOOKASSA_RETURN_URL = env("YOOKASSA_RETURN_URL", default="")
# Seconds each YooKassa API call may take (connect, then the answer) before it is given up.
YOOKASSA_TIMEOUT = env.float("YOOKASSA_TIMEOUT", default=10.0)
# Client address behind a reverse proxy: only these proxy addresses may set X-Forwarded-For.
TRUSTED_PROXY_IPS = env.list("TRUSTED_PROXY_IPS", default=[])

PAYMENT_CURRENCY = env("PAYMENT_CURRENCY", default="RUB")
PAYMENT_PENDING_TTL_MINUTES = env.int("PAYMENT_PENDING_TTL_MINUTES", default=60 * 24)
# Days a paid gift's code can be redeemed (billing.services.gifts); later it is refused.
GIFT_VALIDITY_DAYS = env.int("GIFT_VALIDITY_DAYS", default=180)
# Largest notification accepted and stored, in bytes, body and query string together (a real
# one is under 1 KB). With at most ~4 KB of headers, it bounds what one delivery stores.
WEBHOOK_BODY_MAX_BYTES = env.int("WEBHOOK_BODY_MAX_BYTES", default=16 * 1024)
# Webhook log rows older than this many days are deleted daily (billing.tasks): refused,
# duplicate and dismissed failed deliveries; never the ones that credited a payment.
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)

# Balance (billing.services.balance): the top-up amounts the bot offers, in roubles, and the
# bounds of any top-up.
BALANCE_TOP_UP_AMOUNTS = [
    int(amount)
    for amount in env.list("BALANCE_TOP_UP_AMOUNTS", default=["100", "300", "500", "1000"])
    if amount
]
BALANCE_TOP_UP_MIN = env.int("BALANCE_TOP_UP_MIN", default=50)
BALANCE_TOP_UP_MAX = env.int("BALANCE_TOP_UP_MAX", default=50_000)
# Auto-renew (billing.services.autorenew): a subscription with auto-renew on is renewed from
# the balance once it has this many days left or fewer (its customer is reminded a day
# earlier); the beat task runs every AUTO_RENEW_INTERVAL seconds.
AUTO_RENEW_DAYS_BEFORE = env.int("AUTO_RENEW_DAYS_BEFORE", default=1)
# Referral rewards (billing.services.referral): defaults of the runtime settings of the same
# names (console): a percentage of an invitee's real-money rouble payments into the inviter's
# balance (0: none), days added to the inviter's running subscription (0: none), and whether
# every payment counts or only the invitee's first.
REFERRAL_PERCENT = env.int("REFERRAL_PERCENT", default=0)
REFERRAL_DAYS = env.int("REFERRAL_DAYS", default=0)
REFERRAL_EVERY_PAYMENT = env.bool("REFERRAL_EVERY_PAYMENT", default=False)

BILLING_PROVIDERS = {}
if ROBOKASSA_LOGIN and ROBOKASSA_PASSWORD1 and ROBOKASSA_PASSWORD2:
    BILLING_PROVIDERS["robokassa"] = (
        "billing.providers.robokassa.RobokassaProvider",
        {
            "login": ROBOKASSA_LOGIN,
            "password1": ROBOKASSA_PASSWORD1,
            "password2": ROBOKASSA_PASSWORD2,
            "hash_algorithm": ROBOKASSA_HASH,
            "test_mode": ROBOKASSA_TEST_MODE,
        },
    )
if FREEKASSA_MERCHANT_ID and FREEKASSA_SECRET1 and FREEKASSA_SECRET2:
    BILLING_PROVIDERS["freekassa"] = (
        "billing.providers.freekassa.FreeKassaProvider",
        {
            "merchant_id": FREEKASSA_MERCHANT_ID,
            "secret1": FREEKASSA_SECRET1,
            "secret2": FREEKASSA_SECRET2,
            "check_ip": FREEKASSA_CHECK_IP,
        },
    )
if YOOKASSA_SHOP_ID and YOOKASSA_SECRET_KEY:
    BILLING_PROVIDERS["yookassa"] = (
        "billing.providers.yookassa.YooKassaProvider",
        {
            "shop_id": YOOKASSA_SHOP_ID,
            "secret_key": YOOKASSA_SECRET_KEY,
            "return_url": YOOKASSA_RETURN_URL or f"{_PUBLIC_BASE_URL}/pay/success/",
            "timeout": YOOKASSA_TIMEOUT,
        },
    )
# Telegram Stars (currency XTR): the bot's own invoices, no credentials. On by default, but
# offered only for tariffs with a Stars price (Tariff.price_stars); docs/payments.md
# "Telegram Stars".
TELEGRAM_STARS_ENABLED = env.bool("TELEGRAM_STARS_ENABLED", default=True)
if TELEGRAM_STARS_ENABLED:
    BILLING_PROVIDERS["stars"] = ("billing.providers.stars.StarsProvider", {})
# Rejected notifications (bad signature, unknown order, ...) one address may send per
# minute before it gets 429. Only rejects count, per sender address, and the providers'
# published addresses are exempt: a prober can only ever block itself. 0 switches it off.
WEBHOOK_REJECTS_PER_MINUTE = env.int("WEBHOOK_REJECTS_PER_MINUTE", default=30)
