"""What the subscriber API (/api/app/v1/) shows and accepts: the bot's own screens
(``telegram_bot.bot.selectors`` dataclasses) as JSON. Money is a decimal string with its
currency; times are ISO 8601 with their offset; traffic in bytes."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Language
from billing.models import PaymentStatus
from subscriptions.deeplinks import APPS, BOT_APPS, app_open_url, deeplink_build


class AppProfileSerializer(serializers.Serializer):
    telegram_id = serializers.IntegerField()
    username = serializers.CharField(help_text="Without @; may be empty.")
    first_name = serializers.CharField()
    language = serializers.ChoiceField(Language.choices, help_text="What the app speaks.")
    support_url = serializers.URLField(
        allow_null=True, help_text="The support contact as a link (the bot's button), or null."
    )
    bot_username = serializers.CharField(help_text="The bot's @username without @; may be empty.")
    balance = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="The balance, in balance_currency."
    )
    balance_currency = serializers.CharField()


class AppLanguageSerializer(serializers.Serializer):
    language = serializers.ChoiceField(Language.choices)


class AppLinkSerializer(serializers.Serializer):
    app = serializers.CharField(help_text="happ, v2raytun, hiddify, …")
    name = serializers.CharField()
    deeplink = serializers.CharField(help_text="The app's own scheme (subscriptions/deeplinks.py).")
    open_url = serializers.URLField(
        help_text="An https page that opens the deep link: what Telegram's in-app browser "
        "can follow (the bot's buttons use it too)."
    )


def app_links(feed_url: str) -> list[dict]:
    """Every app's one-tap link for a subscription URL, in the bot's order."""
    return [
        {
            "app": app,
            "name": APPS[app].name,
            "deeplink": deeplink_build(app=app, feed_url=feed_url),
            "open_url": app_open_url(feed_url=feed_url, app=app),
        }
        for app in BOT_APPS
    ]


class AppSubscriptionCardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField(help_text="The customer's own number, what the bot shows.")
    tariff_name = serializers.CharField(help_text="In the customer's language.")
    status = serializers.ChoiceField(
        ["active", "expired", "suspended"],
        help_text="An active subscription past its end is expired.",
    )
    is_trial = serializers.BooleanField()
    running = serializers.BooleanField()
    over_traffic = serializers.BooleanField()
    expires_at = serializers.DateTimeField()
    traffic_used_bytes = serializers.IntegerField()
    traffic_limit_bytes = serializers.IntegerField(help_text="0: unlimited.")
    traffic_reset = serializers.CharField(help_text="never, day, week or month.")
    traffic_reset_at = serializers.DateTimeField(allow_null=True)
    device_limit = serializers.IntegerField()
    hwid_device_limit = serializers.IntegerField(help_text="0: no limit by hardware id.")
    device_count = serializers.IntegerField()
    locations = serializers.ListField(child=serializers.CharField())
    feed_url = serializers.URLField(help_text="The subscription URL to add to a VPN app.")
    apps = serializers.SerializerMethodField()

    @extend_schema_field(AppLinkSerializer(many=True))
    def get_apps(self, card) -> list[dict]:
        return app_links(card.feed_url)


class AppKeySerializer(serializers.Serializer):
    place = serializers.CharField()
    link = serializers.CharField(help_text="A vless:// link.")


class AppDeviceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField(help_text="As the app reported it: show it as text.")
    details = serializers.CharField()
    last_seen_at = serializers.DateTimeField()


class AppRemovalsSerializer(serializers.Serializer):
    limit = serializers.IntegerField(help_text="Removals allowed in 24 hours; 0: no limit.")
    used = serializers.IntegerField()
    left = serializers.IntegerField(allow_null=True, help_text="null: no limit.")
    next_at = serializers.DateTimeField(allow_null=True)


class AppSubscriptionDetailSerializer(serializers.Serializer):
    card = AppSubscriptionCardSerializer()
    keys = AppKeySerializer(many=True)
    devices = AppDeviceSerializer(many=True)
    removals = AppRemovalsSerializer()


class AppDeviceRemovedSerializer(serializers.Serializer):
    label = serializers.CharField()
    removals = AppRemovalsSerializer()


class AppTariffOfferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    duration_days = serializers.IntegerField()
    device_limit = serializers.IntegerField()
    traffic_limit_gb = serializers.IntegerField(help_text="0: unlimited.")
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()


class AppProviderSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField(
        help_text='What the customer pays with, then the provider: "💳 Card, SBP · Robokassa".'
    )


class AppRenewalTargetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    tariff_name = serializers.CharField()
    expires_at = serializers.DateTimeField()
    running = serializers.BooleanField()


class AppBuyOptionsSerializer(serializers.Serializer):
    tariffs = AppTariffOfferSerializer(many=True)
    providers = AppProviderSerializer(many=True)
    target = AppRenewalTargetSerializer(
        allow_null=True, help_text="The subscription a purchase renews; null: a new one."
    )
    refused = serializers.CharField(
        help_text='Why a renewal asked for became a new purchase: "", "trial" or "gone".'
    )
    choices = AppRenewalTargetSerializer(
        many=True,
        help_text="Several running subscriptions and none named: renew which? (no tariffs)",
    )
    balance = serializers.DecimalField(max_digits=12, decimal_places=2)
    balance_tariffs = serializers.ListField(
        child=serializers.IntegerField(),
        help_text='The tariffs the balance pays for (provider "balance"), at their price.',
    )


class AppBuyQuerySerializer(serializers.Serializer):
    subscription = serializers.IntegerField(required=False, min_value=1)
    new = serializers.BooleanField(required=False, default=False)


class AppPurchaseSerializer(serializers.Serializer):
    tariff = serializers.IntegerField(min_value=1)
    subscription = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="Renew it; absent: a new one."
    )
    country = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2,
        default="",
        help_text="A new subscription's country (ISO code its tariff offers); empty: any.",
    )
    promo_code = serializers.CharField(
        required=False, allow_blank=True, max_length=64, default="", help_text="Optional."
    )


class AppCheckoutRequestSerializer(AppPurchaseSerializer):
    provider = serializers.CharField(
        max_length=32,
        help_text='A code of `tariffs/` providers, or "balance" (then pay it with '
        "`payments/<id>/pay-from-balance/`).",
    )


class AppFreeRequestSerializer(AppPurchaseSerializer):
    promo_code = serializers.CharField(max_length=64, help_text="The code that makes it free.")


class AppCheckoutSerializer(serializers.Serializer):
    payment_id = serializers.IntegerField()
    payment_number = serializers.IntegerField(help_text="The customer's own: what messages show.")
    url = serializers.CharField(help_text='Open it to pay; "" for the balance (confirm it).')
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    provider_label = serializers.CharField()
    tariff = AppTariffOfferSerializer()
    target = AppRenewalTargetSerializer(allow_null=True)
    expires_after = serializers.DateTimeField(allow_null=True)
    valid_minutes = serializers.IntegerField()


class AppPaymentStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(PaymentStatus.choices)
    subscription = serializers.IntegerField(
        allow_null=True, source="subscription_id", help_text="What it bought, once paid."
    )
    paid_at = serializers.DateTimeField(allow_null=True)


class AppBalancePaidSerializer(serializers.Serializer):
    payment = AppPaymentStateSerializer()
    credited = serializers.BooleanField(
        help_text="False: it had been paid already (nothing charged again)."
    )
    balance = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Now.")
    expires_at = serializers.DateTimeField(help_text="The subscription's end now.")


class AppBalanceEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Negative: money taken."
    )
    balance_after = serializers.DecimalField(max_digits=12, decimal_places=2)
    kind = serializers.CharField(help_text="top_up, purchase, auto_renew, adjustment, …")
    kind_label = serializers.CharField(help_text="In the customer's language.")


class AppBalanceSerializer(serializers.Serializer):
    balance = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    entries = AppBalanceEntrySerializer(many=True, help_text="The latest, newest first.")


class AppReferralStatsSerializer(serializers.Serializer):
    invited = serializers.IntegerField(help_text="Customers registered through the link.")
    paid = serializers.IntegerField(help_text="Of them, how many paid real money.")
    earned = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Roubles onto the balance, less take-backs."
    )
    days = serializers.IntegerField(help_text="Days added to my subscriptions, less take-backs.")


class AppReferralSerializer(serializers.Serializer):
    link = serializers.CharField(help_text='The invite link; "" when the bot has no username.')
    percent = serializers.IntegerField(help_text="Percent of an invitee's payments I get; 0: off.")
    days = serializers.IntegerField(help_text="Days I get per invitee's payment; 0: off.")
    every = serializers.BooleanField(help_text="For every payment (else the first only).")
    stats = AppReferralStatsSerializer()


class AppPromoQuerySerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    tariff = serializers.IntegerField(min_value=1)


class AppPromoOfferSerializer(serializers.Serializer):
    code = serializers.CharField()
    applies = serializers.BooleanField()
    error = serializers.CharField(help_text="Why it does not apply (customer's language).")
    price = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="With the code.")
    price_before = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    days = serializers.IntegerField(help_text="Extra days it adds to the purchase.")
    free = serializers.BooleanField(help_text="Take it with `checkout/free/`.")
    balance_pays = serializers.BooleanField(help_text="The balance pays the price with it.")


class AppFreeSerializer(serializers.Serializer):
    subscription = serializers.IntegerField(source="subscription_id")
    title = serializers.CharField()
    expires_at = serializers.DateTimeField()
    days = serializers.IntegerField()
