"""The mihomo configuration reference, written down for the tests of the Clash/mihomo profile.

Source: github.com/MetaCubeX/Meta-Docs (as of August 2026), docs/config/proxies/{index,vless,
tls,transport}.en.md, docs/config/proxy-groups/{select,url-test}.en.md and
docs/config/rules/index.en.md; rendered at https://wiki.metacubex.one/en/config/. A key this
table lacks, or a value of another type, fails ``assert_mihomo_profile``. There is no mihomo
binary on PyPI to run ``mihomo -t``.
"""

from __future__ import annotations

from subscriptions.feed_clash import SELECT_GROUP

STR, INT, BOOL, STRS = str, int, bool, "list[str]"

# mihomo's keys for a proxy and its option blocks, with their types (see the module docstring).
REFERENCE = {
    "proxy": {
        # index.en.md "Common fields"
        "name": STR,
        "type": STR,
        "server": STR,
        "port": INT,
        "udp": BOOL,
        # vless.en.md
        "uuid": STR,
        "flow": STR,
        "encryption": STR,
        "network": STR,
        # tls.en.md
        "tls": BOOL,
        "servername": STR,
        "alpn": STRS,
        "client-fingerprint": STR,
        "reality-opts": "reality-opts",
        # transport.en.md
        "ws-opts": "ws-opts",
        "grpc-opts": "grpc-opts",
        "http-opts": "http-opts",
        "xhttp-opts": "xhttp-opts",
    },
    "reality-opts": {"public-key": STR, "short-id": STR},
    "ws-opts": {"path": STR, "headers": "headers", "v2ray-http-upgrade": BOOL},
    "grpc-opts": {"grpc-service-name": STR},
    "http-opts": {"method": STR, "path": STRS, "headers": "list-headers"},
    "xhttp-opts": {
        "path": STR,
        "host": STR,
        "mode": STR,
        "headers": "headers",
        "no-grpc-header": BOOL,
        "x-padding-bytes": STR,
        "x-padding-obfs-mode": BOOL,
        "x-padding-key": STR,
        "x-padding-header": STR,
        "x-padding-placement": STR,
        "x-padding-method": STR,
        "uplink-http-method": STR,
        "session-placement": STR,
        "session-key": STR,
        "seq-placement": STR,
        "seq-key": STR,
        "uplink-data-placement": STR,
        "uplink-data-key": STR,
        "uplink-chunk-size": (STR, INT),
        "sc-max-each-post-bytes": (STR, INT),
        "sc-min-posts-interval-ms": (STR, INT),
        "reuse-settings": "reuse-settings",
    },
    "reuse-settings": {
        "max-concurrency": (STR, INT),
        "max-connections": (STR, INT),
        "c-max-reuse-times": (STR, INT),
        "h-max-request-times": (STR, INT),
        "h-max-reusable-secs": (STR, INT),
        "h-keep-alive-period": INT,
    },
    "group": {"name": STR, "type": STR, "proxies": STRS, "url": STR, "interval": INT},
}
NETWORKS = {"tcp", "ws", "http", "h2", "grpc", "xhttp"}  # vless.en.md "network"
XHTTP_MODES = {"auto", "stream-one", "stream-up", "packet-up"}
REQUIRED = {"name", "type", "server", "port", "uuid"}


def _conforms(value, kind, where: str) -> None:
    if kind == STRS:
        assert isinstance(value, list), where
        assert all(isinstance(item, str) for item in value), where
    elif kind == "headers":
        assert isinstance(value, dict), where
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()), where
    elif kind == "list-headers":
        assert isinstance(value, dict), where
        for name, items in value.items():
            _conforms(items, STRS, f"{where}.{name}")
    elif isinstance(kind, str):  # a nested block
        assert isinstance(value, dict), where
        for key, item in value.items():
            assert key in REFERENCE[kind], f"{where}.{key} is not in mihomo's reference"
            _conforms(item, REFERENCE[kind][key], f"{where}.{key}")
    else:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        assert isinstance(value, kinds), f"{where}: {value!r} is not {kinds}"
        if bool not in kinds:
            assert not isinstance(value, bool), where


def assert_mihomo_profile(config: dict) -> None:
    """The profile as the reference describes it: proxies, groups, rules, names resolving."""
    assert set(config) == {"mode", "proxies", "proxy-groups", "rules"}
    assert config["mode"] == "rule"
    names = []
    for proxy in config["proxies"]:
        assert set(proxy) >= REQUIRED, proxy
        assert proxy["type"] == "vless"
        assert proxy.get("network", "tcp") in NETWORKS
        _conforms(proxy, "proxy", proxy["name"])
        names.append(proxy["name"])
    groups = [group["name"] for group in config["proxy-groups"]]
    assert len(set(names + groups)) == len(names) + len(groups), "names must be unique"
    for group in config["proxy-groups"]:
        _conforms(group, "group", group["name"])
        assert group["type"] in {"select", "url-test"}
        for member in group["proxies"]:
            assert member in names or member in groups or member == "REJECT", member
    assert config["rules"] == [f"MATCH,{SELECT_GROUP}"]
