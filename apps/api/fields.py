"""Input every app's API shares: money amounts in minor units, card and token input (write-only,
never echoed, stored or logged), billing details, metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from apps.core.cards import luhn_valid


class StrictIntegerField(serializers.IntegerField):
    """Money is an integer in minor units: 10.0, "10" and true are refused, not coerced."""

    default_error_messages = {"invalid": "Must be an integer number of minor units (e.g. 1050 for 10.50)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


def unknown_parameter(name: str) -> serializers.ValidationError:
    """The 400 `parameter_unknown` for a parameter an operation does not take."""
    return serializers.ValidationError({name: [serializers.ErrorDetail("Unknown parameter.", code="unknown")]})


class InputSerializer(serializers.Serializer[Any]):
    """Request input: a parameter the operation does not take is refused (400 parameter_unknown,
    naming it), never ignored: a misspelt `postal_cod` must not charge a card without its ZIP."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = [key for key in data if key not in self.fields or self.fields[key].read_only]
            if unknown:
                raise unknown_parameter(str(unknown[0]))
        return super().to_internal_value(data)


# The longest address our email columns hold (Django's models.EmailField, after RFC 5321's
# 254-character path). DRF's EmailField checks only the form, which Django's validator lets run
# to 320 characters: the column would refuse the rest with a DataError, a 500.
EMAIL_MAX_LENGTH = 254


class EmailAddressField(serializers.EmailField):
    """An email address, at most EMAIL_MAX_LENGTH characters (a longer one: 400 parameter_invalid)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", EMAIL_MAX_LENGTH)
        super().__init__(**kwargs)


class BillingDetailsSerializer(InputSerializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    email = EmailAddressField(required=False, allow_blank=True)
    line1 = serializers.CharField(max_length=60, required=False, allow_blank=True)
    city = serializers.CharField(max_length=40, required=False, allow_blank=True)
    state = serializers.CharField(max_length=40, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(max_length=60, required=False, allow_blank=True)


REQUIRED = ErrorDetail("This field is required.", code="required")


class PaymentMethodSerializer(InputSerializer):
    """A card (where raw card data is enabled) or an Accept.js token. Card fields are write-only
    and never echoed, stored or logged."""

    type = serializers.ChoiceField(choices=["card", "opaque_data"])
    number = serializers.CharField(max_length=23, required=False, write_only=True, trim_whitespace=True)
    exp_month = StrictIntegerField(min_value=1, max_value=12, required=False)
    exp_year = StrictIntegerField(min_value=2000, max_value=2100, required=False)
    cvc = serializers.RegexField(r"^[0-9]{3,4}$", required=False, write_only=True)
    descriptor = serializers.CharField(max_length=100, required=False)
    value = serializers.CharField(max_length=8192, required=False, write_only=True)
    billing_details = BillingDetailsSerializer(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == "card":
            missing = [field for field in ("number", "exp_month", "exp_year") if field not in attrs]
            if missing:
                raise serializers.ValidationError(dict.fromkeys(missing, REQUIRED))
            number = attrs["number"].replace(" ", "").replace("-", "")
            if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
                raise serializers.ValidationError({"number": "This is not a valid card number."}, code="invalid_number")
            # A card past its expiry is well-formed input: the service refuses it as a card error
            # (402 expired_card), as an issuer would (apps.gateways.selectors.card_expired).
            attrs["number"] = number
        else:
            missing = [field for field in ("descriptor", "value") if not attrs.get(field)]
            if missing:
                raise serializers.ValidationError(dict.fromkeys(missing, REQUIRED))
        return attrs


def validate_metadata(value: Any) -> None:
    if not isinstance(value, dict):
        raise serializers.ValidationError("Must be an object of string keys and values.")
    if len(value) > 50:
        raise serializers.ValidationError("At most 50 keys.")
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 40 or len(item) > 500:
            raise serializers.ValidationError("Keys up to 40 and values up to 500 characters, both strings.")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> str:
    """`scheme://host[:port]` of an absolute URL, lower case and without the scheme's default port
    (compared as a browser compares origins); "" for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return ""
    if ":" in host:  # IPv6, as it is written in a URL
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def trusted_origin(url: str) -> bool:
    """Whether `url` is at an origin the merchant's frontends are trusted at (CORS_ALLOWED_ORIGINS:
    those allowed to call the API from a browser with a customer session token)."""
    origin = url_origin(url)
    return bool(origin) and origin in {url_origin(allowed) for allowed in settings.CORS_ALLOWED_ORIGINS}


class ReturnUrlField(serializers.URLField):
    """The merchant's page a customer's browser goes back to after authenticating (3-D Secure):
    http(s) only, at most 2000 characters, blank when there is none.

    Given by a customer session token (the serializer's context has `customer_scoped`), it must be at
    one of CORS_ALLOWED_ORIGINS: whoever holds a customer's token could otherwise make our address
    send browsers anywhere (an open redirect). The merchant's secret key sets any http(s) URL."""

    default_error_messages = {
        "untrusted_origin": "A customer session token may only send the customer back to an origin "
        "listed in CORS_ALLOWED_ORIGINS; set any other return_url with your secret key."
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 2000)
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", "")
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("help_text", "Where the customer's browser goes after 3-D Secure")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value: str = super().to_internal_value(data)
        if value and urlsplit(value).scheme not in {"http", "https"}:
            raise serializers.ValidationError("Must be an http or https URL.")
        if value and self.context.get("customer_scoped") and not trusted_origin(value):
            self.fail("untrusted_origin")
        return value
