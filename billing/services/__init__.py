"""Billing writes, one module per topic:

- ``payments``: create a payment and its checkout link, credit it (``payment_mark_paid``),
  refund it, record a manual payment, expire unpaid ones;
- ``webhooks``: the protocol for one provider notification (store first, then verify,
  credit and record the outcome; reprocess a stored one);
- ``webhook_events``: the webhook log (the raw delivery's row, its outcome, dismissal,
  retention);
- ``messages``: what a payment tells the customer and the admins.

The public names are re-exported here, so ``from billing.services import payment_create``
works; patch a name where it is used (``billing.services.payments.subscription_extend``).
"""

from billing.services.messages import (
    KIND_PAYMENT_MISMATCH_ADMIN,
    KIND_PAYMENT_NEW_ADMIN,
    KIND_PAYMENT_PAID,
    KIND_PAYMENT_REFUNDED,
)
from billing.services.payments import (
    CENT,
    CREDITABLE_STATUSES,
    CREDITED_STATUSES,
    MANUAL_PROVIDER,
    PaymentCredit,
    amounts_equal,
    payment_checkout_url,
    payment_create,
    payment_manual_create,
    payment_mark_paid,
    payment_refund,
    payments_expire_pending,
)
from billing.services.webhook_events import (
    HEADER_NAME_MAX_LENGTH,
    HEADER_VALUE_MAX_LENGTH,
    HEADERS_DROPPED,
    HEADERS_MAX_CHARS,
    HEADERS_MAX_COUNT,
    SENSITIVE_HEADERS,
    WebhookRequest,
    webhook_event_dismiss,
    webhook_event_record,
    webhook_event_refuse,
    webhook_events_prune,
)
from billing.services.webhooks import (
    TRACEBACK_MAX_LENGTH,
    WEBHOOK_ERROR_MAX_LENGTH,
    WebhookReply,
    webhook_event_process,
    webhook_event_reprocess,
    webhook_receive,
)

__all__ = [
    "CENT",
    "CREDITABLE_STATUSES",
    "CREDITED_STATUSES",
    "HEADERS_DROPPED",
    "HEADERS_MAX_CHARS",
    "HEADERS_MAX_COUNT",
    "HEADER_NAME_MAX_LENGTH",
    "HEADER_VALUE_MAX_LENGTH",
    "KIND_PAYMENT_MISMATCH_ADMIN",
    "KIND_PAYMENT_NEW_ADMIN",
    "KIND_PAYMENT_PAID",
    "KIND_PAYMENT_REFUNDED",
    "MANUAL_PROVIDER",
    "SENSITIVE_HEADERS",
    "TRACEBACK_MAX_LENGTH",
    "WEBHOOK_ERROR_MAX_LENGTH",
    "PaymentCredit",
    "WebhookReply",
    "WebhookRequest",
    "amounts_equal",
    "payment_checkout_url",
    "payment_create",
    "payment_manual_create",
    "payment_mark_paid",
    "payment_refund",
    "payments_expire_pending",
    "webhook_event_dismiss",
    "webhook_event_process",
    "webhook_event_record",
    "webhook_event_refuse",
    "webhook_event_reprocess",
    "webhook_events_prune",
    "webhook_receive",
]
