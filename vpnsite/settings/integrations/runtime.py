"""Runtime settings: values operators change in the console without a restart (django-constance,
database backend). Each default comes from the environment, so a value never saved in the console
follows the environment; read them only through ``core.runtime_settings`` (docs/console.md)."""

from django.utils.translation import gettext_noop

from vpnsite.env import env

from .payments import REFERRAL_DAYS, REFERRAL_EVERY_PAYMENT, REFERRAL_PERCENT
from .subscriptions import SUBSCRIPTION_FEED_TITLE, SUBSCRIPTION_REMINDER_DAYS, TRIAL_TARIFF_ID
from .telegram import TELEGRAM_SUPPORT_CONTACT

# Happ shows at most 25 characters of a profile title and an announce of up to 200
# (https://www.happ.su/main/dev-docs/meta-info: profile-title, announce).
FEED_TITLE_MAX = 25
FEED_ANNOUNCE_MAX = 200
SUPPORT_CONTACT_MAX = 200

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
    "support_contact": [
        "django.forms.CharField",
        {"max_length": SUPPORT_CONTACT_MAX, "required": False, "strip": True},
    ],
    "trial_tariff": ["subscriptions.forms.TrialTariffField", {"required": False}],
    "reminder_days": ["core.forms.DaysListField", {"required": False, "strip": True}],
    "referral_percent": ["django.forms.IntegerField", {"min_value": 0, "max_value": 100}],
    "referral_days": ["django.forms.IntegerField", {"min_value": 0, "max_value": 365}],
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
CONSTANCE_CONFIG.update(
    {
        # Once TELEGRAM_SUPPORT_CONTACT; the environment's value stays the default.
        "SUPPORT_CONTACT": (
            TELEGRAM_SUPPORT_CONTACT.strip(),
            (
                gettext_noop(
                    "Where customers get help: @username, a link or an e-mail (the bot's support "
                    "button, messages, the feed). Empty: none."
                )
            ),
            "support_contact",
        ),
        # Once TRIAL_TARIFF_ID; the environment's value stays the default.
        "TRIAL_TARIFF": (
            TRIAL_TARIFF_ID,
            (
                gettext_noop(
                    'The tariff the bot\'s free trial grants: one marked "Is trial" and on sale. '
                    "None: no trial is offered."
                )
            ),
            "trial_tariff",
        ),
        # Once SUBSCRIPTION_REMINDER_DAYS; the environment's value stays the default.
        "REMINDER_DAYS": (
            ",".join(str(days) for days in SUBSCRIPTION_REMINDER_DAYS),
            gettext_noop("Days before expiry when a reminder goes out, e.g. 3,1 (empty: none)."),
            "reminder_days",
        ),
    }
)
CONSTANCE_CONFIG.update(
    {
        "REFERRAL_PERCENT": (
            REFERRAL_PERCENT,
            gettext_noop(
                "Referral reward: this percentage (0-100) of an invitee's rouble payments goes to "
                "the inviter's balance. 0: none."
            ),
            "referral_percent",
        ),
        "REFERRAL_DAYS": (
            REFERRAL_DAYS,
            gettext_noop(
                "Referral reward: days added to the inviter's running subscription per invitee's "
                "payment. 0: none."
            ),
            "referral_days",
        ),
        "REFERRAL_EVERY_PAYMENT": (
            REFERRAL_EVERY_PAYMENT,
            gettext_noop(
                "Reward every payment of an invitee (off: only the invitee's first payment)."
            ),
            bool,
        ),
    }
)
# Help texts are translated when the page renders (constance calls gettext on them); the
# fieldset titles are dict keys, hashed at import, so they stay as written.
CONSTANCE_CONFIG_FIELDSETS = {
    "Subscription feed": ("FEED_TITLE", "FEED_ANNOUNCE"),
    "Shop": ("SUPPORT_CONTACT", "TRIAL_TARIFF", "REMINDER_DAYS"),
    "Referral rewards": ("REFERRAL_PERCENT", "REFERRAL_DAYS", "REFERRAL_EVERY_PAYMENT"),
}
