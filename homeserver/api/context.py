"""What a route reaches through the request: the HomeServer and the client's address."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from homeserver.server import HomeServer

HOMESERVER = web.AppKey("homeserver", HomeServer)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def get_hs(request: web.Request) -> HomeServer:
    return request.app[HOMESERVER]


def client_ip(request: web.Request) -> str:
    """The client's address, for rate limits, the login lockout and devices' last-seen
    address: the peer's, or, when the peer is one of ``server.trusted_proxies``, the
    nearest address in ``X-Forwarded-For`` that is not a trusted proxy. Entries left of
    that one were written by the client and are never believed."""
    peer = request.remote or ""
    trusted = get_hs(request).config.server.trusted_proxies
    if not trusted:
        return peer
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in trusted]
    hop = _address(peer)
    if hop is None or not _within(hop, networks):
        return peer
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", ()))
    for entry in reversed(forwarded.split(",") if forwarded else []):
        address = _address(entry)
        if address is None:  # the chain of proxies we trust is broken here: stop at its last hop
            break
        hop = address
        if not _within(hop, networks):
            break
    return str(hop)


def _address(text: str) -> Address | None:
    """An address as a proxy writes it: bare, or with a port ("1.2.3.4:80", "[::1]:80")."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _within(address: Address, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    return any(address in network for network in networks)
