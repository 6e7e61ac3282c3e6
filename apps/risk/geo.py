"""Countries for risk rules: the card's issuing country from its BIN, the customer's from the IP
address, read from tables the deployment supplies (no network lookup in the payment path).

- RISK_BIN_COUNTRIES_FILE: CSV rows `prefix,country`: a BIN prefix of 1 to 11 digits and an
  ISO 3166 alpha-2 code (a BIN list from the card schemes or a vendor, in this shape). The longest
  prefix of the card's number that the table has decides.
- RISK_IP_COUNTRIES_FILE: CSV rows `network,country`: an IPv4 or IPv6 network in CIDR form and its
  country (MaxMind GeoLite2 Country and IP2Location LITE export in this shape after a join).
  Networks should not overlap; where they do, the narrowest containing the address decides.

A header row, blank lines and `#` comments are skipped; a bad row is refused when the table is
loaded (ImproperlyConfigured names the file and line), never during a payment. No file: the
country is unknown (None), and rules that compare it read null. Each table is read once per
process, and again when its file changes.
"""

from __future__ import annotations

import bisect
import csv
import ipaddress
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_COUNTRY = re.compile(r"[A-Z]{2}")
_PREFIX = re.compile(r"[0-9]{1,11}")


@dataclass(frozen=True)
class _Networks:
    """Per IP version: network starts (sorted), their ends and countries; narrowest first on ties."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    countries: tuple[str, ...]
    widest: int  # the largest network's size: how far back a containing network can start

    def country(self, address: int) -> str | None:
        index = bisect.bisect_right(self.starts, address)
        best: tuple[int, str] | None = None
        while index > 0:
            index -= 1
            start = self.starts[index]
            if address - start > self.widest:
                break
            if address <= self.ends[index] and (best is None or self.ends[index] - start < best[0]):
                best = (self.ends[index] - start, self.countries[index])
        return best[1] if best else None


def _rows(path: Path) -> list[tuple[int, str, str]]:
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line_number, row in enumerate(csv.reader(handle), start=1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 2:
                raise ImproperlyConfigured(f"{path}:{line_number}: expected two columns, a key and a country")
            rows.append((line_number, row[0].strip(), row[1].strip().upper()))
    return rows


def _checked_country(path: Path, line_number: int, country: str) -> str:
    if not _COUNTRY.fullmatch(country):
        raise ImproperlyConfigured(f"{path}:{line_number}: {country!r} is not an ISO 3166 alpha-2 country code")
    return country


@lru_cache(maxsize=4)
def _bin_table(path_text: str, _mtime: float) -> dict[str, str]:
    path = Path(path_text)
    table: dict[str, str] = {}
    for index, (line_number, prefix, country) in enumerate(_rows(path)):
        if not _PREFIX.fullmatch(prefix):
            if index == 0 and not prefix.isdigit():
                continue  # a header
            raise ImproperlyConfigured(f"{path}:{line_number}: {prefix!r} is not a BIN prefix of 1 to 11 digits")
        table[prefix] = _checked_country(path, line_number, country)
    return table


@lru_cache(maxsize=4)
def _ip_table(path_text: str, _mtime: float) -> dict[int, _Networks]:
    path = Path(path_text)
    by_version: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
    for index, (line_number, network_text, country) in enumerate(_rows(path)):
        try:
            network = ipaddress.ip_network(network_text, strict=False)
        except ValueError:
            if index == 0:
                continue  # a header
            raise ImproperlyConfigured(f"{path}:{line_number}: {network_text!r} is not a network") from None
        start, end = int(network.network_address), int(network.broadcast_address)
        by_version[network.version].append((start, end, _checked_country(path, line_number, country)))
    tables = {}
    for version, networks in by_version.items():
        networks.sort(key=lambda item: (item[0], item[1] - item[0]))
        tables[version] = _Networks(
            starts=tuple(item[0] for item in networks),
            ends=tuple(item[1] for item in networks),
            countries=tuple(item[2] for item in networks),
            widest=max((item[1] - item[0] for item in networks), default=0),
        )
    return tables


def _file(setting: str) -> tuple[str, float] | None:
    path_text: str = getattr(settings, setting, "")
    if not path_text:
        return None
    try:
        return path_text, os.stat(path_text).st_mtime
    except OSError as exc:
        raise ImproperlyConfigured(f"{setting}: cannot read {path_text} ({exc.strerror})") from exc


def card_country(card_number: str) -> str | None:
    """The issuing country of the card by the longest BIN prefix in RISK_BIN_COUNTRIES_FILE."""
    source = _file("RISK_BIN_COUNTRIES_FILE")
    digits = card_number.replace(" ", "").replace("-", "")
    if source is None or not digits.isdigit():
        return None
    table = _bin_table(*source)
    for length in range(min(len(digits) - 1, 11), 0, -1):
        country = table.get(digits[:length])
        if country:
            return country
    return None


def ip_country(address: str) -> str | None:
    """The country of the IP address by RISK_IP_COUNTRIES_FILE."""
    source = _file("RISK_IP_COUNTRIES_FILE")
    if source is None or not address:
        return None
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    return _ip_table(*source)[parsed.version].country(int(parsed))


def check_tables() -> None:
    """Load both tables now (at start-up): a bad file is found before the first payment."""
    for setting, loader in (("RISK_BIN_COUNTRIES_FILE", _bin_table), ("RISK_IP_COUNTRIES_FILE", _ip_table)):
        source = _file(setting)
        if source is not None:
            loader(*source)
