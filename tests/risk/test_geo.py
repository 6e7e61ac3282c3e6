"""Card and IP countries from the deployment's tables, and the rules that read them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.risk.attempts import Attempt, attempt_attributes
from apps.risk.geo import card_country, ip_country


@pytest.fixture
def tables(tmp_path: Path, settings: object) -> Path:
    bins = tmp_path / "bins.csv"
    bins.write_text("prefix,country\n4,US\n411111,GB\n# a comment\n\n5424,ca\n")
    networks = tmp_path / "networks.csv"
    networks.write_text("network,country\n203.0.113.0/24,FR\n203.0.113.128/25,DE\n2001:db8::/32,JP\n10.0.0.0/8,NL\n")
    settings.RISK_BIN_COUNTRIES_FILE = str(bins)  # type: ignore[attr-defined]
    settings.RISK_IP_COUNTRIES_FILE = str(networks)  # type: ignore[attr-defined]
    return tmp_path


def test_the_longest_bin_prefix_decides(tables):
    assert card_country("4111111111111111") == "GB"
    assert card_country("4007 0000 0002 7") == "US"
    assert card_country("5424000000000015") == "CA"  # codes read in upper case
    assert card_country("6011000000000012") is None


def test_the_narrowest_network_containing_the_address_decides(tables):
    assert ip_country("203.0.113.7") == "FR"
    assert ip_country("203.0.113.200") == "DE"
    assert ip_country("2001:db8::1") == "JP"
    assert ip_country("10.20.30.40") == "NL"
    assert ip_country("198.51.100.1") is None
    assert ip_country("not an address") is None


def test_without_tables_countries_are_unknown(settings):
    settings.RISK_BIN_COUNTRIES_FILE = settings.RISK_IP_COUNTRIES_FILE = ""

    assert (card_country("4111111111111111"), ip_country("203.0.113.7")) == (None, None)


def test_an_attempt_carries_both_countries_for_the_rules(tables):
    attempt = Attempt(merchant_id=1, amount=100, currency="USD", card_number="4111111111111111", ip="203.0.113.7")

    attributes = attempt_attributes(attempt, "fp", {})

    assert (attributes["card_country"], attributes["ip_country"]) == ("GB", "FR")


@pytest.mark.parametrize(
    ("content", "message"),
    [("4111,USA\n", "not an ISO 3166"), ("41x1,US\n41,US\n", "not a BIN prefix"), ("4111\n", "two columns")],
)
def test_a_bad_bin_table_is_refused_with_its_line(tmp_path, settings, content, message):
    path = tmp_path / "bins.csv"
    path.write_text("prefix,country\n" + content)
    settings.RISK_BIN_COUNTRIES_FILE = str(path)

    with pytest.raises(ImproperlyConfigured, match=message):
        card_country("4111111111111111")


def test_a_bad_table_fails_the_system_check(tmp_path, settings):
    path = tmp_path / "networks.csv"
    path.write_text("network,country\n203.0.113.0/24,FR\nsomewhere,FR\n")
    settings.RISK_IP_COUNTRIES_FILE = str(path)

    with pytest.raises(SystemCheckError, match=r"networks.csv:3: 'somewhere' is not a network"):
        call_command("check")
    settings.RISK_IP_COUNTRIES_FILE = str(tmp_path / "missing.csv")
    with pytest.raises(SystemCheckError, match="cannot read"):
        call_command("check")


def test_a_changed_table_is_read_again(tables):
    assert ip_country("203.0.113.7") == "FR"
    path = tables / "networks.csv"
    path.write_text("203.0.113.0/24,BE\n")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))

    assert ip_country("203.0.113.7") == "BE"
