"""django-unfold's own strings, for the console's Russian (docs/console.md, "Language").

django-unfold 0.91.0 ships no Russian catalogue, so its buttons, menus and filter panel stayed
English in a Russian browser. We keep one of our own in ``locale_unfold/ru`` (a LOCALE_PATHS
entry after ``locale``). This module finds every msgid the installed unfold uses:

- ``extract_with_makemessages``: Django's ``makemessages`` run in a temporary copy of the
  unfold package (only the unfold apps in INSTALLED_APPS), the standard tool the refresh
  command (``manage.py unfold_messages``) merges into our catalogue with ``msgmerge``;
- ``unfold_msgids``: the same set read without gettext's tools (Python's ``ast`` for the code,
  Django's ``templatize`` for the templates), which the tests compare with the compiled
  catalogue.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

from django.conf import settings
from django.utils.translation.template import templatize

CATALOGUE_DIR = Path(settings.BASE_DIR) / "locale_unfold"
LANGUAGE = "ru"

_GETTEXT = {
    "gettext": (),
    "gettext_lazy": (),
    "gettext_noop": (),
    "_": (),
    "ngettext": ("plural",),
    "ngettext_lazy": ("plural",),
    "pgettext": ("context",),
    "pgettext_lazy": ("context",),
    "npgettext": ("context", "plural"),
    "npgettext_lazy": ("context", "plural"),
}
_TEMPLATE_CALL = re.compile(r"(?<![\w.])(npgettext|pgettext|ngettext|gettext|_)\(")


@dataclass(frozen=True)
class Message:
    msgid: str
    plural: str | None = None
    context: str | None = None


def unfold_app_dirs() -> list[Path]:
    """The package directories of the unfold apps the project installs (unfold and the
    contrib apps in INSTALLED_APPS); the others' strings are never shown."""
    root = Path(import_module("unfold").__file__).parent
    apps = [name for name in settings.INSTALLED_APPS if name.split(".")[0] == "unfold"]
    return [root] + [Path(import_module(name).__file__).parent for name in apps if name != "unfold"]


def _files(directory: Path, suffixes: tuple[str, ...], skip_contrib: bool):
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).parts
        if skip_contrib and relative[0] == "contrib":
            continue  # the contrib apps in use are walked on their own
        if "static" in relative or "__pycache__" in relative:
            continue
        if path.suffix in suffixes and path.is_file():
            yield path


def _python_messages(source: str):
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in _GETTEXT:
            continue
        kinds = _GETTEXT[name]
        strings = []
        for arg in node.args[: 1 + len(kinds)]:
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                break
            strings.append(arg.value)
        if len(strings) < 1 + len(kinds):
            continue  # gettext of a variable: nothing to extract
        yield _message(kinds, strings)


def _message(kinds, strings) -> Message:
    context = strings.pop(0) if "context" in kinds else None
    plural = strings[1] if "plural" in kinds else None
    return Message(strings[0], plural, context)


def _template_messages(source: str):
    """Django's templatize turns {% translate %}, {% blocktranslate %} and _("...") into
    gettext calls (what makemessages hands xgettext); each call is read with ast."""
    text = templatize(source)
    for match in _TEMPLATE_CALL.finditer(text):
        end = match.end()
        while (end := text.find(")", end) + 1) > 0:
            try:
                tree = ast.parse(text[match.start() : end].strip(), mode="eval")
            except SyntaxError:
                continue
            yield from _python_messages(ast.unparse(tree))
            break


def unfold_msgids() -> set[Message]:
    """Every message the installed unfold apps mark for translation."""
    messages: set[Message] = set()
    for index, directory in enumerate(unfold_app_dirs()):
        for path in _files(directory, (".py",), skip_contrib=index == 0):
            messages.update(_python_messages(path.read_text(encoding="utf-8")))
        for path in _files(directory, (".html", ".txt"), skip_contrib=index == 0):
            messages.update(_template_messages(path.read_text(encoding="utf-8")))
    return {message for message in messages if message.msgid}


def extract_with_makemessages(workdir: Path) -> Path:
    """Run Django's makemessages over a copy of the unfold apps in use; return the .po it
    wrote (every msgstr empty)."""
    package = workdir / "unfold"
    root = unfold_app_dirs()[0]
    shutil.copytree(
        root, package, ignore=shutil.ignore_patterns("contrib", "static", "__pycache__")
    )
    for directory in unfold_app_dirs()[1:]:
        shutil.copytree(
            directory,
            package / directory.relative_to(root),
            ignore=shutil.ignore_patterns("static", "__pycache__"),
        )
    (package / "locale").mkdir()
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(  # noqa: S603 - a fixed argv: this Python, Django, gettext
        [sys.executable, "-m", "django", "makemessages", "-l", LANGUAGE, "--add-location=file"],
        cwd=package,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return package / "locale" / LANGUAGE / "LC_MESSAGES" / "django.po"


# --- Reading a .po file (the few parts we need: ids, translations, fuzzy flags) ------------


@dataclass
class Entry:
    msgid: str = ""
    plural: str | None = None
    context: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    fuzzy: bool = False
    obsolete: bool = False

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr.values()) and not self.fuzzy


def read_po(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    entry = Entry()
    target = None
    started = False

    def finish():
        nonlocal entry, started
        if started:
            entries.append(entry)
        entry, started = Entry(), False

    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if line.startswith("#~"):
            entry.obsolete = True
            line = line[2:].strip()
        if not line:
            finish()
            continue
        if line.startswith("#,"):
            if started:
                finish()
            entry.fuzzy = "fuzzy" in line
            continue
        if line.startswith("#"):
            if started:
                finish()
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            value, keyword = ast.literal_eval(line), None
        else:
            value = ast.literal_eval(rest)
        if keyword in ("msgctxt", "msgid") and started and target != "msgctxt":
            finish()  # a new entry with no blank line before it
        if keyword is not None:
            started = True
            target = keyword
            if keyword == "msgctxt":
                entry.context = value
            elif keyword == "msgid":
                entry.msgid = value
            elif keyword == "msgid_plural":
                entry.plural = value
            else:  # msgstr or msgstr[n]
                index = int(keyword[7:-1]) if keyword.startswith("msgstr[") else 0
                entry.msgstr[index] = value
            continue
        if target == "msgctxt":
            entry.context += value
        elif target == "msgid":
            entry.msgid += value
        elif target == "msgid_plural":
            entry.plural += value
        else:
            index = int(target[7:-1]) if target.startswith("msgstr[") else 0
            entry.msgstr[index] += value
    return [entry for entry in entries if entry.msgid and not entry.obsolete]
