"""Card fingerprints: stable per deployment, keyed, never carrying the number."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.core.cards import contains_card_number
from apps.risk.fingerprint import FINGERPRINT_LENGTH, card_fingerprint

CARDS = ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "4000056655665556"]
FINGERPRINT = re.compile(r"fp_[a-z2-7]{32}")


@pytest.mark.parametrize("number", CARDS)
def test_the_same_card_always_has_the_same_fingerprint(number):
    first = card_fingerprint(number)

    again = card_fingerprint(number)

    assert again == first


def test_different_cards_have_different_fingerprints():
    fingerprints = {card_fingerprint(number) for number in CARDS}

    assert len(fingerprints) == len(CARDS)


@pytest.mark.parametrize(
    "typed", ["4111 1111 1111 1111", "4111-1111-1111-1111", " 4111 1111-1111 1111 ", "4111  1111 1111 1111"]
)
def test_spaces_and_dashes_are_ignored(typed):
    assert card_fingerprint(typed) == card_fingerprint("4111111111111111")


def test_another_key_gives_another_fingerprint(settings):
    settings.RISK_FINGERPRINT_KEY = "first-deployment-key-0123456789"
    first = card_fingerprint("4111111111111111")

    settings.RISK_FINGERPRINT_KEY = "second-deployment-key-0123456789"
    second = card_fingerprint("4111111111111111")

    assert first != second


def test_the_fingerprint_is_an_hmac_sha256_of_the_digits_under_the_key(settings):
    # Pinned: changing the construction changes every fingerprint already stored.
    settings.RISK_FINGERPRINT_KEY = "known-answer-key-for-tests"
    mac = hmac.new(
        b"known-answer-key-for-tests", b"clearhouse:risk:card-fingerprint:v1\x004111111111111111", hashlib.sha256
    ).digest()

    fingerprint = card_fingerprint("4111 1111 1111 1111")

    assert fingerprint == "fp_gk44levidsvr2er6wgfyihuyk3ec25ke"
    assert fingerprint == "fp_" + base64.b32encode(mac[:20]).decode().lower()


@pytest.mark.parametrize("number", CARDS)
def test_the_fingerprint_has_a_fixed_shape_and_carries_nothing_of_the_number(number):
    fingerprint = card_fingerprint(number)

    assert FINGERPRINT.fullmatch(fingerprint)
    assert len(fingerprint) == FINGERPRINT_LENGTH == 35
    assert number not in fingerprint
    assert number[:6] + number[-4:] not in fingerprint
    assert number[:6] not in fingerprint
    # Base32 has no 0, 1, 8 or 9 and never a long digit run: no fingerprint reads as a card number.
    assert not contains_card_number(fingerprint)


def test_nothing_is_logged(caplog):
    with caplog.at_level(logging.DEBUG):
        card_fingerprint("4111 1111 1111 1111")

    assert not [record for record in caplog.records if "1111" in record.getMessage()]


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "4111 1111 1111",
        "4111 1111 1111 1111 1111",
        "4111.1111.1111.1111",
        "4111 1111 1111 111x",
        "٤١١١١١١١١١١١١١١١",
    ],
)
def test_what_is_not_a_card_number_is_refused_without_echoing_it(typed):
    with pytest.raises(ValueError, match="13 to 19 digits") as refused:
        card_fingerprint(typed)

    assert "1111" not in str(refused.value)


def test_an_empty_key_is_a_configuration_error(settings):
    settings.RISK_FINGERPRINT_KEY = ""

    with pytest.raises(ImproperlyConfigured, match="RISK_FINGERPRINT_KEY"):
        card_fingerprint("4111111111111111")
