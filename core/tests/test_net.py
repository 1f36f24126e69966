"""client_ip / allowlist helpers: X-Forwarded-For is believed only from trusted proxies."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.net import client_ip, ip_allowed, ip_parse

PROXY = "10.0.0.1"
CLIENT = "203.0.113.5"


def test_no_trusted_proxies_returns_peer_and_ignores_xff():
    assert client_ip(remote_addr=CLIENT, forwarded_for="1.1.1.1", trusted_proxies=[]) == CLIENT


def test_untrusted_peer_cannot_spoof_via_xff():
    result = client_ip(remote_addr=CLIENT, forwarded_for="168.119.157.136", trusted_proxies=[PROXY])
    assert result == CLIENT


def test_trusted_proxy_uses_rightmost_untrusted_hop():
    result = client_ip(remote_addr=PROXY, forwarded_for=CLIENT, trusted_proxies=[PROXY])
    assert result == CLIENT


def test_client_supplied_xff_prefix_is_not_believed():
    # The client sent "X-Forwarded-For: 168.119.157.136"; our proxy appended the real address.
    result = client_ip(
        remote_addr=PROXY, forwarded_for=f"168.119.157.136, {CLIENT}", trusted_proxies=[PROXY]
    )
    assert result == CLIENT


def test_cidr_trusted_proxies_and_proxy_chains_are_skipped():
    result = client_ip(
        remote_addr="10.1.2.3",
        forwarded_for=f"198.51.100.1, {CLIENT}, 10.9.9.9, 172.16.0.2",
        trusted_proxies=["10.0.0.0/8", "172.16.0.0/12"],
    )
    assert result == CLIENT


def test_all_hops_trusted_returns_leftmost():
    result = client_ip(
        remote_addr=PROXY, forwarded_for="10.0.0.3, 10.0.0.2", trusted_proxies=["10.0.0.0/8"]
    )
    assert result == "10.0.0.3"


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        (None, PROXY),
        ("", PROXY),
        (",,,", PROXY),
        ("garbage", PROXY),
        (f"{CLIENT}, garbage", PROXY),  # the chain breaks right at our proxy
        (f"garbage, {CLIENT}", CLIENT),
        ("unknown", PROXY),
        ("999.1.1.1", PROXY),
        ("1.2.3.4/24", PROXY),
        ("\uff46\uff45\uff18\uff10::1", PROXY),  # full-width "fe80::1"
        ("\x00\xff\udcff", PROXY),
        (("x" * 10_000 + ",") * 100, PROXY),
        (", ".join(["198.51.100.1"] * 100_000), "198.51.100.1"),
    ],
)
def test_garbage_xff_never_crashes_and_never_wins(forwarded_for, expected):
    result = client_ip(remote_addr=PROXY, forwarded_for=forwarded_for, trusted_proxies=[PROXY])
    assert result == expected


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        ("203.0.113.5:4711", CLIENT),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:DB8:0::1", "2001:db8::1"),
        ("::ffff:203.0.113.5", CLIENT),
        ("  203.0.113.5  ", CLIENT),
    ],
)
def test_address_forms_are_normalised(forwarded_for, expected):
    result = client_ip(remote_addr="::1", forwarded_for=forwarded_for, trusted_proxies=["::1"])
    assert result == expected


def test_ipv4_mapped_peer_matches_ipv4_proxy_entry():
    result = client_ip(
        remote_addr="::ffff:10.0.0.1", forwarded_for=CLIENT, trusted_proxies=["10.0.0.0/8"]
    )
    assert result == CLIENT


@pytest.mark.parametrize("remote_addr", ["", "unix:/run/gunicorn.sock", "garbage", None])
def test_invalid_peer_address_gives_none(remote_addr):
    assert client_ip(remote_addr=remote_addr, forwarded_for=CLIENT, trusted_proxies=[]) is None


@pytest.mark.parametrize("entry", ["not-an-ip", "10.0.0.0/33", "", None])
def test_invalid_trusted_proxy_entry_is_a_configuration_error(entry):
    with pytest.raises(ImproperlyConfigured):
        client_ip(remote_addr=CLIENT, forwarded_for=None, trusted_proxies=[entry])


@pytest.mark.parametrize(
    ("ip", "allowed", "expected"),
    [
        ("168.119.157.136", ["168.119.157.136"], True),
        ("168.119.157.137", ["168.119.157.136"], False),
        ("10.20.30.40", ["10.0.0.0/8"], True),
        ("2001:db8::1", ["10.0.0.0/8", "2001:db8::/32"], True),
        ("::ffff:168.119.157.136", ["168.119.157.136"], True),
        (None, ["0.0.0.0/0"], False),
        ("", ["0.0.0.0/0"], False),
        ("garbage", ["0.0.0.0/0"], False),
        ("1.2.3.4", [], False),
    ],
)
def test_ip_allowed(ip, allowed, expected):
    assert ip_allowed(ip=ip, allowed=allowed) is expected


@pytest.mark.parametrize("value", ["1.2.3.4:", "1.2.3.4:port", "[::1", "[::1]x", "::1]:80", 42])
def test_ip_parse_rejects_malformed(value):
    assert ip_parse(value=value) is None
