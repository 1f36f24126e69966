"""Values for people in the console: traffic in binary units, moments relative to now with
the exact time beside them, and coloured badges (django-unfold's label). Pure functions of
their arguments (no query), so list columns can call them for every row; money and day counts
are ``notifications.formatting``'s (``money_format``, ``days``)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.humanize.templatetags.humanize import naturaltime
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

# Badge variants of django-unfold's label (unfold/templates/unfold/helpers/label.html).
SUCCESS, INFO, WARNING, DANGER, NEUTRAL = "success", "info", "warning", "danger", ""


def traffic_format(size: int | None) -> str:
    """Bytes in binary units: "2.8 GiB", "512 MiB", "0 B" ("2,8 ГБ" in Russian). One decimal
    from KiB on, whole bytes below; the number is localised (decimal comma in Russian)."""
    if size is None:
        return "—"
    units = [
        gettext("%(size)s B"),
        gettext("%(size)s KiB"),
        gettext("%(size)s MiB"),
        gettext("%(size)s GiB"),
        gettext("%(size)s TiB"),
    ]
    value, unit = float(size), 0
    while abs(value) >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    places = 0 if unit == 0 else 1
    # number_format cuts decimals off (2.76 -> "2.7"): round first.
    number = formats.number_format(round(value, places), decimal_pos=places, use_l10n=True)
    return units[unit] % {"size": number}


def moment_exact(moment: datetime) -> str:
    """The moment in the service's time zone, in the language's DATETIME_FORMAT."""
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def relative_time(moment: datetime | None) -> SafeString | str:
    """ "2 hours ago" / "2 часа назад" ("in 3 days" for the future: Django's naturaltime),
    with the exact time in the element's title (a tooltip) and `datetime` attribute."""
    if moment is None:
        return "—"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        moment_exact(moment),
        naturaltime(moment),
    )


def badge(text, variant: str = NEUTRAL) -> SafeString:
    """`text` as a coloured label, the one unfold's ``@display(label=...)`` draws in lists;
    for read-only fields on object pages, which unfold does not label."""
    return render_to_string(
        "unfold/helpers/label.html", {"text": text, "type": variant, "size": "md"}
    )
