from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from api.miniapp import miniapp_page
from console import admin_views, analytics_views
from console import views as console_views
from core import views as core_views
from notifications.texts import bot_url
from subscriptions import views as subscription_views

admin.site.site_header = _("vpnsite console")
admin.site.site_title = "vpnsite"
admin.site.index_title = _("Operations")
# "View site" opens the shop, which is the bot: the site has no front page ("/" is a 404).
# Without TELEGRAM_BOT_USERNAME the link is left out (an empty site_url hides it).
admin.site.site_url = lazy(bot_url, str)()

# Every 404 (/sub/<unknown token> included) carries Cache-Control: no-store.
handler404 = "core.views.page_not_found"

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", console_views.metrics, name="metrics"),
    path("sub/<str:token>", subscription_views.subscription_feed, name="subscription-feed"),
    path(
        "sub/<str:token>/open/<str:app>",
        subscription_views.subscription_open_app,
        name="subscription-open-app",
    ),
    path(
        f"{settings.ADMIN_URL}system/worker-ping/",
        admin.site.admin_view(admin_views.worker_ping),
        name="admin-worker-ping",
    ),
    path(
        f"{settings.ADMIN_URL}analytics/",
        admin.site.admin_view(analytics_views.analytics_view),
        name="admin-analytics",
    ),
    path(settings.ADMIN_URL, admin.site.urls),
    # The console's language switch (unfold's SHOW_LANGUAGES posts to set_language).
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("api.urls")),
    path("api/app/v1/", include("api.urls_app")),
    path("app/", miniapp_page, name="miniapp"),
    path("", include("billing.urls")),
]
