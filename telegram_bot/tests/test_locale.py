"""The translation catalogs: Russian complete, nothing fuzzy, compiled .mo files up to date."""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale"
KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (\".*\")$")


def po_entries(path: Path) -> list[dict]:
    """Entries of a .po file: {"flags": [...], "msgid": str, "msgstr": [str, ...], ...}."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        entry: dict = {"flags": [], "msgstr": []}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] += [f.strip() for f in line[2:].split(",")]
            elif line.startswith("#"):
                continue
            elif match := KEYWORD.match(line):
                key = match.group(1)
                value = ast.literal_eval(match.group(2))
                if key.startswith("msgstr"):
                    entry["msgstr"].append(value)
                else:
                    entry[key] = value
            elif line.startswith('"'):
                value = ast.literal_eval(line)
                if key.startswith("msgstr"):
                    entry["msgstr"][-1] += value
                else:
                    entry[key] += value
        entries.append(entry)
    return entries


@pytest.mark.parametrize("language", ["ru", "en"])
def test_catalog_exists_and_nothing_is_fuzzy(language):
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    assert (LOCALE / language / "LC_MESSAGES" / "django.mo").is_file()
    entries = po_entries(po)
    header = entries[0]
    assert header["msgid"] == ""
    assert f"Language: {language}\n" in header["msgstr"][0]
    assert [e["msgid"] for e in entries if "fuzzy" in e["flags"]] == []


def test_every_russian_message_is_translated():
    entries = po_entries(LOCALE / "ru" / "LC_MESSAGES" / "django.po")[1:]
    assert entries, "no messages: was makemessages run?"
    untranslated = [e["msgid"] for e in entries if not all(s.strip() for s in e["msgstr"])]
    assert untranslated == []


def test_russian_mo_matches_the_po():
    """compilemessages was run after the last edit of the .po (the .mo is what runs)."""
    with (LOCALE / "ru" / "LC_MESSAGES" / "django.mo").open("rb") as mo:
        catalog = gettext.GNUTranslations(mo)
    for entry in po_entries(LOCALE / "ru" / "LC_MESSAGES" / "django.po")[1:]:
        if "msgid_plural" in entry:
            for n, form in ((1, 0), (3, 1), (5, 2)):
                assert (
                    catalog.ngettext(entry["msgid"], entry["msgid_plural"], n)
                    == (entry["msgstr"][form])
                )
        else:
            assert catalog.gettext(entry["msgid"]) == entry["msgstr"][0], entry["msgid"]


def test_placeholders_survive_translation():
    for entry in po_entries(LOCALE / "ru" / "LC_MESSAGES" / "django.po")[1:]:
        wanted = sorted(re.findall(r"%\(\w+\)[sd]", entry["msgid"]))
        for translation in entry["msgstr"]:
            assert sorted(re.findall(r"%\(\w+\)[sd]", translation)) == wanted, entry["msgid"]
