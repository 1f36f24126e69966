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
# Rejected notifications (bad signature, unknown order, ...) one address may send per
# minute before it gets 429. Only rejects count, per sender address, and the providers'
# published addresses are exempt: a prober can only ever block itself. 0 switches it off.
WEBHOOK_REJECTS_PER_MINUTE = env.int("WEBHOOK_REJECTS_PER_MINUTE", default=30)
