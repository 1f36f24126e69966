from django.conf import settings
from django.contrib import admin
from django.urls import path

from core import views as core_views

admin.site.site_header = "vpnsite console"
admin.site.site_title = "vpnsite"
admin.site.index_title = "Operations"

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path(settings.ADMIN_URL, admin.site.urls),
]
