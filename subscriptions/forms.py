"""Form fields about tariffs for the runtime settings page (constance's
CONSTANCE_ADDITIONAL_FIELDS)."""

from django import forms
from django.utils.translation import gettext_lazy as _

NO_TRIAL = 0


def trial_tariff_choices() -> list[tuple[int, str]]:
    """ "No free trial" and every tariff marked "Is trial" (one query, at each render and
    validation, so a tariff made a moment ago is there)."""
    from subscriptions.models import Tariff

    choices: list[tuple[int, str]] = [(NO_TRIAL, str(_("No free trial")))]
    for tariff in Tariff.objects.filter(is_trial=True).order_by("sort_order", "pk"):
        state = "" if tariff.is_active else f" ({_('disabled')})"
        choices.append((tariff.pk, f"{tariff.name} · {tariff.duration_days} d{state}"))
    return choices


class TrialTariffField(forms.TypedChoiceField):
    """The tariff the bot's free trial grants: a tariff marked "Is trial" that exists, or
    none. A value no longer among them (deleted, no longer a trial) is refused."""

    def __init__(self, **kwargs):
        kwargs.setdefault("choices", trial_tariff_choices)
        kwargs.setdefault("coerce", int)
        kwargs.setdefault("empty_value", NO_TRIAL)
        super().__init__(**kwargs)
