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
from django.db import transaction
from django.utils import translation
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
    AppBalancePaidSerializer,
    AppBalanceSerializer,
    AppBuyOptionsSerializer,
    AppBuyQuerySerializer,
    AppCheckoutRequestSerializer,
    AppCheckoutSerializer,
    AppDeviceRemovedSerializer,
    AppFreeRequestSerializer,
    AppFreeSerializer,
    AppLanguageSerializer,
    AppPaymentStateSerializer,
    AppProfileSerializer,
    AppPromoOfferSerializer,
    AppPromoQuerySerializer,
    AppReferralSerializer,
    AppSubscriptionCardSerializer,
    AppSubscriptionDetailSerializer,
)
from billing.services.ledger import BALANCE_CURRENCY
from billing.services.stars import stars_invoice_link
from core.exceptions import ApplicationError
from notifications.texts import support_url
from subscriptions.services.devices import device_remove
from telegram_bot.bot.balance_screens import (
    balance_pay,
    balance_screen_get,
    kind_label,
    referral_screen_get,
)
from telegram_bot.bot.promo import promo_offer_get, promo_purchase_free
from telegram_bot.bot.selectors import (
    balance_pays,
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
            "balance": customer.balance,
            "balance_currency": BALANCE_CURRENCY,
        }
    ).data


class ProfileApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_profile",
        summary="My profile",
        description="The customer the initData names (registered on first use, as /start "
        "does), their language, balance and the support contact.",
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
        "(or, with several, `choices` asks which). `balance_tariffs`: those the balance "
        'pays for (checkout with provider "balance").',
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
        balance = self.customer.balance
        body = {
            **{f.name: getattr(options, f.name) for f in dataclasses.fields(options)},
            "balance": balance,
            "balance_tariffs": [
                t.id
                for t in options.tariffs
                if balance_pays(balance=balance, price=t.price, currency=t.currency)
            ],
        }
        return Response(AppBuyOptionsSerializer(body).data)


class CheckoutApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_checkout",
        summary="Check out",
        description="The pending payment of a tariff (renewing `subscription`, or a new "
        "subscription) with a provider, and the link that pays it: the bot's checkout "
        "(`checkout_payment_get`), so a payment still payable is handed out again. Once the "
        "provider confirms it, the subscription is created or extended and the bot sends "
        'the keys. Provider "stars": `url` is a Telegram invoice link (`createInvoiceLink`) '
        "for Telegram.WebApp.openInvoice (the bot is told when it is paid). Provider "
        '"balance": no link; pay it with `payments/<id>/pay-from-balance/`. '
        "`promo_code` prices it as the bot's promo code does (refused: 400 `rejected` with "
        "the reason in the customer's language); a code that makes it free is taken with "
        "`checkout/free/`.",
        request=AppCheckoutRequestSerializer,
        examples=[
            ex.request(
                "renew",
                {
                    "tariff": 3,
                    "provider": "robokassa",
                    "subscription": 7,
                    "country": "",
                    "promo_code": "",
                },
            ),
            ex.request("from the balance, with a code", ex.CHECKOUT_BALANCE_REQUEST),
            ex.one("a payment link", ex.CHECKOUT),
            ex.one("from the balance", ex.CHECKOUT_BALANCE),
        ],
        responses={
            200: ok(AppCheckoutSerializer, "The payment link."),
            **ex.errors(
                invalid={"tariff": ["This field is required."]},
                rejected="This promo code is not valid for this tariff.",
            ),
        },
    )
    def post(self, request):
        body = AppCheckoutRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            checkout = checkout_start(
                customer=self.customer,
                tariff_id=body.validated_data["tariff"],
                provider=body.validated_data["provider"],
                subscription_id=body.validated_data.get("subscription"),
                country=body.validated_data["country"],
                promo_code=body.validated_data["promo_code"],
            )
            if checkout.invoice is not None:
                # Telegram Stars: a link to the bot's invoice, which the Mini App opens
                # (web_app_open_invoice); a refused link rolls the new payment back.
                link = stars_invoice_link(invoice=checkout.invoice, language=self.customer.language)
                checkout = dataclasses.replace(checkout, url=link)
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


class PayFromBalanceApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_payment_pay_from_balance",
        summary="Pay from my balance",
        description='Pays a pending "balance" checkout from the balance, as the bot\'s '
        "confirmation does (`payment_pay_from_balance`): at most once (again: "
        "`credited=false`, nothing charged). A balance short of the price, an expired "
        "payment: 400 `rejected`, nothing changes.",
        request=None,
        examples=[ex.one("paid", ex.BALANCE_PAID)],
        responses={
            200: ok(AppBalancePaidSerializer, "Paid; the balance now."),
            **ex.errors(
                not_found=True,
                rejected="Not enough money on your balance: 100.00 ₽, needed 299.00 ₽.",
            ),
        },
    )
    def post(self, request, payment_id: int):
        if customer_payment_get(customer=self.customer, payment_id=payment_id) is None:
            raise _not_found()
        paid = balance_pay(customer=self.customer, payment_id=payment_id)
        payment = customer_payment_get(customer=self.customer, payment_id=payment_id)
        body = {
            "payment": payment,
            "credited": paid.credited,
            "balance": paid.balance,
            "expires_at": paid.expires_at,
        }
        return Response(AppBalancePaidSerializer(body).data)


class BalanceApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_balance",
        summary="My balance",
        description="The balance and its latest ledger entries, newest first (the bot's "
        "balance screen).",
        examples=[ex.one("a balance", ex.BALANCE)],
        responses={200: ok(AppBalanceSerializer, "The balance."), **ex.errors()},
    )
    def get(self, request):
        screen = balance_screen_get(customer=self.customer)
        with translation.override(self.customer.language):
            entries = [
                {
                    "id": entry.pk,
                    "created_at": entry.created_at,
                    "amount": entry.amount,
                    "balance_after": entry.balance_after,
                    "kind": entry.kind,
                    "kind_label": kind_label(entry.kind),
                }
                for entry in screen.entries
            ]
        body = {"balance": screen.balance, "currency": BALANCE_CURRENCY, "entries": entries}
        return Response(AppBalanceSerializer(body).data)


class ReferralApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_referral",
        summary="My invitations",
        description="The invite link, the reward rules as set now and what my invitations "
        'brought (the bot\'s invite screen; docs/payments.md "Referral rewards").',
        examples=[ex.one("invitations", ex.REFERRAL)],
        responses={200: ok(AppReferralSerializer, "The invite link and figures."), **ex.errors()},
    )
    def get(self, request):
        screen = referral_screen_get(customer=self.customer)
        return Response(AppReferralSerializer(dataclasses.asdict(screen)).data)


class PromoApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_promo_offer",
        summary="What a promo code does to a tariff",
        description="The price of `tariff` with `code`, or why the code does not apply (the "
        "bot's promo note): nothing is reserved until the checkout.",
        parameters=[
            OpenApiParameter("code", str, required=True),
            OpenApiParameter("tariff", int, required=True),
        ],
        examples=[ex.one("a discount", ex.PROMO_OFFER)],
        responses={
            200: ok(AppPromoOfferSerializer, "The code's offer."),
            **ex.errors(not_found=True, invalid={"code": ["This field is required."]}),
        },
    )
    def get(self, request):
        query = AppPromoQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        offer = promo_offer_get(
            customer=self.customer,
            code=query.validated_data["code"],
            tariff_id=query.validated_data["tariff"],
        )
        if offer is None:
            raise _not_found()
        body = {
            **dataclasses.asdict(offer),
            "applies": offer.applies,
            "free": offer.free,
            "balance_pays": offer.applies
            and balance_pays(
                balance=self.customer.balance, price=offer.price, currency=offer.currency
            ),
        }
        return Response(AppPromoOfferSerializer(body).data)


class FreeCheckoutApi(AppView):
    @extend_schema(
        tags=TAG,
        operation_id="app_checkout_free",
        summary="Take a purchase a promo code makes free",
        description='The bot\'s "Get it free": the tariff (renewing `subscription`, or a '
        "new subscription) without a payment, when `promo_code` brings its price to 0 "
        "(`promo_grant`); the code is spent.",
        request=AppFreeRequestSerializer,
        examples=[
            ex.request(
                "free",
                {"tariff": 3, "subscription": None, "country": "", "promo_code": "FREEMONTH"},
            ),
            ex.one("granted", ex.FREE),
        ],
        responses={
            200: ok(AppFreeSerializer, "The subscription it made or extended."),
            **ex.errors(
                invalid={"promo_code": ["This field is required."]},
                rejected="You have already used this promo code.",
            ),
        },
    )
    def post(self, request):
        body = AppFreeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = promo_purchase_free(
            customer=self.customer,
            code=body.validated_data["promo_code"],
            tariff_id=body.validated_data["tariff"],
            subscription_id=body.validated_data.get("subscription"),
            country=body.validated_data["country"],
        )
        if entry.error:
            raise ApplicationError(entry.error, {"promo_code": entry.code})
        return Response(AppFreeSerializer(entry).data)
