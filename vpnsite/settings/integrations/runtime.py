"""Runtime settings: values operators change in the console without a restart (django-constance,
database backend). Each default comes from the environment, so a value never saved in the console
follows the environment; read them only through ``core.runtime_settings`` (docs/console.md)."""

from vpnsite.env import env

from .subscriptions import SUBSCRIPTION_FEED_TITLE

# Happ shows at most 25 characters of a profile title and an announce of up to 200
# (https://www.happ.su/main/dev-docs/meta-info: profile-title, announce).
FEED_TITLE_MAX = 25
FEED_ANNOUNCE_MAX = 200

CONSTANCE_BACKEND = "constance.backends.database.DatabaseBackend"
# Operators with the permission may change them (the "operators" group has it), not only
# superusers.
CONSTANCE_SUPERUSER_ONLY = False
CONSTANCE_ADDITIONAL_FIELDS = {
    "feed_title": [
        "django.forms.CharField",
        {"max_length": FEED_TITLE_MAX, "required": True, "strip": True},
    ],
    "feed_announce": [
        "django.forms.CharField",
        {
            "max_length": FEED_ANNOUNCE_MAX,
            "required": False,
            "strip": True,
            "widget": "django.forms.Textarea",
            "widget_kwargs": {"attrs": {"rows": 3, "maxlength": FEED_ANNOUNCE_MAX}},
        },
    ],
}
CONSTANCE_CONFIG = {
    "FEED_TITLE": (
        SUBSCRIPTION_FEED_TITLE,
        f"Profile title shown in client apps (Happ shows at most {FEED_TITLE_MAX} characters).",
        "feed_title",
    ),
    "FEED_ANNOUNCE": (
        env("SUBSCRIPTION_FEED_ANNOUNCE", default=""),
        (
            f"A notice client apps show above the servers (Happ, Hiddify, v2RayTun; at most "
            f"{FEED_ANNOUNCE_MAX} characters; empty: none). A subscription that cannot be used "
            "announces why instead."
        ),
        "feed_announce",
    ),
}
CONSTANCE_CONFIG_FIELDSETS = {"Subscription feed": ("FEED_TITLE", "FEED_ANNOUNCE")}
