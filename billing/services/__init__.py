"""Billing writes, one module per topic:

- ``payments``: create a payment and its checkout link, credit it (``payment_mark_paid``),
  refund it, record a manual payment, expire unpaid ones;
- ``webhooks``: the protocol for one provider notification (store first, then verify,
  credit and record the outcome; reprocess a stored one);
- ``webhook_events``: the webhook log (the raw delivery's row, its outcome, dismissal,
  retention);
- ``messages``: what a payment tells the customer and the admins.
"""
