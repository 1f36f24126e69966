from django.urls import path

from billing import apis, views

app_name = "billing"

urlpatterns = [
    path(
        "api/payments/robokassa/result/",
        apis.RobokassaResultApi.as_view(),
        name="robokassa-result",
    ),
    path(
        "api/payments/freekassa/notify/",
        apis.FreeKassaNotifyApi.as_view(),
        name="freekassa-notify",
    ),
    path(
        "api/payments/yookassa/notify/",
        apis.YooKassaNotifyApi.as_view(),
        name="yookassa-notify",
    ),
    path("pay/success/", views.pay_success, name="pay-success"),
    path("pay/fail/", views.pay_fail, name="pay-fail"),
]
