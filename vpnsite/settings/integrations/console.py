"""The console's theme: django-unfold (https://unfoldadmin.com/docs/configuration/settings/;
docs/console.md "Theme"). Values given as dotted paths are functions of the request in
console/theme.py: the sidebar by task, and the header, title and "View site" link the admin
site already has (vpnsite/urls.py)."""

from django.templatetags.static import static

UNFOLD = {
    "SITE_HEADER": "console.theme.site_header",
    "SITE_TITLE": "console.theme.site_title",
    "SITE_URL": "console.theme.site_url",
    "SITE_SYMBOL": "vpn_lock",
    # The operator picks Russian or English in the account menu (Django's set_language view,
    # "i18n/" in vpnsite/urls.py); until then the browser's Accept-Language decides.
    "SHOW_LANGUAGES": True,
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": True,
    # On every console page, after unfold's own files (the Content-Security-Policy allows no
    # inline style or script: settings SECURE_CSP_CONSOLE).
    "STYLES": [lambda request: static("core/console.css")],
    "SCRIPTS": [lambda request: static("core/console.js")],
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": "console.theme.sidebar_navigation",
    },
}
