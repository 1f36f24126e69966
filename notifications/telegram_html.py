"""Telegram's HTML parse mode (https://core.telegram.org/bots/api#html-style): what it
accepts, how long a text is once parsed, and a safe rendering of it for the console's preview.

Telegram takes only its own tags (below), properly nested, and counts a message's length
(4096) or a caption's (1024) after parsing: tags do not count, ``&lt;`` is one character.
"""

from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

# Tag -> the attributes Telegram reads on it.
TELEGRAM_HTML_TAGS: dict[str, frozenset[str]] = {
    "b": frozenset(),
    "strong": frozenset(),
    "i": frozenset(),
    "em": frozenset(),
    "u": frozenset(),
    "ins": frozenset(),
    "s": frozenset(),
    "strike": frozenset(),
    "del": frozenset(),
    "span": frozenset({"class"}),
    "tg-spoiler": frozenset(),
    "a": frozenset({"href"}),
    "code": frozenset({"class"}),
    "pre": frozenset(),
    "tg-emoji": frozenset({"emoji-id"}),
    "blockquote": frozenset({"expandable"}),
}
# Links a preview may render as links; anything else is shown as text.
PREVIEW_LINK_SCHEMES = frozenset({"http", "https", "tg"})


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None
        self.length = 0
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_HTML_TAGS:
            self.error = self.error or _("unsupported tag <%(tag)s>") % {"tag": tag}
            return
        self.stack.append(tag)
        self.out.append(_preview_start(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or _("unexpected closing tag </%(tag)s>") % {"tag": tag}
            return
        self.stack.pop()
        self.out.append(_preview_end(tag))

    def handle_data(self, data: str) -> None:
        self.length += len(data)
        self.out.append(escape(data).replace("\n", "<br>"))

    def parse(self, text: str) -> "_Parser":
        self.feed(text)
        self.close()
        if self.error is None and self.stack:
            self.error = _("<%(tag)s> is never closed") % {"tag": self.stack[-1]}
        return self


def _preview_start(tag: str, attrs: dict[str, str | None]) -> str:
    if tag == "a":
        href = attrs.get("href") or ""
        if urlsplit(href).scheme.lower() in PREVIEW_LINK_SCHEMES:
            return f'<a href="{escape(href)}" rel="noopener noreferrer" target="_blank">'
        return '<a class="tg-link-invalid">'
    if tag == "span":
        return '<span class="tg-spoiler">' if attrs.get("class") == "tg-spoiler" else "<span>"
    if tag == "tg-spoiler":
        return '<span class="tg-spoiler">'
    if tag == "tg-emoji":
        return "<span>"
    return f"<{tag}>"


def _preview_end(tag: str) -> str:
    return "</span>" if tag in {"tg-spoiler", "tg-emoji"} else f"</{tag}>"


def telegram_html_error(text: str) -> str | None:
    """Why Telegram would refuse `text` in HTML parse mode, or None."""
    return _Parser().parse(text).error


def telegram_html_length(text: str) -> int:
    """The length Telegram counts: the text without its tags, entities decoded."""
    return _Parser().parse(text).length


def telegram_html_preview(text: str) -> SafeString:
    """`text` as HTML a browser may show: Telegram's tags only, links only http(s)/tg,
    every attribute we do not set dropped, line breaks kept."""
    return mark_safe("".join(_Parser().parse(text).out))  # noqa: S308 - built from escaped parts
