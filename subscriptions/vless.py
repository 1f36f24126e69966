"""VLESS share links (``vless://``), built the way 3x-ui's subscription service builds them.

Why this module exists: a subscriber's app must import *our* links exactly as it would import
links fetched from the node's own 3x-ui ``/sub/`` endpoint, so every query parameter, its
encoding and the remark encoding follow 3x-ui's Go generator (``internal/sub/service.go``
``genVlessLink`` and its ``applyShare*Params`` helpers; see docs/x3ui.md "Links and feed").

Deliberate differences from 3x-ui, all in favour of a pure, deterministic function:

- 3x-ui's Go code picks a *random* reality ``serverNames``/``shortIds`` entry on every fetch;
  we take the first one, like 3x-ui's own panel UI ("Copy URL") does. Either is valid.
- ``spx`` uses 3x-ui v3.5+'s deterministic derivation (``spider_x_derive``). When neither a
  spiderX seed nor a client key is known we omit ``spx`` (the panel UI's behaviour) instead of
  drawing a random path.
- ``externalProxy`` fan-out is not done here: the caller passes the public host/port it wants in
  the link (a ``Node`` knows its own), so one call builds one link.
- Where 3x-ui would panic, emit garbage or silently drop a key the client needs, we raise
  ``VlessLinkError`` instead.

No Django imports: this is plain data in, string out.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import re
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote

FLOW_VISION = "xtls-rprx-vision"
# Flows Xray accepts for a VLESS client; anything else would make the link unusable.
_KNOWN_FLOWS = frozenset({"", FLOW_VISION, "xtls-rprx-vision-udp443"})

SUPPORTED_NETWORKS = frozenset({"tcp", "ws", "grpc", "httpupgrade", "xhttp"})
SUPPORTED_SECURITIES = frozenset({"none", "tls", "reality"})

_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
# Characters that would change the meaning of the authority part of a URL.
_HOST_FORBIDDEN_RE = re.compile(r"[\s/?#@\[\]\\%:]")

# xhttp fields 3x-ui copies into the ``extra`` JSON when they are non-empty strings, and the
# values it filters out because they equal xray-core's defaults (HEAD ``buildXhttpExtra``).
_XHTTP_EXTRA_STRING_FIELDS = (
    "uplinkHTTPMethod",
    "sessionPlacement",
    "sessionKey",
    "seqPlacement",
    "seqKey",
    "uplinkDataPlacement",
    "uplinkDataKey",
    "scMaxEachPostBytes",
    "scMinPostsIntervalMs",
)
_XHTTP_CORE_DEFAULTS = {"scMaxEachPostBytes": "1000000", "scMinPostsIntervalMs": "30"}
_XHTTP_PADDING_OBFS_FIELDS = (
    "xPaddingKey",
    "xPaddingHeader",
    "xPaddingPlacement",
    "xPaddingMethod",
)

# finalmask mask types 3x-ui keeps when exporting the ``fm`` parameter.
_FINALMASK_TCP_TYPES = frozenset({"header-custom", "fragment", "sudoku"})
_FINALMASK_UDP_TYPES = frozenset(
    {"salamander", "mkcp-legacy", "xdns", "xicmp", "noise", "header-custom", "realm"}
)


class VlessLinkError(ValueError):
    """Raised instead of returning a link a client could not use (or could not parse)."""


def stream_settings_parse(value: str | dict | None) -> dict:
    """Return an inbound's ``streamSettings`` as a dict, whatever form the panel used.

    Panels ≤ v3.0.2 return it as a (pretty-printed) JSON string, ≥ v3.1.0 as an embedded
    object (docs/x3ui.md), and we cache whichever we got. ``None`` or an empty string means
    "no stream settings" and yields ``{}``. The result is a deep copy so callers may mutate it.
    """
    if value is None:
        return {}
    if isinstance(value, dict):
        return copy.deepcopy(value)
    if not isinstance(value, str):
        raise VlessLinkError(
            f"stream settings must be a JSON string or an object, not {type(value).__name__}"
        )
    if not value.strip():
        return {}
    try:
        parsed = json.loads(value)
        # Tolerate one level of double encoding (a JSON string holding the JSON text).
        if isinstance(parsed, str):
            parsed = json.loads(parsed)
    except json.JSONDecodeError as exc:
        raise VlessLinkError(f"stream settings are not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise VlessLinkError("stream settings JSON must be an object")
    return parsed


def _protocol_settings_parse(value: str | dict | None) -> dict:
    """Inbound ``settings`` come in the same two shapes as ``streamSettings``."""
    try:
        return stream_settings_parse(value)
    except VlessLinkError as exc:
        raise VlessLinkError(str(exc).replace("stream settings", "protocol settings")) from exc


def _search_key(data: Any, key: str) -> tuple[Any, bool]:
    """Depth-first key lookup, like 3x-ui's ``searchKey`` (it tolerates nesting variations)."""
    if isinstance(data, dict):
        if key in data:
            return data[key], True
        for child in data.values():
            found, ok = _search_key(child, key)
            if ok:
                return found, True
    elif isinstance(data, list):
        for child in data:
            found, ok = _search_key(child, key)
            if ok:
                return found, True
    return None, False


def _search_host(headers: Any) -> str:
    """First value of a case-insensitive ``Host`` header, like 3x-ui's ``searchHost``."""
    if not isinstance(headers, dict):
        return ""
    for name, value in headers.items():
        if str(name).lower() != "host":
            continue
        if isinstance(value, list):
            return value[0] if value and isinstance(value[0], str) else ""
        if isinstance(value, str):
            return value
    return ""


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)]


def _go_json_normalise(value: Any) -> Any:
    """Make Python's JSON output match Go's for numbers that are whole floats (Go: ``1``)."""
    if isinstance(value, dict):
        return {key: _go_json_normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_go_json_normalise(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def _go_json_marshal(value: Any) -> str:
    """Compact JSON with sorted keys and HTML-safe escapes, as Go's ``json.Marshal`` writes it."""
    text = json.dumps(
        _go_json_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _go_query_encode(params: dict[str, str]) -> str:
    """Go ``url.Values.Encode()``: keys sorted, ``QueryEscape`` on both sides (space → ``+``)."""
    return "&".join(
        f"{quote_plus(key, safe='')}={quote_plus(params[key], safe='')}" for key in sorted(params)
    )


def _fragment_escape(remark: str) -> str:
    """3x-ui v3.2+ remark encoding: ``QueryEscape`` with ``+`` → ``%20`` (= encodeURIComponent
    minus ``!'()*``), so ``@``, ``|``, ``+`` and every non-ASCII byte are percent-encoded."""
    return quote(remark, safe="")


def spider_x_derive(*, seed: str, client_key: str) -> str:
    """Per-client reality ``spx`` as 3x-ui v3.5+ derives it (``deriveSpiderX``).

    ``"/" + sha256(seed + "|" + client_key)[:15]`` in hex; a query part of the seed (xray's
    spider settings ``p``, ``c``, ``t``, ``i``, ``r``) is carried over. ``client_key`` is the
    client's subId, else its email. Stable per client, so links don't churn on every fetch.
    Returns ``""`` when there is nothing to derive from; the caller then omits ``spx``.
    """
    if not seed and not client_key:
        return ""
    digest = hashlib.sha256(f"{seed}|{client_key}".encode()).hexdigest()[:15]
    _, has_query, query = seed.partition("?")
    return f"/{digest}?{query}" if has_query and query else f"/{digest}"


def _path_and_host(settings: dict, params: dict[str, str]) -> None:
    # ws / httpupgrade / xhttp: ``host`` is emitted even when empty (3x-ui does).
    params["path"] = _as_str(settings.get("path"))
    host = _as_str(settings.get("host"))
    params["host"] = host or _search_host(settings.get("headers"))


def _xhttp_extra(xhttp: dict) -> dict[str, Any]:
    """The bidirectional xhttp settings 3x-ui packs into ``extra`` (HEAD ``buildXhttpExtra``)."""
    extra: dict[str, Any] = {}
    mode = _as_str(xhttp.get("mode"))
    if mode:
        extra["mode"] = mode
    padding = _as_str(xhttp.get("xPaddingBytes"))
    if padding:
        extra["xPaddingBytes"] = padding
    if xhttp.get("xPaddingObfsMode") is True:
        extra["xPaddingObfsMode"] = True
        for field in _XHTTP_PADDING_OBFS_FIELDS:
            text = _as_str(xhttp.get(field))
            if text:
                extra[field] = text
    for field in _XHTTP_EXTRA_STRING_FIELDS:
        text = _as_str(xhttp.get(field))
        if text and text != _XHTTP_CORE_DEFAULTS.get(field):
            extra[field] = text
    chunk = xhttp.get("uplinkChunkSize")
    if isinstance(chunk, str | int | float) and not isinstance(chunk, bool) and chunk:
        extra["uplinkChunkSize"] = chunk
    if xhttp.get("noGRPCHeader") is True:
        extra["noGRPCHeader"] = True
    for field in ("xmux", "downloadSettings"):
        value = xhttp.get(field)
        if isinstance(value, dict | list) and value:
            extra[field] = value
    headers = xhttp.get("headers")
    if isinstance(headers, dict):
        # ``host`` is a top-level URL parameter already; 3x-ui drops it from ``extra``.
        kept = {name: value for name, value in headers.items() if str(name).lower() != "host"}
        if kept:
            extra["headers"] = kept
    return extra


def _network_params(stream: dict, network: str, params: dict[str, str]) -> None:
    if network == "tcp":
        header = _as_dict(_as_dict(stream.get("tcpSettings")).get("header"))
        if header.get("type") != "http":
            return
        # HTTP header obfuscation: first request path, a Host (3x-ui looks at the response
        # headers first, then the request headers) and headerType=http.
        request = _as_dict(header.get("request"))
        paths = _string_list(request.get("path"))
        if paths:
            params["path"] = paths[0]
        host = _search_host(_as_dict(header.get("response")).get("headers"))
        params["host"] = host or _search_host(request.get("headers"))
        params["headerType"] = "http"
    elif network == "ws":
        _path_and_host(_as_dict(stream.get("wsSettings")), params)
    elif network == "httpupgrade":
        _path_and_host(_as_dict(stream.get("httpupgradeSettings")), params)
    elif network == "grpc":
        grpc = _as_dict(stream.get("grpcSettings"))
        params["serviceName"] = _as_str(grpc.get("serviceName"))
        params["authority"] = _as_str(grpc.get("authority"))  # emitted even when empty
        if grpc.get("multiMode") is True:
            params["mode"] = "multi"
    elif network == "xhttp":
        xhttp = stream.get("xhttpSettings")
        if not isinstance(xhttp, dict):
            return  # 3x-ui emits nothing beyond type=xhttp without xhttpSettings
        _path_and_host(xhttp, params)
        mode = xhttp.get("mode")
        if isinstance(mode, str):
            params["mode"] = mode
        padding = _as_str(xhttp.get("xPaddingBytes"))
        if padding:
            params["x_padding_bytes"] = padding  # flat form for sing-box-family clients
        extra = _xhttp_extra(xhttp)
        if extra:
            params["extra"] = _go_json_marshal(extra)


def _finalmask_masks(finalmask: dict, side: str, valid: frozenset[str]) -> list[dict]:
    masks = []
    for raw in finalmask.get(side) or []:
        if not isinstance(raw, dict):
            continue
        mask_type = _as_str(raw.get("type"))
        if mask_type not in valid:
            continue
        mask: dict[str, Any] = {"type": mask_type}
        settings = raw.get("settings")
        if isinstance(settings, dict) and settings:
            mask["settings"] = settings
        masks.append(mask)
    return masks


def _has_content(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value)
    if isinstance(value, dict):
        return any(_has_content(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_content(item) for item in value)
    return True


def _finalmask_param(stream: dict, params: dict[str, str]) -> None:
    """HEAD exports ``streamSettings.finalmask`` as ``fm=<json>`` (v2rayN-compatible)."""
    finalmask = stream.get("finalmask")
    if not isinstance(finalmask, dict):
        return
    normalised: dict[str, Any] = {}
    tcp = _finalmask_masks(finalmask, "tcp", _FINALMASK_TCP_TYPES)
    udp = _finalmask_masks(finalmask, "udp", _FINALMASK_UDP_TYPES)
    if tcp:
        normalised["tcp"] = tcp
    if udp:
        normalised["udp"] = udp
    quic = finalmask.get("quicParams")
    if isinstance(quic, dict) and quic:
        normalised["quicParams"] = quic
    if _has_content(normalised):
        params["fm"] = _go_json_marshal(normalised)


def _tls_params(stream: dict, params: dict[str, str]) -> None:
    params["security"] = "tls"
    tls = _as_dict(stream.get("tlsSettings"))
    alpn = _string_list(tls.get("alpn"))
    if alpn:
        params["alpn"] = ",".join(alpn)
    if "serverName" in tls:
        params["sni"] = _as_str(tls["serverName"])  # 3x-ui emits it even when empty
    client, _ = _search_key(tls, "settings")
    fingerprint, found = _search_key(client, "fingerprint")
    if found:
        params["fp"] = _as_str(fingerprint)  # likewise emitted when present but empty
    ech = _as_str(_search_key(client, "echConfigList")[0])
    if ech:
        params["ech"] = ech
    verify_name = _as_str(_search_key(client, "verifyPeerCertByName")[0]).strip()
    if verify_name:
        params["vcn"] = verify_name
    pins = [pin for pin in _string_list(_search_key(client, "pinnedPeerCertSha256")[0]) if pin]
    if pins:
        params["pcs"] = ",".join(pins)
    # allowInsecure: emitted as allowInsecure=1 only by ≤ v2.8.9; current 3x-ui drops it.


def _reality_params(stream: dict, params: dict[str, str], client_key: str) -> None:
    params["security"] = "reality"
    reality = stream.get("realitySettings")
    if not isinstance(reality, dict):
        raise VlessLinkError("security is reality but realitySettings is missing")
    client = _as_dict(reality.get("settings"))

    public_key = _as_str(client.get("publicKey") or reality.get("publicKey"))
    if not public_key:
        raise VlessLinkError("reality settings have no publicKey (pbk)")
    server_names = [name for name in _string_list(reality.get("serverNames")) if name]
    if not server_names:
        raise VlessLinkError("reality settings have no serverNames (sni)")
    if not isinstance(reality.get("shortIds"), list) or not reality["shortIds"]:
        raise VlessLinkError("reality settings have no shortIds (sid)")
    short_ids = _string_list(reality["shortIds"])
    if not short_ids:
        raise VlessLinkError("reality shortIds are not strings")

    params["pbk"] = public_key
    params["sni"] = server_names[0]
    params["sid"] = short_ids[0]  # "" is a valid shortId; 3x-ui emits sid= for it
    fingerprint = _as_str(client.get("fingerprint"))
    if fingerprint:
        params["fp"] = fingerprint
    pqv = _as_str(client.get("mldsa65Verify"))
    if pqv:
        params["pqv"] = pqv
    spx = spider_x_derive(seed=_as_str(client.get("spiderX")), client_key=client_key)
    if spx:
        params["spx"] = spx


def _vless_encryption_enabled(settings: dict) -> bool:
    for key in ("encryption", "decryption"):
        value = settings.get(key)
        if isinstance(value, str) and value not in ("", "none"):
            return True
    return False


def _flow_allowed(network: str, security: str, settings: dict) -> bool:
    """3x-ui's ``vlessFlowAllowed``: Vision on tcp+tls/reality, or xhttp with VLESS encryption."""
    if network == "tcp":
        return security in ("tls", "reality")
    if network == "xhttp":
        return _vless_encryption_enabled(settings)
    return False


def _host_checked(host: str) -> str:
    """Return the host as it goes into the authority: IPv6 bracketed (``net.JoinHostPort``)."""
    if not isinstance(host, str):
        raise VlessLinkError("host must be a string")
    bare = host.strip().strip("[]")
    if not bare:
        raise VlessLinkError("host is empty")
    if ":" in bare:
        try:
            ipaddress.IPv6Address(bare)
        except ValueError as exc:
            raise VlessLinkError(f"host {host!r} is neither a hostname nor an IP") from exc
        return f"[{bare}]"
    if _HOST_FORBIDDEN_RE.search(bare):
        raise VlessLinkError(f"host {host!r} contains characters not allowed in a host")
    return bare


def _port_checked(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise VlessLinkError(f"port must be an integer in 1..65535, not {port!r}")
    return port


def vless_link_build(
    *,
    client_uuid: str,
    host: str,
    port: int,
    stream_settings: dict | str | None,
    remark: str,
    flow: str = "",
    protocol_settings: dict | str | None = None,
    client_key: str = "",
) -> str:
    """Build ``vless://uuid@host:port?query#remark`` with the parameters 3x-ui emits.

    ``stream_settings`` is the inbound's ``streamSettings`` (dict or JSON string);
    ``protocol_settings`` its ``settings`` (only ``encryption``/``decryption`` are read: 3x-ui
    emits ``encryption=<value>`` whenever the key exists, which v2.7+ panels always write).
    ``flow`` is the client's flow; it is emitted only where 3x-ui emits it. ``client_key``
    seeds the reality ``spx``: pass the panel client's subId (3x-ui's choice; ours is per
    node, ``nodes.services.keys.key_sub_id``), else its email. ``remark`` is used verbatim
    (``subscriptions.selectors.node_place``: what client apps show as the server's name);
    empty means no fragment.

    Query keys are sorted and escaped like Go's ``url.Values.Encode``, so for the same inputs
    the link is byte-identical to 3x-ui v3.5+'s subscription output (3x-ui picks a random
    reality serverName/shortId where we take the first; with one of each they agree).
    """
    if not isinstance(client_uuid, str) or not _UUID_RE.match(client_uuid):
        raise VlessLinkError(f"client uuid {client_uuid!r} is not a UUID")
    if not isinstance(flow, str) or flow not in _KNOWN_FLOWS:
        raise VlessLinkError(f"unsupported VLESS flow {flow!r}")
    if not isinstance(remark, str):
        raise VlessLinkError("remark must be a string")
    authority = f"{_host_checked(host)}:{_port_checked(port)}"

    stream = stream_settings_parse(stream_settings)
    settings = _protocol_settings_parse(protocol_settings)

    network = stream.get("network")
    if not isinstance(network, str) or not network:
        raise VlessLinkError("stream settings have no network")
    if network not in SUPPORTED_NETWORKS:
        raise VlessLinkError(
            f"unsupported network {network!r}; supported: {', '.join(sorted(SUPPORTED_NETWORKS))}"
        )
    security = stream.get("security") or "none"  # 3x-ui treats a missing security as none
    if not isinstance(security, str) or security not in SUPPORTED_SECURITIES:
        raise VlessLinkError(
            f"unsupported security {security!r}; "
            f"supported: {', '.join(sorted(SUPPORTED_SECURITIES))}"
        )

    params: dict[str, str] = {"type": network}
    encryption = settings.get("encryption")
    if isinstance(encryption, str):
        params["encryption"] = encryption
    _network_params(stream, network, params)
    _finalmask_param(stream, params)
    if security == "tls":
        _tls_params(stream, params)
    elif security == "reality":
        _reality_params(stream, params, client_key)
    else:
        params["security"] = "none"
    if flow and _flow_allowed(network, security, settings):
        params["flow"] = flow

    link = f"vless://{client_uuid}@{authority}?{_go_query_encode(params)}"
    if remark:
        link += f"#{_fragment_escape(remark)}"
    return link


def vless_link_parse(link: str) -> tuple[str, str, int, dict[str, str], str]:
    """Split a ``vless://`` link into ``(uuid, host, port, query, remark)``, all decoded.

    The host comes back without IPv6 brackets and the remark percent-decoded (``+`` stays a
    plus sign, as in both old and new 3x-ui fragments). Tests compare these parts instead of
    raw strings, since equivalent links differ in order and escaping between 3x-ui versions;
    the feed uses it to refuse anything that is not a well-formed VLESS link.
    """
    if not isinstance(link, str):
        raise VlessLinkError("link must be a string")
    scheme, sep, rest = link.strip().partition("://")
    if not sep or scheme.lower() != "vless":
        raise VlessLinkError(f"not a vless:// link: {link[:40]!r}")
    rest, _, fragment = rest.partition("#")
    authority, _, query = rest.partition("?")
    authority = authority.rstrip("/")  # some generators write host:port/?query
    userinfo, at, hostport = authority.rpartition("@")
    if not at or not userinfo:
        raise VlessLinkError("vless link has no user id")
    if hostport.startswith("["):
        host, closed, after = hostport[1:].partition("]")
        if not closed or not after.startswith(":"):
            raise VlessLinkError("vless link has a malformed IPv6 host or no port")
        port_text = after[1:]
    else:
        host, colon, port_text = hostport.rpartition(":")
        if not colon:
            raise VlessLinkError("vless link has no port")
    if not host:
        raise VlessLinkError("vless link has no host")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise VlessLinkError(f"vless link has an invalid port {port_text!r}")

    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in params:
            raise VlessLinkError(f"vless link repeats query parameter {key!r}")
        params[key] = value
    return unquote(userinfo), host, int(port_text), params, unquote(fragment)
