"""One structured form of a feed entry, read back from the ``vless://`` link we serve.

Why: every format of the feed (base64 links, Clash/mihomo YAML, sing-box JSON) must say the
same thing about a key (uuid, flow, security, transport). The link built by
``subscriptions.vless.vless_link_build`` is that one source of truth: the base64 feed serves it
as it is, and the other renderers (``feed_clash``, ``feed_singbox``) read it back through
``feed_entry_from_link`` here, so nothing is built twice from the inbound.

The link's parameters are those of 3x-ui's share links (docs/x3ui.md "Links and feed"). A
parameter this form does not model is kept in ``FeedEntry.unmodelled``; a renderer that meets
one leaves the entry out (``entry_unsupported_reason``), so an unknown option never turns into
a silently different connection.

Two parameters are read and deliberately not carried to the other formats, because they only
add a check or a disguise that neither mihomo nor sing-box has and a connection works without
them: ``spx`` (REALITY spiderX, the path the client crawls when the server is not REALITY) and
``pqv`` (REALITY ML-DSA-65 verification of the server; the x25519 key still authenticates it).

No Django imports: plain data in, plain data out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from subscriptions.vless import (
    SUPPORTED_NETWORKS,
    SUPPORTED_SECURITIES,
    VlessLinkError,
    vless_link_parse,
)

# A REALITY client always speaks through a uTLS fingerprint. mihomo refuses an empty one
# ("unknown uTLS fingerprint": github.com/MetaCubeX/mihomo, component/tls/reality.go) while
# sing-box takes chrome for it (github.com/SagerNet/sing-box, docs/configuration/shared/tls.md
# "utls"), so an entry without one gets chrome in every format.
logger = logging.getLogger(__name__)

REALITY_DEFAULT_FINGERPRINT = "chrome"

# Every query parameter vless_link_build can write (subscriptions/vless.py). ``fm``, ``ech``,
# ``vcn`` and ``pcs`` are parsed into ``unmodelled``: no renderer here can express them.
_MODELLED = frozenset(
    {
        "type",
        "encryption",
        "security",
        "sni",
        "fp",
        "alpn",
        "pbk",
        "sid",
        "spx",
        "pqv",
        "flow",
        "path",
        "host",
        "headerType",
        "serviceName",
        "authority",
        "mode",
        "extra",
        "x_padding_bytes",
    }
)


class FeedEntryError(ValueError):
    """A link that cannot be read back into an entry (we never build one; a bug if raised)."""


@dataclass(frozen=True)
class FeedEntry:
    """A VLESS key as every format sees it. Strings are ``""`` when the link has no value."""

    name: str
    uuid: str
    host: str
    port: int
    flow: str = ""
    encryption: str = "none"
    network: str = "tcp"
    security: str = "none"
    # TLS and REALITY
    sni: str = ""
    fingerprint: str = ""
    alpn: tuple[str, ...] = ()
    public_key: str = ""
    short_id: str = ""
    # transports: ws / httpupgrade / xhttp (path, host), tcp HTTP obfuscation (path, host,
    # header_type="http"), grpc (service_name, authority, mode="multi"), xhttp (mode, extra)
    path: str = ""
    host_header: str = ""
    header_type: str = ""
    service_name: str = ""
    authority: str = ""
    mode: str = ""
    xhttp_extra: dict[str, Any] = field(default_factory=dict, hash=False)
    unmodelled: tuple[str, ...] = ()


def feed_entry_from_link(link: str) -> FeedEntry:
    """Read one ``vless://`` link (as ``vless_link_build`` writes it) into a ``FeedEntry``."""
    try:
        uuid, host, port, params, remark = vless_link_parse(link)
    except VlessLinkError as exc:
        raise FeedEntryError(str(exc)) from exc
    network = params.get("type") or "tcp"
    if network not in SUPPORTED_NETWORKS:
        raise FeedEntryError(f"unsupported network {network!r}")
    security = params.get("security") or "none"
    if security not in SUPPORTED_SECURITIES:
        raise FeedEntryError(f"unsupported security {security!r}")
    extra: dict[str, Any] = {}
    if params.get("extra"):
        try:
            extra = json.loads(params["extra"])
        except json.JSONDecodeError as exc:
            raise FeedEntryError(f"xhttp extra is not JSON: {exc}") from exc
        if not isinstance(extra, dict):
            raise FeedEntryError("xhttp extra is not a JSON object")
    fingerprint = params.get("fp", "")
    if security == "reality" and not fingerprint:
        fingerprint = REALITY_DEFAULT_FINGERPRINT
    return FeedEntry(
        name=remark,
        uuid=uuid,
        host=host,
        port=port,
        flow=params.get("flow", ""),
        encryption=params.get("encryption") or "none",
        network=network,
        security=security,
        sni=params.get("sni", ""),
        fingerprint=fingerprint,
        alpn=tuple(part for part in params.get("alpn", "").split(",") if part),
        public_key=params.get("pbk", ""),
        short_id=params.get("sid", ""),
        path=params.get("path", ""),
        host_header=params.get("host", ""),
        header_type=params.get("headerType", ""),
        service_name=params.get("serviceName", ""),
        authority=params.get("authority", ""),
        mode=params.get("mode", ""),
        xhttp_extra=extra,
        unmodelled=tuple(sorted(key for key in params if key not in _MODELLED)),
    )


def entry_common_unsupported(entry: FeedEntry) -> str:
    """Why neither mihomo nor sing-box can carry this entry; ``""`` when they might."""
    if entry.unmodelled:
        return f"link parameters {', '.join(entry.unmodelled)} have no equivalent"
    if entry.network == "grpc" and entry.authority:
        return "a gRPC authority has no equivalent"
    return ""


def entries_for_format(
    links: list[str],
    *,
    format_name: str,
    unsupported_reason: Callable[[FeedEntry], str],
    reserved: frozenset[str],
) -> list[FeedEntry]:
    """The entries of ``links`` a format can carry (``unsupported_reason`` is empty), uniquely
    named; each one left out is logged with the reason, never emitted wrong."""
    kept = []
    for link in links:
        entry = feed_entry_from_link(link)
        reason = unsupported_reason(entry)
        if reason:
            logger.warning("%s feed: left out %r: %s", format_name, entry.name, reason)
            continue
        kept.append(entry)
    return entries_named(kept, reserved=reserved)


def entries_named(entries: list[FeedEntry], *, reserved: frozenset[str]) -> list[FeedEntry]:
    """The entries with unique, non-empty names that avoid ``reserved`` (group names, built-in
    outbounds): both formats refer to a server by its name, so two equal names would merge.
    A clash gets `` 2``, `` 3``… appended; an empty name becomes ``host:port``."""
    taken = {name.casefold() for name in reserved}
    named = []
    for entry in entries:
        base = entry.name.strip() or f"{entry.host}:{entry.port}"
        name, number = base, 1
        while name.casefold() in taken:
            number += 1
            name = f"{base} {number}"
        taken.add(name.casefold())
        named.append(entry if name == entry.name else _renamed(entry, name))
    return named


def _renamed(entry: FeedEntry, name: str) -> FeedEntry:
    fields = {key: getattr(entry, key) for key in entry.__dataclass_fields__}
    fields["name"] = name
    return FeedEntry(**fields)
