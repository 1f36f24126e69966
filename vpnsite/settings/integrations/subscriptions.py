"""Subscriptions: trial and feed."""

from vpnsite.env import env

TRIAL_TARIFF_ID = env.int("TRIAL_TARIFF_ID", default=0)
SUBSCRIPTION_FEED_UPDATE_HOURS = env.int("SUBSCRIPTION_FEED_UPDATE_HOURS", default=12)
SUBSCRIPTION_FEED_TITLE = env("SUBSCRIPTION_FEED_TITLE", default="vpnsite")
