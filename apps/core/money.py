"""Money is an integer in minor units plus an ISO 4217 code; decimals exist only at the edges."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 minor-unit exponents that differ from 2.
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip
# Currencies accepted anywhere in the system (a gateway account narrows this further).
SUPPORTED_CURRENCIES = frozenset(
    {"USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "PLN", "INR", "JPY", "KWD", "SGD", "HKD"}
)


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def to_decimal(amount_minor: int, currency: str) -> Decimal:
    """1050 USD -> Decimal('10.50'); 1050 JPY -> Decimal('1050')."""
    places = exponent(currency)
    return (Decimal(amount_minor) / (Decimal(10) ** places)).quantize(Decimal(1).scaleb(-places))


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """Decimal('10.5') USD -> 1050. Refuses amounts with more precision than the currency has."""
    scaled = Decimal(str(amount)) * (Decimal(10) ** exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimal places than {currency} allows")
    return int(scaled)


def format_amount(amount_minor: int, currency: str) -> str:
    return f"{to_decimal(amount_minor, currency):,} {currency.upper()}"
