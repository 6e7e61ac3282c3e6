"""An address matches the IP list entries whose networks contain it, whether the process's copy
of the lists is read (only the prefix lengths it holds are asked for) or the database is."""

from __future__ import annotations

import ipaddress
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.risk import selectors
from apps.risk.lists import ip_networks_containing, list_candidates
from apps.risk.models import ListAction, ListKind
from tests.risk.factories import ListEntryFactory


def _by_ipaddress(address: str) -> list[str]:
    ip = ipaddress.ip_address(address)
    return [str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False)) for prefix in range(ip.max_prefixlen + 1)]


def test_the_networks_containing_an_address_are_those_ipaddress_names():
    generator = random.Random(7)
    addresses = ["0.0.0.0", "255.255.255.255", "::", "::1", "::ffff:1.2.3.4", "2001:db8::1", "fe80::1:2:3:4"]  # noqa: S104 - an address, not a bind
    addresses += [str(ipaddress.IPv4Address(generator.getrandbits(32))) for _ in range(50)]
    addresses += [str(ipaddress.IPv6Address(generator.getrandbits(128))) for _ in range(50)]

    for address in addresses:
        assert ip_networks_containing(address) == _by_ipaddress(address), address


def test_only_the_prefix_lengths_asked_for_are_named():
    assert ip_networks_containing("203.0.113.7", {24, 8, 99}) == ["203.0.0.0/8", "203.0.113.0/24"]
    assert ip_networks_containing("2001:db8::1", {32}) == ["2001:db8::/32"]
    assert ip_networks_containing("203.0.113.7", set()) == []
    assert ip_networks_containing("not an address") == []
    assert ip_networks_containing(" 203.0.113.7 ", {32}) == ["203.0.113.7/32"]


def test_an_ip_candidate_is_the_address_in_its_normal_form():
    assert list_candidates(ip="2001:DB8::0:1") == {ListKind.IP: ["2001:db8::1"]}
    assert list_candidates(ip="nonsense") == {}


NETWORKS = ["203.0.113.0/24", "10.0.0.0/8", "198.51.100.9/32", "2001:db8::/32", "0.0.0.0/0"]
CASES = [
    ("203.0.113.7", {"203.0.113.0/24", "0.0.0.0/0"}),
    ("10.200.3.4", {"10.0.0.0/8", "0.0.0.0/0"}),
    ("198.51.100.9", {"198.51.100.9/32", "0.0.0.0/0"}),
    ("198.51.100.10", {"0.0.0.0/0"}),
    ("2001:db8:1::5", {"2001:db8::/32"}),
    ("2001:db9::5", set()),
]


@pytest.mark.django_db
@pytest.mark.parametrize("copy", [True, False], ids=["process copy", "database"])
def test_both_ways_of_reading_the_lists_find_the_same_entries(copy, settings, monkeypatch):
    monkeypatch.setattr(selectors, "_lists", None)
    if not copy:
        settings.RISK_LIST_CACHE_MAX_ENTRIES = 0  # more entries than a copy may hold: ask the database
    for network in NETWORKS:
        ListEntryFactory(kind=ListKind.IP, action=ListAction.BLOCK, value=network)
    ListEntryFactory(
        kind=ListKind.IP, action=ListAction.BLOCK, value="203.0.113.7/32", expires_at=timezone.now() - timedelta(1)
    )

    for address, expected in CASES:
        found = selectors.list_entries_matching(
            candidates=list_candidates(ip=address), now=timezone.now(), stamp="stamp-1"
        )
        assert {entry.value for entry in found} == expected, address
    assert (selectors._lists.entries is not None) is copy
    if copy:
        assert selectors._lists.ip_prefixes == {24, 8, 32, 0}
