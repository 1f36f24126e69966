"""Client address resolution and IP allowlists for provider notifications.

FreeKassa (and optionally Robokassa) publish the addresses their notifications come from. The
allowlist is only worth anything if the address we check cannot be chosen by the sender, so
``X-Forwarded-For`` is believed only when the TCP peer is one of *our* reverse proxies
(docs/payments.md "Robokassa: IP addresses", "FreeKassa: IP addresses"). Everything here is
pure: no Django request objects, no settings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from django.core.exceptions import ImproperlyConfigured

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# X-Forwarded-For is attacker-sized; we never need more than a few hops from the right.
XFF_MAX_HOPS = 32
_ADDRESS_MAX_LENGTH = 64


def ip_parse(*, value: str | None) -> IPAddress | None:
    """Parse one address as found in headers; ``None`` for anything that is not an IP.

    Accepts ``1.2.3.4``, ``1.2.3.4:5678``, ``::1``, ``[::1]`` and ``[::1]:443`` (some proxies
    append ports). IPv4-mapped IPv6 (``::ffff:1.2.3.4``) becomes IPv4 so that allowlists written
    as IPv4 still match when the server listens on a dual-stack socket.
    """
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > _ADDRESS_MAX_LENGTH:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            return None
        rest = text[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        text = text[1:end]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def networks_parse(*, entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Turn configured addresses/CIDRs into networks; a bad entry is a configuration error.

    Failing loudly here (instead of skipping the entry) matters: a typo in an allowlist or a
    trusted-proxy list would otherwise silently reject every real notification or, worse,
    silently stop trusting the proxy.
    """
    return _networks_parse_cached(tuple(entries))


@lru_cache(maxsize=64)
def _networks_parse_cached(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            raise ImproperlyConfigured(f"Invalid IP/CIDR entry: {entry!r}")
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"Invalid IP/CIDR entry: {entry!r}") from exc
    return tuple(networks)


def ip_in_networks(*, ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    """True when ``ip`` belongs to one of ``networks`` (mixed IPv4/IPv6 lists are fine)."""
    return any(ip.version == network.version and ip in network for network in networks)


def ip_allowed(*, ip: str | None, allowed: Iterable[str]) -> bool:
    """True when the textual address ``ip`` is valid and inside the ``allowed`` list/CIDRs."""
    address = ip_parse(value=ip)
    if address is None:
        return False
    return ip_in_networks(ip=address, networks=networks_parse(entries=allowed))


def client_ip(
    *, remote_addr: str, forwarded_for: str | None, trusted_proxies: Iterable[str]
) -> str | None:
    """Return the real client address of a request, or ``None`` if it cannot be known.

    - The TCP peer (``remote_addr``) is not a trusted proxy: it *is* the client, and
      ``X-Forwarded-For`` is ignored because anyone can send that header.
    - The peer is a trusted proxy: walk ``X-Forwarded-For`` from the right (each proxy appends
      the address it saw), skipping our own proxies; the first other address is the client.
      If a hop is garbage the chain can no longer be trusted, so we stop and return the last
      address that was vouched for (a proxy), never something the sender could pick. If every
      hop is a trusted proxy, the leftmost one is returned.

    ``None`` means ``remote_addr`` itself is not an IP (e.g. a unix socket peer); an IP
    allowlist must then reject the request.
    """
    peer = ip_parse(value=remote_addr)
    if peer is None:
        return None
    networks = networks_parse(entries=trusted_proxies)
    if not ip_in_networks(ip=peer, networks=networks):
        return str(peer)
    current = peer
    if forwarded_for and isinstance(forwarded_for, str):
        hops = forwarded_for.split(",")
        for raw_hop in reversed(hops[-XFF_MAX_HOPS:]):
            hop = ip_parse(value=raw_hop)
            if hop is None:
                break
            current = hop
            if not ip_in_networks(ip=hop, networks=networks):
                break
    return str(current)
