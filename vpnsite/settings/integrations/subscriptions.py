"""Subscriptions: trial, feed and expiry reminders."""

from vpnsite.env import env

TRIAL_TARIFF_ID = env.int("TRIAL_TARIFF_ID", default=0)
SUBSCRIPTION_FEED_UPDATE_HOURS = env.int("SUBSCRIPTION_FEED_UPDATE_HOURS", default=12)
SUBSCRIPTION_FEED_TITLE = env("SUBSCRIPTION_FEED_TITLE", default="vpnsite")
# Days before expiry when a reminder goes out, each once per expiry ("3,1"; empty: none).
SUBSCRIPTION_REMINDER_DAYS = [
    int(days) for days in env.list("SUBSCRIPTION_REMINDER_DAYS", default=["3", "1"]) if days
]
# Feed requests with an unknown token per client address per minute before 429 (slows token
# guessing); requests with a valid token never count, whatever their address.
FEED_REQUESTS_PER_MINUTE = env.int("FEED_REQUESTS_PER_MINUTE", default=60)
# Devices a subscriber may remove from a subscription in the bot per 24 hours (stops the limit
# by hardware id from being rotated among many people); 0 switches the limit off.
SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY = env.int("SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY", default=3)
