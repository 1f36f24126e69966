"""/api/app/v1/: the subscriber API behind the Mini App (docs/api.md, "Subscriber API and
Mini App"). A customer, authenticated by Telegram's initData, sees and changes only their
own data, through the very selectors and services of the bot's screens
(``telegram_bot.bot.selectors`` / ``services``, ``accounts.services``,
``subscriptions.services.devices``): no rule is written here. An id that is not the
customer's is 404, whatever it is.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Customer
from accounts.services import customer_language_set
from api import examples_app as ex
from api.app_auth import IsSubscriber, SubscriberRateThrottle, TelegramInitDataAuthentication
from api.exceptions import api_exception_handler
from api.schema import ok
from api.selectors import customer_payment_get
from api.serializers_app import (
    AppBuyOptionsSerializer,
    AppBuyQuerySerializer,
    AppCheckoutRequestSerializer,
    AppCheckoutSerializer,
    AppDeviceRemovedSerializer,
    AppLanguageSerializer,
    AppPaymentStateSerializer,
    AppProfileSerializer,
    AppSubscriptionCardSerializer,
    AppSubscriptionDetailSerializer,
)
from billing.providers.stars import STARS
from core.exceptions import ApplicationError
from notifications.texts import support_url
from subscriptions.services.devices import device_remove
from telegram_bot.bot.selectors import (
    buy_options_get,
    subscription_cards_get,
    subscription_devices_get,
    subscription_keys_get,
)
from telegram_bot.bot.services import checkout_start

TAG = ["Subscriber (Mini App)"]
ACTOR_LABEL = "miniapp"


class AppView(APIView):
    authentication_classes = [TelegramInitDataAuthentication]
    permission_classes = [IsSubscriber]
    throttle_classes = [SubscriberRateThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]

    def get_exception_handler(self):
        return api_exception_handler

    def dispatch(self, request, *args, **kwargs):
        # DRF's own messages in English; the services answer in the customer's language.
        with translation.override("en"):
            return super().dispatch(request, *args, **kwargs)

    @property
    def customer(self) -> Customer:
        return self.request.user


def _profile(customer: Customer) -> dict:
    return AppProfileSerializer(
        {
            "telegram_id": customer.telegram_id,
            "username": customer.username,
            "first_name": customer.first_name,
            "language": customer.language,
            "support_url": support_url(),
            "bot_username": settings.TELEGRAM_BOT_USERNAME,
        }
    ).data


class ProfileApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_profile",
        summary="My profile",
        description="The customer the initData names (registered on first use, as /start "
        "does), their language and the support contact.",
        examples=[ex.one("a profile", ex.PROFILE)],
        responses={200: ok(AppProfileSerializer, "The profile."), **ex.errors()},
    )
    def get(self, request):
        return Response(_profile(self.customer))


class LanguageApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_language_set",
        summary="Change my language",
        description="Russian or English for the app and the bot alike (the bot's /language: "
        "Telegram's language no longer overrides it).",
        request=AppLanguageSerializer,
        examples=[ex.request("English", {"language": "en"}), ex.one("the profile", ex.PROFILE)],
        responses={
            200: ok(AppProfileSerializer, "The profile in the new language."),
            **ex.errors(invalid={"language": ['"de" is not a valid choice.']}),
        },
    )
    def post(self, request):
        body = AppLanguageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        customer = customer_language_set(
            customer=self.customer, language=body.validated_data["language"]
        )
        return Response(_profile(customer))


class SubscriptionsApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_subscriptions_list",
        summary="My subscriptions",
        description="The customer's subscriptions (cancelled ones left out), latest expiry "
        "first, as the bot's /subscriptions shows them: expiry, traffic, devices, the "
        "subscription URL and a one-tap add-to-app link per app.",
        examples=[ex.one("one subscription", ex.CARD)],
        responses={
            200: ok(AppSubscriptionCardSerializer(many=True), "Every subscription."),
            **ex.errors(),
        },
    )
    def get(self, request):
        cards = subscription_cards_get(customer=self.customer)
        return Response(AppSubscriptionCardSerializer(cards, many=True).data)


def _not_found():
    return exceptions.NotFound()


class SubscriptionApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_subscription_retrieve",
        summary="One of my subscriptions",
        description="A subscription's card, its keys (vless links, healthy nodes first), its "
        "devices (seen last first) and how many of them may be removed now.",
        examples=[ex.one("a subscription", ex.DETAIL)],
        responses={
            200: ok(AppSubscriptionDetailSerializer, "The subscription."),
            **ex.errors(not_found=True),
        },
    )
    def get(self, request, subscription_id: int):
        keys = subscription_keys_get(customer=self.customer, subscription_id=subscription_id)
        devices = subscription_devices_get(customer=self.customer, subscription_id=subscription_id)
        if keys is None or devices is None:
            raise _not_found()
        body = {
            "card": keys.card,
            "keys": keys.links,
            "devices": devices.devices,
            "removals": devices.removals,
        }
        return Response(AppSubscriptionDetailSerializer(body).data)


class DeviceApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_device_remove",
        summary="Remove a device",
        description="Frees a device's place, as the bot's devices screen does: at most "
        "SUBSCRIPTION_DEVICE_REMOVALS_PER_DAY a day per subscription (400 `rejected` with "
        "the next time), audited.",
        examples=[ex.one("removed", {"label": "Pixel 8", "removals": ex.REMOVALS})],
        responses={
            200: ok(AppDeviceRemovedSerializer, "Removed; the removals left."),
            **ex.errors(
                not_found=True,
                rejected="You can remove 3 devices a day. The next one is possible after …",
            ),
        },
    )
    def delete(self, request, subscription_id: int, device_id: int):
        devices = subscription_devices_get(customer=self.customer, subscription_id=subscription_id)
        if devices is None or devices.device(device_id) is None:
            raise _not_found()
        removed = device_remove(
            customer=self.customer,
            subscription_id=subscription_id,
            device_id=device_id,
            actor_label=ACTOR_LABEL,
        )
        return Response(AppDeviceRemovedSerializer(removed).data)


class TariffsApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_tariffs",
        summary="What I can buy",
        description="Tariffs on sale and the configured payment methods, as the bot's /buy "
        "offers them: with `subscription` a renewal of it (only tariffs with its limits), "
        "with `new=true` a new subscription, else the running paid subscription's renewal "
        "(or, with several, `choices` asks which).",
        parameters=[
            OpenApiParameter("subscription", int, description="Renew this subscription."),
            OpenApiParameter("new", bool, description="A new subscription."),
        ],
        examples=[ex.one("a renewal", ex.BUY_OPTIONS)],
        responses={
            200: ok(AppBuyOptionsSerializer, "Tariffs and payment methods."),
            **ex.errors(invalid={"subscription": ["A valid integer is required."]}),
        },
    )
    def get(self, request):
        query = AppBuyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = buy_options_get(
            customer=self.customer,
            subscription_id=query.validated_data.get("subscription"),
            new=query.validated_data["new"],
        )
        # Telegram Stars are paid by an invoice in the bot's chat, not by a link.
        options = dataclasses.replace(
            options, providers=tuple(p for p in options.providers if p.code != STARS)
        )
        return Response(AppBuyOptionsSerializer(options).data)


class CheckoutApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_checkout",
        summary="Check out",
        description="The pending payment of a tariff (renewing `subscription`, or a new "
        "subscription) with a provider, and the link that pays it: the bot's checkout "
        "(`checkout_payment_get`), so a payment still payable is handed out again. Once the "
        "provider confirms it, the subscription is created or extended and the bot sends "
        "the keys.",
        request=AppCheckoutRequestSerializer,
        examples=[
            ex.request(
                "renew",
                {"tariff": 3, "provider": "robokassa", "subscription": 7, "country": ""},
            ),
            ex.one("a payment link", ex.CHECKOUT),
        ],
        responses={
            200: ok(AppCheckoutSerializer, "The payment link."),
            **ex.errors(
                invalid={"tariff": ["This field is required."]},
                rejected="This payment method is not available.",
            ),
        },
    )
    def post(self, request):
        body = AppCheckoutRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data["provider"] == STARS:
            with translation.override(self.customer.language):
                raise ApplicationError(
                    _("Telegram Stars are paid in the bot's chat: choose them there."),
                    {"provider": STARS},
                )
        checkout = checkout_start(
            customer=self.customer,
            tariff_id=body.validated_data["tariff"],
            provider=body.validated_data["provider"],
            subscription_id=body.validated_data.get("subscription"),
            country=body.validated_data["country"],
        )
        return Response(AppCheckoutSerializer(checkout).data)


class PaymentApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_payment_retrieve",
        summary="One of my payments",
        description="Whether a checkout's payment was paid yet, and what it bought: the app "
        "asks while the customer pays.",
        examples=[ex.one("paid", ex.PAYMENT)],
        responses={
            200: ok(AppPaymentStateSerializer, "The payment."),
            **ex.errors(not_found=True),
        },
    )
    def get(self, request, payment_id: int):
        payment = customer_payment_get(customer=self.customer, payment_id=payment_id)
        if payment is None:
            raise _not_found()
        return Response(AppPaymentStateSerializer(payment).data)
