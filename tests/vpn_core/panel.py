"""The simulated 3x-ui panel's inbound as a VPN server: 3x-ui/Xray inbound settings and the
clients the panel would hand to Xray, translated into a sing-box VLESS inbound.

What a 3x-ui panel runs is its Xray config, built by ``GetXrayConfig``
(github.com/MHSanaei/3x-ui; from v3.1.0 from the ``clients`` table rows attached to the
inbound, v3.6.0:internal/web/service/xray.go:168-262; up to v3.0.x from ``settings.clients``,
v2.8.3:web/service/xray.go:109-161): a
disabled inbound is left out; a client whose ``client_traffics`` row or own ``enable`` is false
is left out (expired or over its limit); a client keeps ``email``, ``id`` and ``flow``, with
``xtls-rprx-vision-udp443`` written as ``xtls-rprx-vision``. :func:`panel_xray_clients` does the
same on the simulator's stored state, so a key our expiry path disabled disappears from the
server exactly as it would from a real panel's Xray.

Stream settings are read as 3x-ui stores them (v3.6.0 ``frontend/src/schemas/protocols/
stream/{ws,grpc,httpupgrade}.ts`` and ``security/tls.ts``) and mapped onto sing-box's options
(https://sing-box.sagernet.org/configuration/inbound/vless/, ``shared/tls/#inbound``,
``shared/v2ray-transport/``): ``wsSettings.path`` -> ``ws.path``; ``httpupgradeSettings``
``path``/``host`` -> ``httpupgrade.path``/``host`` (the server verifies the host);
``grpcSettings.serviceName`` -> ``grpc.service_name``; ``tlsSettings`` ``serverName``,
``alpn``, ``minVersion``/``maxVersion`` and ``certificates`` (inline ``certificate``/``key``
line arrays, or ``certificateFile``/``keyFile``) -> ``tls``. Anything else (REALITY, raw TCP
with an HTTP header, xhttp, VLESS encryption) raises :class:`Untranslatable`: the test then
fails instead of running a server that differs from the panel.
"""

from __future__ import annotations

import json
from typing import Any

VISION = "xtls-rprx-vision"


class Untranslatable(AssertionError):
    """An inbound setting this harness cannot reproduce with sing-box."""


def _as_dict(value: Any) -> dict[str, Any]:
    """Legacy panels keep ``settings``/``streamSettings`` as JSON text, v3.1+ as objects."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    return value if isinstance(value, dict) else {}


def panel_inbound(sim, inbound_id: int) -> dict[str, Any]:
    """The simulator's stored inbound (a copy), settings parsed."""
    snapshot = sim.snapshot()
    for stored in snapshot["inbounds"]:
        if int(stored["id"]) == int(inbound_id):
            inbound = dict(stored)
            inbound["settings"] = _as_dict(inbound.get("settings"))
            inbound["streamSettings"] = _as_dict(inbound.get("streamSettings"))
            return inbound
    raise KeyError(f"the panel has no inbound {inbound_id}")


def panel_xray_clients(sim, inbound_id: int) -> list[dict[str, str]]:
    """The VLESS clients 3x-ui would put into Xray for this inbound (``GetXrayConfig``)."""
    snapshot = sim.snapshot()
    inbound = panel_inbound(sim, inbound_id)
    if not inbound.get("enable", True):
        return []
    traffic_enabled = {
        row["email"]: bool(row.get("enable", True)) for row in snapshot["traffic"].values()
    }
    if snapshot["generation"] == "v3":
        candidates = [
            {"email": r["email"], "id": r["uuid"], "flow": r.get("flow", ""), "enable": r["enable"]}
            for r in snapshot["records"]
            if int(inbound_id) in (r.get("inboundIds") or [])
        ]
    else:
        candidates = list(inbound["settings"].get("clients") or [])
    clients = []
    for client in candidates:
        email = str(client.get("email", ""))
        if not traffic_enabled.get(email, True) or client.get("enable") is False:
            continue
        flow = str(client.get("flow") or "")
        clients.append(
            {
                "email": email,
                "id": str(client.get("id") or ""),
                "flow": VISION if flow == "xtls-rprx-vision-udp443" else flow,
            }
        )
    return clients


def _transport(stream: dict[str, Any]) -> dict[str, Any] | None:
    network = stream.get("network") or "tcp"
    if network in ("tcp", "raw"):
        header = _as_dict(_as_dict(stream.get("tcpSettings")).get("header"))
        if header.get("type", "none") != "none":
            raise Untranslatable(f"raw TCP with a {header.get('type')!r} header")
        return None
    if network == "ws":
        ws = _as_dict(stream.get("wsSettings"))
        return {"type": "ws", "path": ws.get("path") or "/"}
    if network == "httpupgrade":
        upgrade = _as_dict(stream.get("httpupgradeSettings"))
        transport = {"type": "httpupgrade", "path": upgrade.get("path") or "/"}
        if upgrade.get("host"):
            transport["host"] = upgrade["host"]
        return transport
    if network == "grpc":
        grpc = _as_dict(stream.get("grpcSettings"))
        return {"type": "grpc", "service_name": grpc.get("serviceName") or ""}
    raise Untranslatable(f"network {network!r}")


def _tls(stream: dict[str, Any]) -> dict[str, Any] | None:
    security = stream.get("security") or "none"
    if security == "none":
        return None
    if security != "tls":
        raise Untranslatable(
            f"security {security!r} (REALITY needs uTLS on the client; this build has none)"
        )
    settings = _as_dict(stream.get("tlsSettings"))
    certificates = settings.get("certificates") or []
    if len(certificates) != 1:
        raise Untranslatable("TLS with other than one certificate")
    certificate = certificates[0]
    tls: dict[str, Any] = {"enabled": True}
    if settings.get("serverName"):
        tls["server_name"] = settings["serverName"]
    if settings.get("alpn"):
        tls["alpn"] = list(settings["alpn"])
    for ours, theirs in (("min_version", "minVersion"), ("max_version", "maxVersion")):
        if settings.get(theirs):
            tls[ours] = settings[theirs]
    if certificate.get("certificateFile"):
        tls["certificate_path"] = certificate["certificateFile"]
        tls["key_path"] = certificate["keyFile"]
    else:
        tls["certificate"] = list(certificate["certificate"])
        tls["key"] = list(certificate["key"])
    return tls


def singbox_server_inbound(sim, inbound_id: int, *, listen: str = "127.0.0.1") -> dict[str, Any]:
    """A sing-box ``vless`` inbound equal to what the panel's Xray serves on this inbound."""
    inbound = panel_inbound(sim, inbound_id)
    if inbound.get("protocol") != "vless":
        raise Untranslatable(f"protocol {inbound.get('protocol')!r}")
    decryption = inbound["settings"].get("decryption", "none")
    if decryption != "none":
        raise Untranslatable(f"VLESS decryption {decryption!r}")
    stream = inbound["streamSettings"]
    options: dict[str, Any] = {
        "type": "vless",
        "tag": f"panel-inbound-{inbound['id']}",
        "listen": listen,
        "listen_port": int(inbound["port"]),
        "users": [
            {"name": c["email"], "uuid": c["id"], "flow": c["flow"]}
            for c in panel_xray_clients(sim, inbound_id)
        ],
    }
    tls = _tls(stream)
    if tls:
        options["tls"] = tls
    transport = _transport(stream)
    if transport:
        options["transport"] = transport
    return options


def xray_stream_settings(network: str, security: str, *, tls=None) -> dict[str, Any]:
    """``streamSettings`` as 3x-ui v3.6.0's inbound form writes them (defaults from
    ``frontend/src/schemas/protocols/stream/*.ts`` and ``security/tls.ts``), with the paths,
    service name and hosts the tests look for; ``tls`` is a ``TlsMaterial`` stored inline."""
    stream: dict[str, Any] = {"network": network, "security": security, "externalProxy": []}
    if network == "tcp":
        stream["tcpSettings"] = {"acceptProxyProtocol": False, "header": {"type": "none"}}
    elif network == "ws":
        stream["wsSettings"] = {
            "acceptProxyProtocol": False,
            "path": "/vpn-ws",
            "host": "ws.vpn.test",
            "headers": {},
            "heartbeatPeriod": 0,
        }
    elif network == "httpupgrade":
        stream["httpupgradeSettings"] = {
            "acceptProxyProtocol": False,
            "path": "/vpn-upgrade",
            "host": "upgrade.vpn.test",
            "headers": {},
        }
    elif network == "grpc":
        stream["grpcSettings"] = {"serviceName": "vpn-grpc", "authority": "", "multiMode": False}
    else:
        raise ValueError(f"no test stream settings for {network!r}")
    if security == "tls":
        stream["tlsSettings"] = {
            "serverName": tls.server_name,
            "minVersion": "1.2",
            "maxVersion": "1.3",
            "cipherSuites": "",
            "rejectUnknownSni": False,
            "disableSystemRoot": False,
            "enableSessionResumption": False,
            "certificates": [
                {
                    "certificate": tls.certificate_lines,
                    "key": tls.key_lines,
                    "ocspStapling": 0,
                    "oneTimeLoading": False,
                    "usage": "encipherment",
                    "buildChain": False,
                }
            ],
            "alpn": ["h2", "http/1.1"],
            "echServerKeys": "",
            "settings": {
                "fingerprint": "chrome",
                "echConfigList": "",
                "pinnedPeerCertSha256": [],
                "verifyPeerCertByName": "",
            },
        }
    elif security != "none":
        raise ValueError(f"no test stream settings for security {security!r}")
    return stream
