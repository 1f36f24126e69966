"""The device an app says it runs on, read from its feed request; the answer's HWID headers.

Apps that identify the device (Happ first; v2RayTun, INCY and others follow Happ's headers)
send with every subscription request::

    X-HWID: <an id the app derives from the device>     (the only required one)
    X-Device-OS: iOS          X-Ver-OS: 18.3          X-Device-Model: iPhone 14 Pro
    User-Agent: Happ/3.19.1/ios

(Remnawave's guide for app developers, https://github.com/remnawave/panel,
``docs/features/hwid-device-limit.md``, "A standard for providing headers is offered by
Happ"; Happ sends HWID unless the user turns it off, https://github.com/Flyfrog-LLC/Happ-docs,
``dev-docs/app-management.md`` "Non-Disablable HWID".)

**A bad value is handled predictably.** An ``X-HWID`` that is not 6-64 characters of
letters, digits and ``_ = + / . : -`` (after trimming spaces) is treated as *no id*: the app
is served as one that sends none, and nothing is recorded. 3x-ui takes any id of at least 6
characters (``dev-latest:internal/web/service/client_hwid.go``, ``minHwidLength``), Remnawave
``^[a-zA-Z0-9=-]{10,64}$`` (``src/common/utils/extract-hwid-headers``); our set holds both
panels' and the ids apps are known to send (hex digests, UUIDs, base64). Two ``X-HWID``
headers arrive joined by a comma and are refused the same way. The other headers are never
refused: control characters are dropped, UTF-8 sent raw is recovered from WSGI's latin-1, and
each is cut to its column (Remnawave cuts at 512, 3x-ui at 512 runes).

Pure functions, no database.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from subscriptions.models import Device

HWID_RE = re.compile(r"[A-Za-z0-9_=+/.:-]{6,64}")

# The reply headers 3x-ui sends (dev-latest:internal/sub/controller.go, applyHwidHeaders).
HWID_ACTIVE = "X-Hwid-Active"
HWID_LIMIT = "X-Hwid-Limit"
HWID_MAX_DEVICES_REACHED = "X-Hwid-Max-Devices-Reached"


@dataclass(frozen=True)
class DeviceHeaders:
    """What one request says about its device; every field fits its ``Device`` column."""

    hwid: str
    os: str = ""
    os_version: str = ""
    model: str = ""
    user_agent: str = ""


def _column(name: str) -> int:
    return Device._meta.get_field(name).max_length


def header_text(value: str | None, max_length: int) -> str:
    """A header value made safe to store and show: UTF-8 recovered when the app sent it raw
    (WSGI hands headers over as latin-1), control and format characters dropped, runs of
    whitespace made one space, trimmed, cut to `max_length` characters."""
    if not value:
        return ""
    # Already text, or not UTF-8: the characters are kept as they came.
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("latin-1").decode("utf-8")
    value = "".join(
        " " if ch.isspace() else ch
        for ch in value
        if ch.isspace() or not unicodedata.category(ch).startswith("C")
    )
    return " ".join(value.split())[:max_length]


def hwid_valid(value: str | None) -> str:
    """The trimmed hardware id, or "" when it is missing or not a well-formed id."""
    hwid = (value or "").strip()
    return hwid if HWID_RE.fullmatch(hwid) else ""


def device_headers_parse(headers: Mapping[str, str]) -> DeviceHeaders | None:
    """The device a request names (``request.headers``), or None when it sends no usable id."""
    hwid = hwid_valid(headers.get("X-HWID"))
    if not hwid:
        return None
    return DeviceHeaders(
        hwid=hwid,
        os=header_text(headers.get("X-Device-OS"), _column("os")),
        os_version=header_text(headers.get("X-Ver-OS"), _column("os_version")),
        model=header_text(headers.get("X-Device-Model"), _column("model")),
        user_agent=header_text(headers.get("User-Agent"), _column("user_agent")),
    )


def device_label(device: Device) -> str:
    """A short name for a recorded device: its model, else its OS, else the start of its id."""
    return device.model or " ".join(filter(None, [device.os, device.os_version])) or device.hwid[:8]


def hwid_reply_headers(*, limit: int, refused: bool) -> dict[str, str]:
    """The HWID headers of an app answer (docs/x3ui.md "Devices by hardware id").

    With a device limit: ``X-Hwid-Active: true``; a new device refused over it also gets
    ``X-Hwid-Limit`` and ``X-Hwid-Max-Devices-Reached`` (3x-ui's refusal; Remnawave sends the
    same pair, ``X-Hwid-Limit`` being the one v2RayTun reads). Without a limit: none.
    """
    if not limit:
        return {}
    headers = {HWID_ACTIVE: "true"}
    if refused:
        headers[HWID_LIMIT] = "true"
        headers[HWID_MAX_DEVICES_REACHED] = "true"
    return headers
