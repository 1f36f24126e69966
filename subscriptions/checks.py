"""System checks for the feed's settings (run by ``manage.py check`` and every ``migrate``)."""

from django.conf import settings
from django.core import checks

# Happ shows at most 25 characters of a profile title
# (https://github.com/Flyfrog-LLC/Happ-docs, dev-docs/app-management.md); the console's form
# refuses a longer one, this checks the environment's default.
FEED_TITLE_MAX = settings.FEED_TITLE_MAX
FEED_TITLE_TOO_LONG = "subscriptions.W001"


@checks.register()
def feed_title_length(app_configs, **kwargs) -> list[checks.CheckMessage]:
    title = settings.SUBSCRIPTION_FEED_TITLE
    if len(title) <= FEED_TITLE_MAX:
        return []
    return [
        checks.Warning(
            f"SUBSCRIPTION_FEED_TITLE has {len(title)} characters; Happ shows only the first "
            f"{FEED_TITLE_MAX}: {title[:FEED_TITLE_MAX]!r}.",
            hint=f"Shorten SUBSCRIPTION_FEED_TITLE to at most {FEED_TITLE_MAX} characters.",
            id=FEED_TITLE_TOO_LONG,
        )
    ]
