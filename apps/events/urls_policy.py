"""Which URLs merchants may point webhooks at. In prod (WEBHOOK_ALLOW_PRIVATE_URLS off) only
public addresses: no loopback, private, link-local or reserved ones, checked when the endpoint is
saved and again, after DNS resolution, before every delivery (DNS can change in between)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from .errors import EndpointUrlNotAllowed


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_global and not ip.is_multicast


def check_endpoint_url(url: str, *, resolve: bool = False) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise EndpointUrlNotAllowed("Webhook endpoints must be http(s) URLs with a host.", param="url")
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
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
            addresses = [str(info[4][0]) for info in infos]
        except OSError as exc:
            raise EndpointUrlNotAllowed(f"Cannot resolve {host}.", param="url") from exc
    if not all(_is_public(address) for address in addresses):
        raise EndpointUrlNotAllowed("Webhook endpoints must be on public addresses.", param="url")
