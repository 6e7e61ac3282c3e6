"""Which URLs merchants may point webhooks at. In prod (WEBHOOK_ALLOW_PRIVATE_URLS off) only
public addresses: no loopback, private, link-local or reserved ones, checked when the endpoint is
saved and again, after DNS resolution, before every delivery (DNS can change in between). A
delivery connects to the very addresses its check passed (`endpoint_addresses`): the name is not
resolved a second time, so a resolver cannot answer a public address to the check and a private
one to the connection."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from .errors import EndpointUrlNotAllowed

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_DEFAULT_PORTS = {"http": 80, "https": 443}


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


def _usable_parts(url: str) -> SplitResult:
    """`url` split, if a webhook could be sent to it at all (in dev too)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number in 0-65535
    except ValueError:
        raise EndpointUrlNotAllowed("Webhook endpoints must be valid URLs (host and port).", param="url") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise EndpointUrlNotAllowed("Webhook endpoints must be http(s) URLs with a host.", param="url")
    if port == 0:
        raise EndpointUrlNotAllowed("Webhook endpoints must have a port between 1 and 65535.", param="url")
    try:
        parts.hostname.encode("idna")  # what resolving it and connecting to it will do
    except UnicodeError:
        raise EndpointUrlNotAllowed("Webhook endpoints must have a valid host name.", param="url") from None
    return parts


def _literal_address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _refuse_private_names(parts: SplitResult) -> None:
    if parts.scheme != "https":
        raise EndpointUrlNotAllowed("Webhook endpoints must use https.", param="url")
    host = str(parts.hostname)
    if _literal_address(host) is None and (host == "localhost" or host.endswith((".localhost", ".local", ".internal"))):
        raise EndpointUrlNotAllowed("Webhook endpoints must be on public addresses.", param="url")


def _resolved(parts: SplitResult) -> list[str]:
    """The addresses the URL's host stands for: itself if it is one, else what DNS answers now
    (each once, in the resolver's order)."""
    host = str(parts.hostname)
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, parts.port or _DEFAULT_PORTS[parts.scheme], proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise EndpointUrlNotAllowed(f"Cannot resolve {host}.", param="url") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refuse_private_addresses(addresses: list[str]) -> None:
    if not addresses or not all(_is_public(address) for address in addresses):
        raise EndpointUrlNotAllowed("Webhook endpoints must be on public addresses.", param="url")


def check_endpoint_url(url: str) -> None:
    """Raise EndpointUrlNotAllowed unless `url` may receive webhooks (when an endpoint is saved):
    in prod its host must resolve, to public addresses only; in dev any usable URL will do."""
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        _usable_parts(url)
    else:
        endpoint_addresses(url)


def endpoint_addresses(url: str) -> list[str]:
    """Where to connect to post to `url`: its host resolved once and, in prod, every address
    checked public (EndpointUrlNotAllowed otherwise). The post must connect to one of these and
    never look the name up again (pinned_http.pinned_post)."""
    parts = _usable_parts(url)
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return _resolved(parts)
    _refuse_private_names(parts)
    addresses = _resolved(parts)
    _refuse_private_addresses(addresses)
    return addresses
