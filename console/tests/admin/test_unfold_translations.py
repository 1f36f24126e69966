"""django-unfold's own strings read Russian in a Russian browser (docs/console.md, "Language").

unfold ships no Russian; ours is ``locale_unfold/ru`` (refreshed by ``manage.py
unfold_messages``). The catalogue check reads the installed unfold at test time, so upgrading
unfold to a version with a new string fails here until the string has its Russian.
"""

from __future__ import annotations

import gettext
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.tests.factories import CustomerFactory
from console.tests.admin.test_translations import visible_text
from devtools.unfold_messages import (
    CATALOGUE_DIR,
    Message,
    extract_with_makemessages,
    read_po,
    unfold_msgids,
)

PO = CATALOGUE_DIR / "ru" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def _missing(messages, catalogue: dict) -> list[str]:
    """The messages `catalogue` (a compiled .mo's) has no non-empty Russian for."""
    missing = []
    for message in messages:
        key = message.msgid if message.context is None else f"{message.context}\x04{message.msgid}"
        if message.plural is None:
            found = [catalogue.get(key)]
        else:
            found = [catalogue.get((key, index)) for index in range(4)]
        if not all(found):
            missing.append(message.msgid)
    return sorted(missing)


def _compiled() -> dict:
    with MO.open("rb") as handle:
        return gettext.GNUTranslations(handle)._catalog


def test_the_catalogue_is_loaded_after_ours():
    assert [Path(path).name for path in settings.LOCALE_PATHS] == ["locale", "locale_unfold"]


def test_every_string_the_installed_unfold_uses_has_its_russian():
    messages = unfold_msgids()
    # The extraction reads templates, blocktranslate plurals and Python (an f-string's too).
    assert Message("Search apps and models...") in messages
    assert Message("Apply Filters") in messages
    assert Message("Welcome") in messages  # _() inside an f-string: templatetags/unfold.py
    assert any(message.plural and "Found %(counter)s" in message.msgid for message in messages)
    assert len(messages) > 150
    assert _missing(messages, _compiled()) == []


def test_the_check_fails_on_a_string_unfold_gains():
    new = {Message("Shiny new button"), Message("%(n)s row", "%(n)s rows")}
    assert _missing(new, _compiled()) == ["%(n)s row", "Shiny new button"]
    catalogue = _compiled()
    key = "Search apps and models..."
    catalogue[key] = ""
    assert _missing({Message(key)}, catalogue) == [key]


def test_the_catalogue_has_no_fuzzy_or_empty_entry_and_the_mo_is_compiled_from_it():
    entries = read_po(PO)
    assert [entry.msgid for entry in entries if not entry.translated] == []
    catalogue = _compiled()
    for entry in entries:
        if entry.plural is None:
            assert catalogue[entry.msgid] == entry.msgstr[0], entry.msgid
        else:
            assert [catalogue[(entry.msgid, i)] for i in range(4)] == [
                entry.msgstr[i] for i in range(4)
            ], entry.msgid


@pytest.mark.skipif(not shutil.which("xgettext"), reason="needs GNU gettext (xgettext)")
def test_makemessages_finds_no_string_the_check_misses():
    """The refresh command extracts with Django's makemessages; the check's own reading of
    unfold finds at least the same messages."""
    with tempfile.TemporaryDirectory() as tmp:
        template = extract_with_makemessages(Path(tmp))
        found = {Message(e.msgid, e.plural, e.context) for e in read_po(template)}
    assert found - unfold_msgids() == set()


# --- The pages ----------------------------------------------------------------------------

# unfold's own English on a changelist with filters, a search box and actions: the sidebar
# search, the filter panel, the actions bar, pagination, the account and theme menu.
UNFOLD_ENGLISH = [
    "Search apps and models...",
    "Filter navigation items",
    "Filters",
    "Apply Filters",
    "Reset filters",
    "Show all",
    "Select action",
    "Run",
    "Select all rows",
    "Type to search",
    "Light",
    "Dark",
    "System",
    "Log out",
    "Return to site",
    "All applications",
    "Previous",
    "Next",
    "total",
    "results",
    "Welcome",
]


def _labels(html: str) -> str:
    """What the page says in attributes a person (or a screen reader) meets."""
    return " ".join(re.findall(r'(?:placeholder|title|aria-label)="([^"]*)"', html))


def _unfold_english(text: str) -> list[str]:
    return [
        phrase
        for phrase in UNFOLD_ENGLISH
        if re.search(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])", text)
    ]


@pytest.fixture
def customers_page(client, superuser):
    for number in range(3):
        CustomerFactory(username=f"klient{number}", first_name="Иван", last_name="Петров")
    client.force_login(superuser)

    def get(language: str) -> str:
        url = reverse("admin:accounts_customer_changelist") + "?q=Иван"
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200
        return response.content.decode()

    return get


def test_a_changelist_shows_unfolds_strings_in_russian(customers_page):
    html = customers_page("ru")
    text = visible_text(html)
    assert 'lang="ru"' in html
    assert 'placeholder="Поиск по разделам и моделям…"' in html
    assert 'placeholder="Начните вводить для поиска"' in html
    for russian in ("Фильтры", "Выберите действие", "Выполнить", "Выбрать все строки"):
        assert russian in text, russian
    for russian in ("Светлая", "Тёмная", "Показать все", "Экспорт", "Выйти"):
        assert russian in text, russian
    assert _unfold_english(text) == []
    assert _unfold_english(_labels(html)) == []


def test_a_changelist_shows_unfolds_strings_in_english(customers_page):
    """The check is not vacuous: an English browser gets unfold's English."""
    html = customers_page("en")
    text = visible_text(html)
    assert 'lang="en"' in html
    assert 'placeholder="Search apps and models..."' in html
    assert 'placeholder="Type to search"' in html
    assert {"Filters", "Select action", "Run", "Select all rows", "Show all"} <= set(
        _unfold_english(text)
    )
    assert {"Light", "Dark", "Log out", "results"} <= set(_unfold_english(text))
    assert "Поиск по разделам" not in html
    assert "Выбрать все строки" not in text
