"""Tolerant parsing helpers and the dataclasses' panel round trip."""

from __future__ import annotations

import json

import pytest

from nodes.x3ui import PanelClient, ServerStatus, duplicate_emails, is_duplicate_message
from nodes.x3ui.types import Inbound, as_bool, as_int, json_field


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", 0), (None, 0), ("12", 12), (12, 12), (12.9, 12), ("1e3", 1000), ("x", 0), (True, 1)],
)
def test_as_int(value, expected):
    assert as_int(value) == expected


def test_as_bool():
    assert as_bool(None) is False
    assert as_bool("true") is True
    assert as_bool(0) is False


def test_json_field_accepts_string_object_and_empty():
    assert json_field('{"a": 1}') == {"a": 1}
    assert json_field({"a": 1}) == {"a": 1}
    assert json_field("") == {}
    assert json_field(None) == {}
    with pytest.raises(ValueError, match="object"):
        json_field("[1]")
    with pytest.raises(ValueError):  # noqa: PT011 - json's own error
        json_field("{")


def test_panel_client_round_trip_keeps_unknown_keys():
    raw = {"id": "u", "email": "e", "enable": True, "tgId": "", "reset": 3, "custom": "x"}
    client = PanelClient.from_panel(raw)
    out = client.to_panel()
    assert out["tgId"] == 0
    assert (out["reset"], out["custom"]) == (3, "x")
    assert PanelClient.from_panel(out) == client


def test_equality_ignores_extra():
    assert PanelClient(id="u", email="e", extra={"a": 1}) == PanelClient(id="u", email="e")
    assert hash(PanelClient(id="u", email="e", extra={"a": 1}))


def test_status_from_partial_obj():
    assert ServerStatus.from_panel({"xray": None, "cpu": "bad"}).xray_state == "unknown"


def test_duplicate_detection():
    assert is_duplicate_message("Something went wrong (Duplicate email: a@b\n)")
    assert duplicate_emails("x (email already in use: a@b\n)") == ("a@b",)
    assert duplicate_emails("x (Duplicate email: a)") == ("a",)
    assert not is_duplicate_message("Something went wrong (subId already in use: s\n)")
    assert not is_duplicate_message("")


# Private halves a 3x-ui inbound may hold, each a value that must never reach the cache.
TLS_KEY_LINE = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgPRIVATE"
ECH_SERVER_KEYS = "AEDECHSERVERKEYSPRIVATE"
REALITY_PRIVATE = "REALITYPRIVATEKEYx25519"
MLDSA_SEED = "MLDSA65SEEDPRIVATE"
VLESS_DECRYPTION = "mlkem768x25519plus.native.600s.X25519PRIVATE.MLKEMSEEDPRIVATE"
SECRETS = (TLS_KEY_LINE, ECH_SERVER_KEYS, REALITY_PRIVATE, MLDSA_SEED, "X25519PRIVATE")


def _inbound(stream: dict, settings: dict) -> Inbound:
    return Inbound.from_panel(
        {"id": 1, "port": 443, "protocol": "vless", "settings": settings, "streamSettings": stream}
    )


def test_the_cache_keeps_no_private_key_of_a_tls_or_reality_inbound():
    """The inline TLS key, ECH server keys, REALITY private key and ML-DSA seed, and a VLESS
    encryption ``decryption``, are the server's secrets: the cache keeps none of them and
    still builds the same link (found with a TLS inbound served by sing-box, issue 18)."""
    from subscriptions.vless import vless_link_build

    tls_stream = {
        "network": "tcp",
        "security": "tls",
        "tlsSettings": {
            "serverName": "vpn.example.com",
            "alpn": ["h2"],
            "echServerKeys": ECH_SERVER_KEYS,
            "certificates": [
                {
                    "certificate": [
                        "-----BEGIN CERTIFICATE-----",
                        "MIIB",
                        "-----END CERTIFICATE-----",
                    ],
                    "key": [
                        "-----BEGIN PRIVATE KEY-----",
                        TLS_KEY_LINE,
                        "-----END PRIVATE KEY-----",
                    ],
                    "certificateFile": "",
                    "keyFile": "",
                }
            ],
            "settings": {"fingerprint": "chrome", "echConfigList": "AEPUBLICECHCONFIG"},
        },
    }
    reality_stream = {
        "network": "tcp",
        "security": "reality",
        "realitySettings": {
            "serverNames": ["www.example.com"],
            "shortIds": ["ab"],
            "privateKey": REALITY_PRIVATE,
            "mldsa65Seed": MLDSA_SEED,
            "settings": {"publicKey": "PUBLICKEY", "fingerprint": "chrome", "mldsa65Verify": "PQV"},
        },
    }
    settings = {"decryption": VLESS_DECRYPTION, "encryption": "mlkem768x25519plus.native.0rtt.PUB"}
    for stream in (tls_stream, reality_stream):
        inbound = _inbound(stream, settings)
        cache = inbound.to_cache()
        text = json.dumps(cache)
        assert not [secret for secret in SECRETS if secret in text], text
        assert cache["settings"]["decryption"] == "mlkem768x25519plus"
        link = {
            "client_uuid": "b831381d-6324-4d53-ad4f-8cda48b30811",
            "host": "vpn.example.com",
            "port": 443,
            "remark": "r",
        }
        assert vless_link_build(
            **link, stream_settings=cache["stream_settings"], protocol_settings=cache["settings"]
        ) == vless_link_build(
            **link, stream_settings=inbound.stream_settings, protocol_settings=inbound.settings
        )
    # The panel's own copy is untouched.
    assert inbound.stream_settings["realitySettings"]["privateKey"] == REALITY_PRIVATE


def test_an_inbound_without_secrets_is_cached_as_it_is():
    stream = {"network": "ws", "security": "none", "wsSettings": {"path": "/p"}}
    cache = _inbound(stream, {"decryption": "none", "encryption": "none"}).to_cache()
    assert cache["stream_settings"] == stream
    assert cache["settings"] == {"decryption": "none", "encryption": "none"}
