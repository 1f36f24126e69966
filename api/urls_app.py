"""/api/app/v1/: the subscriber API behind the Mini App (docs/api.md)."""

from django.urls import path, re_path

from api.apis import app
from api.exceptions import api_not_found

app_name = "app-api"

urlpatterns = [
    path("me/", app.ProfileApi.as_view(), name="profile"),
    path("me/language/", app.LanguageApi.as_view(), name="language"),
    path("balance/", app.BalanceApi.as_view(), name="balance"),
    path("promo/", app.PromoApi.as_view(), name="promo"),
    path("referral/", app.ReferralApi.as_view(), name="referral"),
    path("subscriptions/", app.SubscriptionsApi.as_view(), name="subscriptions"),
    path(
        "subscriptions/<int:subscription_id>/",
        app.SubscriptionApi.as_view(),
        name="subscription",
    ),
    path(
        "subscriptions/<int:subscription_id>/devices/<int:device_id>/",
        app.DeviceApi.as_view(),
        name="device",
    ),
    path("tariffs/", app.TariffsApi.as_view(), name="tariffs"),
    path("checkout/", app.CheckoutApi.as_view(), name="checkout"),
    path("checkout/free/", app.FreeCheckoutApi.as_view(), name="checkout-free"),
    path("payments/<int:payment_id>/", app.PaymentApi.as_view(), name="payment"),
    path(
        "payments/<int:payment_id>/pay-from-balance/",
        app.PayFromBalanceApi.as_view(),
        name="pay-from-balance",
    ),
    re_path(r"^.*$", api_not_found, name="not-found"),
]
