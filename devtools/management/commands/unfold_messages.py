"""Refresh the console's Russian for django-unfold's own strings (docs/console.md, "Language").

    .venv/bin/python manage.py unfold_messages

Re-extracts every msgid of the installed unfold apps (Django's makemessages over a copy of
the package, plus what xgettext cannot see, such as ``_()`` inside an f-string), merges it
into ``locale_unfold/ru/LC_MESSAGES/django.po`` with ``msgmerge`` (a new msgid gets Django's
own Russian when Django's admin has the same one, else it stays empty; a changed one becomes
fuzzy), drops what unfold no longer uses, compiles the .mo and lists every entry that still
needs a translator. Exits 1 while one is left: fill its msgstr, drop the fuzzy flag, run again.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import django
from django.core.management.base import BaseCommand, CommandError

from devtools.unfold_messages import (
    CATALOGUE_DIR,
    LANGUAGE,
    Message,
    extract_with_makemessages,
    read_po,
    unfold_msgids,
)

HEADER = """\
# django-unfold's own strings in the console, Russian (docs/console.md, "Language").
# Refreshed by `manage.py unfold_messages` (devtools); edit msgstr only.
#
msgid ""
msgstr ""
"Project-Id-Version: vpnsite (django-unfold)\\n"
"Report-Msgid-Bugs-To: \\n"
"Last-Translator: vpnsite team\\n"
"Language-Team: vpnsite team\\n"
"Language: ru\\n"
"MIME-Version: 1.0\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Content-Transfer-Encoding: 8bit\\n"
"Plural-Forms: nplurals=4; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && "
"n%10<=4 && (n%100<12 || n%100>14) ? 1 : n%10==0 || (n%10>=5 && n%10<=9) || "
"(n%100>=11 && n%100<=14)? 2 : 3);\\n"
"""

# Django's Russian for the admin's own msgids, which unfold's templates reuse.
DJANGO_CATALOGUES = ["contrib/admin", "conf", "contrib/auth"]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _entry(message: Message) -> str:
    lines = ["#: (found by devtools.unfold_messages)"]
    if message.context is not None:
        lines.append(f"msgctxt {_quote(message.context)}")
    lines.append(f"msgid {_quote(message.msgid)}")
    if message.plural is None:
        lines.append('msgstr ""')
    else:
        lines.append(f"msgid_plural {_quote(message.plural)}")
        lines += [f'msgstr[{index}] ""' for index in range(4)]
    return "\n".join(lines) + "\n"


def _run(*args: str) -> None:
    try:
        subprocess.run(args, check=True, capture_output=True, text=True, timeout=120)  # noqa: S603
    except subprocess.CalledProcessError as error:
        raise CommandError(f"{' '.join(args)}: {error.stderr.strip()}") from error


class Command(BaseCommand):
    help = "Re-extract django-unfold's strings into locale_unfold/ru, merge, compile, report."

    def handle(self, *args, **options):
        target = CATALOGUE_DIR / LANGUAGE / "LC_MESSAGES" / "django.po"
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            template = extract_with_makemessages(work / "copy")
            found = {Message(e.msgid, e.plural, e.context) for e in read_po(template)}
            extra = sorted(unfold_msgids() - found, key=lambda message: message.msgid)
            with template.open("a", encoding="utf-8") as out:
                for message in extra:
                    out.write("\n" + _entry(message))
            django_root = Path(django.__file__).parent
            compendium = work / "django-ru.po"
            _run(
                "msgcat",
                "--use-first",
                "-o",
                str(compendium),
                *(
                    str(django_root / path / "locale/ru/LC_MESSAGES/django.po")
                    for path in DJANGO_CATALOGUES
                ),
            )
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(HEADER, encoding="utf-8")
            merged = work / "merged.po"
            _run(
                "msgmerge",
                "--quiet",
                "--previous",
                "--compendium",
                str(compendium),
                "-o",
                str(merged),
                str(target),
                str(template),
            )
            _run("msgattrib", "--no-obsolete", "-o", str(target), str(merged))
        _run("msgfmt", "--check-format", "-o", str(target.with_suffix(".mo")), str(target))

        entries = read_po(target)
        left = [entry for entry in entries if not entry.translated]
        self.stdout.write(f"{target}: {len(entries)} messages, {len(left)} to translate")
        for entry in left:
            state = "fuzzy" if entry.fuzzy else "untranslated"
            self.stdout.write(f"  {state}: {entry.msgid!r}")
        if left:
            raise CommandError(f"{len(left)} of unfold's messages have no Russian yet")
