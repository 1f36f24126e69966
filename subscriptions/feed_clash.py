"""The feed as a Clash/mihomo profile: the YAML Clash Verge, FlClash, mihomo, Clash Meta for
Android, ClashX Meta and Stash import.

``clash_config_build(links=...)`` is a pure function: the ``vless://`` links the feed serves in,
a configuration dict out; ``clash_yaml_render`` dumps it with PyYAML. Every link is read back by
``feed_entries.feed_entry_from_link``, so the YAML says what the link says.

Field names follow the mihomo configuration reference (github.com/MetaCubeX/Meta-Docs,
``docs/config/proxies/{vless,tls,transport,index}.en.md``, ``docs/config/proxy-groups/
{select,url-test}.en.md``, ``docs/config/rules/index.en.md``; rendered at
https://wiki.metacubex.one/en/config/) and mihomo's option struct (github.com/MetaCubeX/mihomo,
``adapter/outbound/vless.go`` ``VlessOption``, ``vmess.go`` ``WSOptions``/``GrpcOptions``/
``HTTPOptions``, ``reality.go`` ``RealityOptions``):

- ``proxies``: one ``type: vless`` entry each, ``udp: true`` (mihomo's default is off), ``tls``
  for TLS and REALITY, ``servername``, ``alpn``, ``client-fingerprint`` (the uTLS one; mihomo's
  ``fingerprint`` is a certificate hash), ``reality-opts`` {``public-key``, ``short-id``};
  transports ``ws-opts`` {``path``, ``headers.Host``}, httpupgrade as ``ws`` with
  ``v2ray-http-upgrade: true``, ``grpc-opts.grpc-service-name``, ``xhttp-opts``, and raw TCP
  with HTTP header obfuscation as ``network: http`` + ``http-opts``;
- ``proxy-groups``: a ``select`` group "Proxy" (a ``url-test`` group "Auto" first when there
  are two servers or more);
- ``rules``: ``MATCH,Proxy``.

mihomo reads xhttp today (``transport.en.md`` "xhttp-opts"); its options carry Xray's names in
kebab case, so the link's ``extra`` maps field by field (``XHTTP_OPTS``, ``XMUX_OPTS``).
Left out, with a warning in the log: xhttp without TLS or REALITY (the reference describes it
over TLS only), xhttp ``downloadSettings`` or any ``extra`` field mihomo does not list, a gRPC
``authority``, a uTLS fingerprint mihomo does not list, and the link parameters ``fm``,
``ech``, ``vcn``, ``pcs``. ``xtls-rprx-vision-udp443`` is written as ``xtls-rprx-vision``:
mihomo documents its vision flow as the udp443 one (``vless.en.md``, note on ``flow``).

The original Clash core (Dreamacro/clash, in ClashX and Clash for Windows) has no VLESS: such
an app gets the same profile and shows no usable server.

With no entry at all (an active subscription whose keys are not placed yet) the profile still
imports (Clash Verge requires the ``proxies`` key): no server, "Proxy" holds only ``REJECT``.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from subscriptions.feed_entries import (
    FeedEntry,
    entries_for_format,
    entry_common_unsupported,
)
from subscriptions.vless import FLOW_VISION

SELECT_GROUP = "Proxy"
URLTEST_GROUP = "Auto"
URLTEST_URL = "https://www.gstatic.com/generate_204"
URLTEST_INTERVAL = 300
# Names mihomo gives its built-in proxies (docs/config/proxies/built-in.en.md) and the group it
# adds for global mode: a server named like one would be shadowed by it.
BUILT_IN = frozenset(
    {"DIRECT", "REJECT", "REJECT-DROP", "PASS", "PASS-RULE", "COMPATIBLE", "GLOBAL"}
)

# docs/config/proxies/tls.en.md "client-fingerprint" (and component/tls/utls.go).
CLIENT_FINGERPRINTS = frozenset(
    {"chrome", "firefox", "safari", "ios", "android", "edge", "360", "qq", "random", "randomized"}
)
# Xray's xhttp ``extra`` field -> mihomo's ``xhttp-opts`` key (transport.en.md "xhttp-opts").
XHTTP_OPTS = {
    "mode": "mode",
    "headers": "headers",
    "noGRPCHeader": "no-grpc-header",
    "xPaddingBytes": "x-padding-bytes",
    "xPaddingObfsMode": "x-padding-obfs-mode",
    "xPaddingKey": "x-padding-key",
    "xPaddingHeader": "x-padding-header",
    "xPaddingPlacement": "x-padding-placement",
    "xPaddingMethod": "x-padding-method",
    "uplinkHTTPMethod": "uplink-http-method",
    "sessionPlacement": "session-placement",
    "sessionKey": "session-key",
    "seqPlacement": "seq-placement",
    "seqKey": "seq-key",
    "uplinkDataPlacement": "uplink-data-placement",
    "uplinkDataKey": "uplink-data-key",
    "uplinkChunkSize": "uplink-chunk-size",
    "scMaxEachPostBytes": "sc-max-each-post-bytes",
    "scMinPostsIntervalMs": "sc-min-posts-interval-ms",
}
# Xray's ``xmux`` -> mihomo's ``reuse-settings`` ("aka XMUX").
XMUX_OPTS = {
    "maxConcurrency": "max-concurrency",
    "maxConnections": "max-connections",
    "cMaxReuseTimes": "c-max-reuse-times",
    "hMaxRequestTimes": "h-max-request-times",
    "hMaxReusableSecs": "h-max-reusable-secs",
    "hKeepAlivePeriod": "h-keep-alive-period",
}


def clash_unsupported_reason(entry: FeedEntry) -> str:
    """Why mihomo cannot carry this entry; ``""`` when it can."""
    common = entry_common_unsupported(entry)
    if common:
        return common
    if entry.fingerprint and entry.fingerprint not in CLIENT_FINGERPRINTS:
        return f"mihomo has no uTLS fingerprint {entry.fingerprint!r}"
    if entry.network == "xhttp":
        if entry.security == "none":
            return "mihomo's xhttp is documented over TLS or REALITY only"
        unknown = sorted(
            key for key in entry.xhttp_extra if key not in XHTTP_OPTS and key != "xmux"
        )
        xmux = entry.xhttp_extra.get("xmux", {})
        if not isinstance(xmux, dict):
            unknown.append("xmux")
        else:
            unknown += sorted(f"xmux.{key}" for key in xmux if key not in XMUX_OPTS)
        if unknown:
            return f"xhttp extra {', '.join(unknown)} has no mihomo equivalent"
    return ""


def _xhttp_opts(entry: FeedEntry) -> dict[str, Any]:
    opts: dict[str, Any] = {"path": entry.path or "/"}
    if entry.host_header:
        opts["host"] = entry.host_header
    if entry.mode:
        opts["mode"] = entry.mode
    for key, value in entry.xhttp_extra.items():
        if key == "xmux":
            opts["reuse-settings"] = {XMUX_OPTS[name]: item for name, item in value.items()}
        else:
            opts[XHTTP_OPTS[key]] = value
    return opts


def _transport(entry: FeedEntry, proxy: dict[str, Any]) -> None:
    if entry.network in ("ws", "httpupgrade"):
        opts: dict[str, Any] = {"path": entry.path or "/"}
        if entry.host_header:
            opts["headers"] = {"Host": entry.host_header}
        if entry.network == "httpupgrade":
            opts["v2ray-http-upgrade"] = True
        proxy["network"] = "ws"
        proxy["ws-opts"] = opts
    elif entry.network == "grpc":
        proxy["network"] = "grpc"
        proxy["grpc-opts"] = {"grpc-service-name": entry.service_name}
    elif entry.network == "xhttp":
        proxy["network"] = "xhttp"
        proxy["xhttp-opts"] = _xhttp_opts(entry)
    elif entry.header_type == "http":
        opts = {"path": [entry.path or "/"]}
        if entry.host_header:
            opts["headers"] = {"Host": [entry.host_header]}
        proxy["network"] = "http"
        proxy["http-opts"] = opts
    else:
        proxy["network"] = "tcp"


def clash_proxy(entry: FeedEntry) -> dict[str, Any]:
    """One ``type: vless`` proxy (docs/config/proxies/vless.en.md); check the entry with
    ``clash_unsupported_reason`` first."""
    proxy: dict[str, Any] = {
        "name": entry.name,
        "type": "vless",
        "server": entry.host,
        "port": entry.port,
        "uuid": entry.uuid,
        "udp": True,
    }
    if entry.flow:
        proxy["flow"] = FLOW_VISION  # the only flow mihomo has; it is the udp443 one
    if entry.encryption != "none":
        proxy["encryption"] = entry.encryption
    if entry.security != "none":
        proxy["tls"] = True
        if entry.sni:
            proxy["servername"] = entry.sni
        if entry.alpn:
            proxy["alpn"] = list(entry.alpn)
        if entry.fingerprint:
            proxy["client-fingerprint"] = entry.fingerprint
    if entry.security == "reality":
        proxy["reality-opts"] = {"public-key": entry.public_key, "short-id": entry.short_id}
    _transport(entry, proxy)
    return proxy


def clash_entries(links: list[str]) -> list[FeedEntry]:
    """The entries of ``links`` mihomo can carry, uniquely named; the others are logged."""
    return entries_for_format(
        links,
        format_name="clash",
        unsupported_reason=clash_unsupported_reason,
        reserved=BUILT_IN | {SELECT_GROUP, URLTEST_GROUP},
    )


def clash_config_build(*, links: list[str]) -> dict[str, Any]:
    """A Clash/mihomo profile (``proxies``, ``proxy-groups``, ``rules``) for ``links``."""
    entries = clash_entries(links)
    names = [entry.name for entry in entries]
    groups: list[dict[str, Any]] = []
    if len(names) > 1:
        groups.append({"name": SELECT_GROUP, "type": "select", "proxies": [URLTEST_GROUP, *names]})
        groups.append(
            {
                "name": URLTEST_GROUP,
                "type": "url-test",
                "proxies": names,
                "url": URLTEST_URL,
                "interval": URLTEST_INTERVAL,
            }
        )
    else:
        groups.append({"name": SELECT_GROUP, "type": "select", "proxies": names or ["REJECT"]})
    return {
        "mode": "rule",
        "proxies": [clash_proxy(entry) for entry in entries],
        "proxy-groups": groups,
        "rules": [f"MATCH,{SELECT_GROUP}"],
    }


# Plain scalars that a YAML 1.2 reader (mihomo uses Go's yaml.v3) takes for something other
# than a string, beyond what PyYAML (YAML 1.1) already quotes: "0o17", "1e5", ".5", "+1".
_YAML12_NOT_STRING = re.compile(
    r"[-+]?(?:[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)"
    r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|null|Null|NULL|~|true|True|TRUE|false|False|FALSE"
)


# libyaml's emitter, part of PyYAML's wheels; the pure-Python one where PyYAML was built
# without it.
_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _ProfileDumper(_SafeDumper):
    """PyYAML's SafeDumper on libyaml's emitter (a quarter of the pure-Python one's CPU per
    profile), quoting every string a YAML 1.1 or 1.2 reader could take as a number, a boolean
    or null (a short id "12e4" must reach mihomo as a string)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _YAML12_NOT_STRING.fullmatch(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_ProfileDumper.add_representer(str, _represent_str)


def clash_yaml_render(*, links: list[str]) -> str:
    """``clash_config_build`` as UTF-8 YAML text, key order kept."""
    return yaml.dump(
        clash_config_build(links=links),
        Dumper=_ProfileDumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=1_000_000,
    )
