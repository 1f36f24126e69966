"""Form fields the runtime settings page uses (constance's CONSTANCE_ADDITIONAL_FIELDS)."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

DAYS_MAX = 60


def days_list_parse(value: str) -> list[int]:
    """ "3,1" -> [3, 1]; raises ValueError for anything but whole days from 1 to DAYS_MAX."""
    days = [int(part) for part in (value or "").replace(" ", "").split(",") if part]
    if any(not 1 <= day <= DAYS_MAX for day in days):
        raise ValueError(f"days must be from 1 to {DAYS_MAX}")
    return days


class DaysListField(forms.CharField):
    """Whole days, comma-separated ("3,1"), each 1..DAYS_MAX; stored normalised ("3,1"),
    empty for none."""

    def clean(self, value):
        value = super().clean(value)
        try:
            days = days_list_parse(value)
        except ValueError:
            raise ValidationError(
                _("Give whole days from 1 to %(max)s separated by commas, e.g. 3,1."),
                params={"max": DAYS_MAX},
                code="invalid",
            ) from None
        return ",".join(str(day) for day in sorted(set(days), reverse=True))
