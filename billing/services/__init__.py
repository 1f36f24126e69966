"""Billing writes, one module per topic: payments, webhooks, webhook_events, messages."""
