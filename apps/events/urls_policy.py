"""Which URLs merchants may point webhooks at. In prod (WEBHOOK_ALLOW_PRIVATE_URLS off) only
public addresses: no loopback, private, link-local or reserved ones, checked when the endpoint is
saved and again, after DNS resolution, before every delivery (DNS can change in between)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from .errors import EndpointUrlNotAllowed

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64): the
    packets may end up there, so each must be public too."""
    embedded = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip.packed[:12] == bytes(12) or any(ip in network for network in _NAT64):
        embedded.append(ipaddress.IPv4Address(ip.packed[12:]))  # ::a.b.c.d, 64:ff9b::a.b.c.d
    return [address for address in embedded if address is not None]


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone index (fe80::1%eth0) is never public
    if "%" in address or not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        return all(_is_public(str(inner)) for inner in _embedded_ipv4(ip))
    return True


def check_endpoint_url(url: str, *, resolve: bool = True) -> None:
    """Raise EndpointUrlNotAllowed unless `url` may receive webhooks. Host names are resolved (at
    save and before every delivery) and every address they resolve to must be public."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number in 0-65535
    except ValueError:
        raise EndpointUrlNotAllowed("Webhook endpoints must be valid URLs (host and port).", param="url") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise EndpointUrlNotAllowed("Webhook endpoints must be http(s) URLs with a host.", param="url")
    if port == 0:
        raise EndpointUrlNotAllowed("Webhook endpoints must have a port between 1 and 65535.", param="url")
    try:
        parts.hostname.encode("idna")  # what resolving it and connecting to it will do
    except UnicodeError:
        raise EndpointUrlNotAllowed("Webhook endpoints must have a valid host name.", param="url") from None
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return
    if parts.scheme != "https":
        raise EndpointUrlNotAllowed("Webhook endpoints must use https.", param="url")
    host = parts.hostname
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise EndpointUrlNotAllowed("Webhook endpoints must be on public addresses.", param="url") from None
        if not resolve:
            return
        try:
            infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
            addresses = [str(info[4][0]) for info in infos]
        except (OSError, UnicodeError) as exc:
            raise EndpointUrlNotAllowed(f"Cannot resolve {host}.", param="url") from exc
    if not all(_is_public(address) for address in addresses):
        raise EndpointUrlNotAllowed("Webhook endpoints must be on public addresses.", param="url")
