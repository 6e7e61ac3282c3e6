from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, trusting X-Forwarded-For only for NUM_PROXIES proxies (as DRF does)."""
    remote = request.META.get("REMOTE_ADDR")
    num_proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    candidate = remote
    if forwarded and num_proxies > 0:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            candidate = addresses[-min(num_proxies, len(addresses))]
    if not candidate:
        return None
    try:
        return ipaddress.ip_address(candidate).compressed
    except ValueError:
        return None


def ip_in_networks(ip: str | None, networks: list[str]) -> bool:
    if not ip:
        return False
    address = ipaddress.ip_address(ip)
    for network in networks:
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False
