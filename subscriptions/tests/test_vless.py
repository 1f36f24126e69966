"""VLESS share links against 3x-ui's own output (docs/x3ui.md "Links and feed").

Links are compared as parsed parts (uuid, host, port, query dict, remark), as the reference
asks, because equivalent links differ in order and escaping between 3x-ui versions. Where the
inputs fully determine the link we also check the exact string, which proves the Go
``url.Values.Encode`` ordering/escaping.
"""

from __future__ import annotations

import copy
import json
from urllib.parse import parse_qsl

import pytest

from subscriptions.vless import (
    FLOW_VISION,
    VlessLinkError,
    spider_x_derive,
    stream_settings_parse,
    vless_link_build,
    vless_link_parse,
)

UUID = "b831381d-6324-4d53-ad4f-8cda48b30811"
CHAR_UUID = "11111111-2222-4333-8444-555555555555"
SETTINGS = {"clients": [], "decryption": "none", "encryption": "none"}


def query_of(query: str) -> dict[str, str]:
    """A reference example's query string as a dict (each key appears once)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    assert len(pairs) == len(dict(pairs))
    return dict(pairs)


def build(stream: dict | str, **overrides) -> str:
    kwargs = {
        "client_uuid": UUID,
        "host": "vpn.example.com",
        "port": 443,
        "stream_settings": stream,
        "remark": "r",
        "protocol_settings": SETTINGS,
    }
    kwargs.update(overrides)
    return vless_link_build(**kwargs)


def query(link: str) -> dict[str, str]:
    return vless_link_parse(link)[3]


# docs/x3ui.md "Links and feed": the worked example, verbatim (privateKey elided).
REALITY_SETTINGS_JSON = (
    '{"clients":[{"id":"b831381d-6324-4d53-ad4f-8cda48b30811","flow":"xtls-rprx-vision",'
    '"email":"alice","limitIp":0,"totalGB":0,"expiryTime":0,"enable":true,"tgId":0,'
    '"subId":"k3vq9x2m7d1p0abc","reset":0}],"decryption":"none","encryption":"none"}'
)
REALITY_STREAM_JSON = """{"network":"tcp","security":"reality","externalProxy":[],
  "tcpSettings":{"acceptProxyProtocol":false,"header":{"type":"none"}},
  "realitySettings":{"show":false,"xver":0,"target":"www.microsoft.com:443",
    "serverNames":["www.microsoft.com"],"privateKey":"...","shortIds":["6ba85179e30d4fc2"],
    "settings":{"publicKey":"Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw","fingerprint":"chrome",
      "serverName":"","spiderX":"/","mldsa65Verify":""}}}"""
REALITY_EXPECTED = (
    "vless://b831381d-6324-4d53-ad4f-8cda48b30811@vpn.example.com:443?encryption=none"
    "&flow=xtls-rprx-vision&fp=chrome&pbk=Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw"
    "&security=reality&sid=6ba85179e30d4fc2&sni=www.microsoft.com&spx=%2F1bf33e5c73856dc"
    "&type=tcp#DE-Reality-alice"
)

TLS_SETTINGS = {
    "serverName": "cdn.example.com",
    "alpn": ["h2", "http/1.1"],
    "certificates": [{"certificateFile": "/c.pem", "keyFile": "/k.pem"}],
    "settings": {"fingerprint": "chrome"},
}
REALITY_SETTINGS = {
    "show": False,
    "serverNames": ["www.microsoft.com", "www.bing.com"],
    "privateKey": "priv",
    "shortIds": ["6ba85179e30d4fc2", "ab"],
    "settings": {"publicKey": "PBK", "fingerprint": "firefox", "spiderX": "/"},
}

NETWORK_SETTINGS = {
    "tcp": {"tcpSettings": {"acceptProxyProtocol": False, "header": {"type": "none"}}},
    "ws": {"wsSettings": {"path": "/vl", "host": "cdn.example.com", "headers": {}}},
    "grpc": {"grpcSettings": {"serviceName": "grpcsvc", "authority": "", "multiMode": False}},
    "httpupgrade": {"httpupgradeSettings": {"path": "/up", "host": "up.example.com"}},
    "xhttp": {"xhttpSettings": {"path": "/xh", "host": "xh.example.com", "mode": "auto"}},
}
NETWORK_PARAMS = {
    "tcp": {},
    "ws": {"path": "/vl", "host": "cdn.example.com"},
    "grpc": {"serviceName": "grpcsvc", "authority": ""},
    "httpupgrade": {"path": "/up", "host": "up.example.com"},
    "xhttp": {"path": "/xh", "host": "xh.example.com", "mode": "auto", "extra": '{"mode":"auto"}'},
}
SECURITY_SETTINGS = {
    "none": {},
    "tls": {"tlsSettings": TLS_SETTINGS},
    "reality": {"realitySettings": REALITY_SETTINGS},
}
SECURITY_PARAMS = {
    "none": {"security": "none"},
    "tls": {
        "security": "tls",
        "sni": "cdn.example.com",
        "alpn": "h2,http/1.1",
        "fp": "chrome",
    },
    "reality": {
        "security": "reality",
        "sni": "www.microsoft.com",
        "pbk": "PBK",
        "sid": "6ba85179e30d4fc2",
        "fp": "firefox",
        "spx": spider_x_derive(seed="/", client_key="sub1"),
    },
}


def stream_for(network: str, security: str) -> dict:
    stream = {"network": network, "security": security, "externalProxy": []}
    stream.update(copy.deepcopy(NETWORK_SETTINGS[network]))
    stream.update(copy.deepcopy(SECURITY_SETTINGS[security]))
    return stream


class TestReferenceExamples:
    def test_reality_example_head(self):
        """The main worked example: HEAD (v3.5+) output for alice, as /sub/ produces it."""
        settings = json.loads(REALITY_SETTINGS_JSON)
        client = settings["clients"][0]
        link = vless_link_build(
            client_uuid=client["id"],
            host="vpn.example.com",
            port=443,
            stream_settings=REALITY_STREAM_JSON,
            remark="DE-Reality-alice",
            flow=client["flow"],
            protocol_settings=REALITY_SETTINGS_JSON,
            client_key=client["subId"],
        )
        assert vless_link_parse(link) == vless_link_parse(REALITY_EXPECTED)
        assert link == REALITY_EXPECTED

    def test_reality_example_settings_as_objects(self):
        """v3.1+ panels return the same settings as objects; the link must not change."""
        link = vless_link_build(
            client_uuid=UUID,
            host="vpn.example.com",
            port=443,
            stream_settings=json.loads(REALITY_STREAM_JSON),
            remark="DE-Reality-alice",
            flow=FLOW_VISION,
            protocol_settings=json.loads(REALITY_SETTINGS_JSON),
            client_key="k3vq9x2m7d1p0abc",
        )
        assert link == REALITY_EXPECTED

    def test_reality_example_v27_to_v34_differs_only_in_spx(self):
        """v2.7 to v3.4 emit a random ``/`` + 15 alphanumerics; everything else is identical."""
        link = build(
            REALITY_STREAM_JSON,
            remark="DE-Reality-alice",
            flow=FLOW_VISION,
            client_key="some-other-client",
        )
        got = query(link)
        want = query(REALITY_EXPECTED)
        assert got.pop("spx") != want.pop("spx")
        assert got == want

    def test_reality_example_v26_has_no_encryption(self):
        """v2.6 panels write no ``encryption`` key, so the link has none."""
        settings = {"clients": [], "decryption": "none"}
        link = build(
            REALITY_STREAM_JSON,
            protocol_settings=settings,
            flow=FLOW_VISION,
            client_key="k3vq9x2m7d1p0abc",
        )
        want = query(REALITY_EXPECTED)
        del want["encryption"]
        assert query(link) == want
        assert "encryption" not in query(build(REALITY_STREAM_JSON, protocol_settings=None))

    def test_ws_tls_example(self):
        expected = (
            "alpn=h2%2Chttp%2F1.1&encryption=none&fp=chrome&host=cdn.example.com&path=%2Fvl"
            "&security=tls&sni=cdn.example.com&type=ws"
        )
        link = build(stream_for("ws", "tls"))
        assert query(link) == query_of(expected)
        assert link.split("?", 1)[1].split("#", 1)[0] == expected

    def test_grpc_no_tls_example(self):
        expected = "authority=&encryption=none&security=none&serviceName=grpcsvc&type=grpc"
        link = build(stream_for("grpc", "none"))
        assert query(link) == query_of(expected)
        assert link.split("?", 1)[1].split("#", 1)[0] == expected

    def test_characterization_tls_example(self):
        """3x-ui HEAD ``characterization_test.go``: tcp+tls with alpn, fp and a cert pin."""
        stream = {
            "network": "tcp",
            "security": "tls",
            "tcpSettings": {"header": {"type": "none"}},
            "tlsSettings": {
                "serverName": "sni1.example.com",
                "alpn": ["h3", "h2"],
                "settings": {"fingerprint": "firefox", "pinnedPeerCertSha256": ["UElO"]},
            },
        }
        expected = (
            "vless://11111111-2222-4333-8444-555555555555@cdn1.example.com:8443?alpn=h3%2Ch2"
            "&encryption=none&fp=firefox&pcs=UElO&security=tls&sni=sni1.example.com&type=tcp"
            "#char-R1-user"
        )
        link = build(
            stream, client_uuid=CHAR_UUID, host="cdn1.example.com", port=8443, remark="char-R1-user"
        )
        assert vless_link_parse(link) == vless_link_parse(expected)
        assert link == expected

    def test_spider_x_reference_vector(self):
        """3x-ui v3.5+: ``("/seed", "subAlice")`` → ``/c252fbc3ecd3e3c`` (frontend
        spider-x.test.ts)."""
        assert spider_x_derive(seed="/seed", client_key="subAlice") == "/c252fbc3ecd3e3c"


class TestSpiderX:
    @pytest.mark.parametrize(
        ("seed", "client_key", "want"),
        [
            ("/", "", "/d08ed99bd9afc60"),
            ("/seed?p=40-400&r=500-2000", "subAlice", "/09dd00b3f8c01f5?p=40-400&r=500-2000"),
            (
                "/?p=40-400&c=1-4&t=1-3&i=1500-6000&r=500-2000",
                "",
                "/ac2cb268d22908e?p=40-400&c=1-4&t=1-3&i=1500-6000&r=500-2000",
            ),
        ],
    )
    def test_upstream_vectors(self, seed, client_key, want):
        # The other vectors 3x-ui shares between its Go and TS tests.
        assert spider_x_derive(seed=seed, client_key=client_key) == want

    def test_nothing_to_derive_from_is_empty_and_spx_omitted(self):
        assert spider_x_derive(seed="", client_key="") == ""
        stream = stream_for("tcp", "reality")
        stream["realitySettings"]["settings"]["spiderX"] = ""
        assert "spx" not in query(build(stream))

    def test_stable_per_client_and_distinct_across_clients(self):
        stream = stream_for("tcp", "reality")
        alice = query(build(stream, client_key="subAlice"))["spx"]
        assert alice == query(build(stream, client_key="subAlice"))["spx"]
        assert alice != query(build(stream, client_key="subBob"))["spx"]

    def test_spider_settings_stay_inside_spx(self):
        stream = stream_for("tcp", "reality")
        stream["realitySettings"]["settings"]["spiderX"] = "/seed?p=40-400&r=500-2000"
        got = query(build(stream, client_key="subAlice"))
        assert got["spx"] == "/09dd00b3f8c01f5?p=40-400&r=500-2000"
        assert "p" not in got
        assert "r" not in got


class TestNetworkSecurityMatrix:
    @pytest.mark.parametrize("security", ["none", "tls", "reality"])
    @pytest.mark.parametrize("network", ["tcp", "ws", "grpc", "httpupgrade", "xhttp"])
    def test_every_combination(self, network, security):
        link = build(stream_for(network, security), flow=FLOW_VISION, client_key="sub1")
        uuid, host, port, params, remark = vless_link_parse(link)
        want = {"type": network, "encryption": "none"}
        want.update(NETWORK_PARAMS[network])
        want.update(SECURITY_PARAMS[security])
        if network == "tcp" and security in ("tls", "reality"):
            want["flow"] = FLOW_VISION
        assert (uuid, host, port, remark) == (UUID, "vpn.example.com", 443, "r")
        assert params == want

    @pytest.mark.parametrize("security", ["tls", "reality"])
    def test_flow_omitted_when_client_has_none(self, security):
        assert "flow" not in query(build(stream_for("tcp", security), flow=""))

    def test_missing_security_means_none(self):
        stream = stream_for("ws", "none")
        del stream["security"]
        assert query(build(stream))["security"] == "none"

    def test_query_keys_sorted(self):
        link = build(stream_for("xhttp", "reality"), client_key="k")
        keys = [pair.split("=", 1)[0] for pair in link.split("?", 1)[1].split("#")[0].split("&")]
        assert keys == sorted(keys)


class TestNetworks:
    def test_tcp_http_header_obfuscation(self):
        stream = stream_for("tcp", "none")
        stream["tcpSettings"]["header"] = {
            "type": "http",
            "request": {
                "version": "1.1",
                "method": "GET",
                "path": ["/first", "/second"],
                "headers": {"host": ["a.example.com", "b.example.com"], "User-Agent": ["x"]},
            },
            "response": {"version": "1.1", "status": "200", "headers": {}},
        }
        got = query(build(stream, flow=FLOW_VISION))
        assert got == {
            "type": "tcp",
            "encryption": "none",
            "headerType": "http",
            "path": "/first",
            "host": "a.example.com",
            "security": "none",
        }

    def test_tcp_http_header_host_from_response_first(self):
        # 3x-ui HEAD looks at the response headers before the request headers.
        stream = stream_for("tcp", "none")
        stream["tcpSettings"]["header"] = {
            "type": "http",
            "request": {"path": ["/"], "headers": {"Host": ["req.example.com"]}},
            "response": {"headers": {"Host": "resp.example.com"}},
        }
        assert query(build(stream))["host"] == "resp.example.com"

    @pytest.mark.parametrize(
        ("network", "key"), [("ws", "wsSettings"), ("httpupgrade", "httpupgradeSettings")]
    )
    def test_host_falls_back_to_headers_then_empty(self, network, key):
        stream = stream_for(network, "none")
        stream[key] = {"path": "/p", "host": "", "headers": {"HOST": "hdr.example.com"}}
        assert query(build(stream))["host"] == "hdr.example.com"
        stream[key] = {"path": "/p"}
        got = query(build(stream))
        assert got["host"] == ""  # emitted even when empty
        assert got["path"] == "/p"

    def test_grpc_multi_mode_and_authority(self):
        stream = stream_for("grpc", "tls")
        stream["grpcSettings"] = {
            "serviceName": "svc",
            "authority": "grpc.example.com",
            "multiMode": True,
        }
        got = query(build(stream))
        assert got["mode"] == "multi"
        assert got["authority"] == "grpc.example.com"
        assert got["serviceName"] == "svc"

    def test_xhttp_extra_padding_and_defaults(self):
        stream = stream_for("xhttp", "tls")
        stream["xhttpSettings"] = {
            "path": "/xh",
            "host": "",
            "headers": {"Host": "hdr.example.com", "X-Custom": "1"},
            "mode": "packet-up",
            "xPaddingBytes": "100-1000",
            "scMaxEachPostBytes": "1000000",  # xray-core default: filtered out
            "scMinPostsIntervalMs": "30",  # default and a DPI fingerprint: filtered out
            "scMaxBufferedPosts": 30,  # server-only: never exported
            "noSSEHeader": False,
            "noGRPCHeader": True,
            "uplinkChunkSize": 0,
            "sessionPlacement": "cookie",
            "xmux": {"maxConcurrency": "16-32", "cMaxReuseTimes": 0.0},
        }
        got = query(build(stream))
        assert got["path"] == "/xh"
        assert got["host"] == "hdr.example.com"
        assert got["mode"] == "packet-up"
        assert got["x_padding_bytes"] == "100-1000"
        assert json.loads(got["extra"]) == {
            "mode": "packet-up",
            "xPaddingBytes": "100-1000",
            "noGRPCHeader": True,
            "sessionPlacement": "cookie",
            "xmux": {"maxConcurrency": "16-32", "cMaxReuseTimes": 0},
            "headers": {"X-Custom": "1"},
        }
        # Go's json.Marshal: compact, sorted keys, whole floats without ".0".
        assert got["extra"] == (
            '{"headers":{"X-Custom":"1"},"mode":"packet-up","noGRPCHeader":true,'
            '"sessionPlacement":"cookie","xPaddingBytes":"100-1000",'
            '"xmux":{"cMaxReuseTimes":0,"maxConcurrency":"16-32"}}'
        )

    def test_xhttp_without_extras_has_no_extra(self):
        stream = stream_for("xhttp", "none")
        stream["xhttpSettings"] = {"path": "/", "host": "h", "mode": ""}
        got = query(build(stream))
        assert got["mode"] == ""  # 3x-ui copies mode whenever the key exists
        assert "extra" not in got
        assert "x_padding_bytes" not in got

    def test_xhttp_flow_only_with_vless_encryption(self):
        stream = stream_for("xhttp", "reality")
        assert "flow" not in query(build(stream, flow=FLOW_VISION, client_key="k"))
        enc = "mlkem768x25519plus.native.0rtt.abc"
        settings = {
            "clients": [],
            "decryption": "mlkem768x25519plus.native.600s.x",
            "encryption": enc,
        }
        got = query(build(stream, flow=FLOW_VISION, protocol_settings=settings, client_key="k"))
        assert got["flow"] == FLOW_VISION
        assert got["encryption"] == enc

    def test_finalmask_exported_as_fm(self):
        stream = stream_for("tcp", "tls")
        stream["finalmask"] = {
            "tcp": [
                {"type": "fragment", "settings": {"packets": "tlshello", "length": "100-200"}},
                {"type": "bogus"},
            ],
            "udp": [],
        }
        got = query(build(stream))
        assert json.loads(got["fm"]) == {
            "tcp": [{"type": "fragment", "settings": {"packets": "tlshello", "length": "100-200"}}]
        }
        stream["finalmask"] = {"tcp": [{"type": "bogus"}]}
        assert "fm" not in query(build(stream))


class TestSecurities:
    def test_tls_extras(self):
        stream = stream_for("tcp", "tls")
        stream["tlsSettings"]["settings"].update(
            {
                "echConfigList": "ECHCFG",
                "verifyPeerCertByName": " peer.example.com ",
                "pinnedPeerCertSha256": ["YWJj", "", "ZGVm"],
                "allowInsecure": True,
            }
        )
        got = query(build(stream))
        assert got["ech"] == "ECHCFG"
        assert got["vcn"] == "peer.example.com"
        assert got["pcs"] == "YWJj,ZGVm"
        assert "allowInsecure" not in got  # dropped by 3x-ui since v2.8.10

    def test_tls_minimal(self):
        stream = stream_for("ws", "tls")
        stream["tlsSettings"] = {"certificates": []}
        got = query(build(stream))
        assert got["security"] == "tls"
        for key in ("sni", "fp", "alpn", "ech", "vcn", "pcs"):
            assert key not in got

    def test_tls_present_but_empty_fields_are_emitted(self):
        # 3x-ui copies serverName/fingerprint whenever the key exists, even if empty.
        stream = stream_for("ws", "tls")
        stream["tlsSettings"] = {"serverName": "", "alpn": [], "settings": {"fingerprint": ""}}
        got = query(build(stream))
        assert got["sni"] == ""
        assert got["fp"] == ""
        assert "alpn" not in got

    def test_reality_uses_first_names_and_optional_fields(self):
        stream = stream_for("tcp", "reality")
        settings = stream["realitySettings"]["settings"]
        settings["fingerprint"] = ""
        settings["mldsa65Verify"] = "PQV"
        got = query(build(stream, client_key="k"))
        assert got["sni"] == "www.microsoft.com"
        assert got["sid"] == "6ba85179e30d4fc2"
        assert got["pqv"] == "PQV"
        assert "fp" not in got  # reality omits an empty fingerprint

    def test_reality_empty_short_id_is_valid(self):
        stream = stream_for("tcp", "reality")
        stream["realitySettings"]["shortIds"] = [""]
        assert query(build(stream, client_key="k"))["sid"] == ""


class TestAddressAndRemark:
    @pytest.mark.parametrize("host", ["2001:db8::1", "[2001:db8::1]"])
    def test_ipv6_host_is_bracketed(self, host):
        link = build(stream_for("tcp", "none"), host=host, port=8443)
        assert link.startswith(f"vless://{UUID}@[2001:db8::1]:8443?")
        assert vless_link_parse(link)[1:3] == ("2001:db8::1", 8443)

    def test_ipv4_host(self):
        link = build(stream_for("tcp", "none"), host="203.0.113.7")
        assert vless_link_parse(link)[1] == "203.0.113.7"

    def test_unicode_remark_round_trip(self):
        remark = "🇩🇪 Frankfurt · s42"
        link = build(stream_for("tcp", "reality"), remark=remark, client_key="k")
        fragment = link.split("#", 1)[1]
        assert fragment.isascii()
        assert " " not in fragment
        assert fragment.startswith("%F0%9F%87%A9%F0%9F%87%AA%20Frankfurt%20%C2%B7%20s42")
        assert vless_link_parse(link)[4] == remark

    def test_remark_reserved_characters(self):
        # v3.2+: QueryEscape with "+" → "%20": "@" → %40, "|" → %7C, "+" stays a plus.
        remark = "DE-alice@x|📊 1+1 #2"
        link = build(stream_for("tcp", "none"), remark=remark)
        assert link.endswith("#DE-alice%40x%7C%F0%9F%93%8A%201%2B1%20%232")
        assert vless_link_parse(link)[4] == remark

    def test_empty_remark_has_no_fragment(self):
        link = build(stream_for("tcp", "none"), remark="")
        assert "#" not in link
        assert vless_link_parse(link)[4] == ""

    def test_query_values_escaped_like_go(self):
        stream = stream_for("ws", "none")
        stream["wsSettings"] = {"path": "/a b?c=d&e", "host": "h.example.com"}
        link = build(stream)
        assert "path=%2Fa+b%3Fc%3Dd%26e" in link
        assert query(link)["path"] == "/a b?c=d&e"


class TestRemark:
    def test_a_remark_survives_a_link(self):
        remark = "🇫🇮 Helsinki 2"
        assert vless_link_parse(build(stream_for("tcp", "none"), remark=remark))[4] == remark


class TestStreamSettingsParse:
    def test_string_and_object_forms_agree(self):
        as_obj = json.loads(REALITY_STREAM_JSON)
        pretty = json.dumps(as_obj, indent=2)
        assert stream_settings_parse(pretty) == as_obj
        assert stream_settings_parse(as_obj) == as_obj

    def test_returns_a_copy(self):
        original = {"network": "ws", "wsSettings": {"path": "/"}}
        parsed = stream_settings_parse(original)
        parsed["wsSettings"]["path"] = "/changed"
        assert original["wsSettings"]["path"] == "/"

    @pytest.mark.parametrize("value", [None, "", "   "])
    def test_empty(self, value):
        assert stream_settings_parse(value) == {}

    def test_double_encoded(self):
        assert stream_settings_parse(json.dumps('{"network":"tcp"}')) == {"network": "tcp"}

    @pytest.mark.parametrize("value", ["{not json", "[1, 2]", "42", 42, ["network"]])
    def test_invalid(self, value):
        with pytest.raises(VlessLinkError):
            stream_settings_parse(value)

    def test_error_is_a_value_error(self):
        assert issubclass(VlessLinkError, ValueError)


class TestLinkParse:
    def test_parses_trailing_slash_and_plus(self):
        got = vless_link_parse(f"vless://{UUID}@h.example.com:443/?type=ws&path=%2Fa+b#x+y")
        assert got == (UUID, "h.example.com", 443, {"type": "ws", "path": "/a b"}, "x+y")

    @pytest.mark.parametrize(
        "link",
        [
            "vmess://abc",
            "https://h.example.com",
            "vless://@h.example.com:443?type=tcp",
            f"vless://{UUID}h.example.com:443",
            f"vless://{UUID}@h.example.com?type=tcp",
            f"vless://{UUID}@h.example.com:0?type=tcp",
            f"vless://{UUID}@h.example.com:70000",
            f"vless://{UUID}@h.example.com:44x",
            f"vless://{UUID}@[2001:db8::1?type=tcp",
            f"vless://{UUID}@:443",
            f"vless://{UUID}@h.example.com:443?type=tcp&type=ws",
        ],
    )
    def test_rejects_malformed(self, link):
        with pytest.raises(VlessLinkError):
            vless_link_parse(link)


class TestErrors:
    @pytest.mark.parametrize("network", ["kcp", "quic", "http", "h2", "raw", "splithttp", "grpcx"])
    def test_unsupported_network(self, network):
        stream = stream_for("tcp", "none")
        stream["network"] = network
        with pytest.raises(VlessLinkError, match="unsupported network"):
            build(stream)

    def test_missing_network(self):
        with pytest.raises(VlessLinkError, match="no network"):
            build({"security": "tls"})
        with pytest.raises(VlessLinkError, match="no network"):
            build(None)

    @pytest.mark.parametrize("security", ["xtls", "TLS", 1])
    def test_unsupported_security(self, security):
        stream = stream_for("tcp", "none")
        stream["security"] = security
        with pytest.raises(VlessLinkError, match="unsupported security"):
            build(stream)

    @pytest.mark.parametrize(
        ("mutate", "match"),
        [
            (lambda r: r["settings"].pop("publicKey"), "publicKey"),
            (lambda r: r["settings"].update(publicKey=""), "publicKey"),
            (lambda r: r.pop("serverNames"), "serverNames"),
            (lambda r: r.update(serverNames=[""]), "serverNames"),
            (lambda r: r.pop("shortIds"), "shortIds"),
            (lambda r: r.update(shortIds=[]), "shortIds"),
            (lambda r: r.update(shortIds=[1]), "shortIds"),
        ],
    )
    def test_missing_reality_keys(self, mutate, match):
        stream = stream_for("tcp", "reality")
        mutate(stream["realitySettings"])
        with pytest.raises(VlessLinkError, match=match):
            build(stream)

    def test_reality_without_settings_block(self):
        stream = stream_for("tcp", "reality")
        del stream["realitySettings"]
        with pytest.raises(VlessLinkError, match="realitySettings"):
            build(stream)

    @pytest.mark.parametrize("port", [0, 65536, -1, "443", True, 443.0])
    def test_bad_port(self, port):
        with pytest.raises(VlessLinkError, match="port"):
            build(stream_for("tcp", "none"), port=port)

    @pytest.mark.parametrize("host", ["", "  ", "a b", "h/x", "h?x", "h#x", "u@h", "h:1", "::zz"])
    def test_bad_host(self, host):
        with pytest.raises(VlessLinkError, match="host"):
            build(stream_for("tcp", "none"), host=host)

    @pytest.mark.parametrize("client_uuid", ["", "not-a-uuid", f"{UUID}x", "b831381d6324"])
    def test_bad_uuid(self, client_uuid):
        with pytest.raises(VlessLinkError, match="uuid"):
            build(stream_for("tcp", "none"), client_uuid=client_uuid)

    def test_unknown_flow(self):
        with pytest.raises(VlessLinkError, match="flow"):
            build(stream_for("tcp", "tls"), flow="xtls-rprx-direct")

    def test_bad_protocol_settings(self):
        with pytest.raises(VlessLinkError, match="protocol settings"):
            build(stream_for("tcp", "none"), protocol_settings="{oops")
