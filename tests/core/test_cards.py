"""Finding card numbers in text we would store (refused) and in text we log (masked)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core.cards import card_number_spans, contains_card_number, luhn_valid

PANS = ["4111111111111111", "5424000000000015", "370000000000002", "6011000000000012", "4007000000027"]


@pytest.mark.parametrize(
    "text",
    [
        *PANS,
        "card 4111 1111 1111 1111 please",
        "4111-1111-1111-1111",
        "card4111111111111111",  # letters around it: still a card number typed in
        "order 12 4111 1111 1111 1111",  # after another digit group
        "Ref: 5424000000000015.",
    ],
)
def test_card_numbers_in_text_are_found(text):
    assert contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # fails the Luhn check
        "order 1234567890123",
        "12345678901234567890123",  # longer than any card number
        "phone +1 555 0100",
        "4111  1111 1111 1111",  # two spaces: not one number
        "",
    ],
)
def test_other_digits_are_not_card_numbers(text):
    assert not contains_card_number(text)


@given(st.sampled_from(PANS), st.text(alphabet="abc ._-", max_size=5), st.text(alphabet="abc ._-", max_size=5))
def test_a_card_number_is_found_whatever_surrounds_it(pan, before, after):
    assert contains_card_number(f"{before}{pan}{after}")


def test_logs_mask_only_numbers_standing_alone():
    text = "req_fc4c5122a90c4e4111111111111111eab3 charged 4111111111111111"
    assert card_number_spans(text) == [(len(text) - 16, len(text))]


def test_luhn():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


# A Razorpay Checkout signature (HMAC-SHA256 hex) seen in CI: "2784547072441460" inside passes Luhn.
SIGNATURE = "1fe59c05426f879fe68e1270a1d4cd2784547072441460a4d77ba307b0f02fb6"


@pytest.mark.parametrize("text", [SIGNATURE, SIGNATURE.upper(), "2784547072441460a4d77ba307b0f02fb6aa"])
def test_digits_inside_a_hex_digest_are_not_card_numbers(text):
    assert not contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        f"{SIGNATURE} 4111111111111111",  # a card typed beside a digest is still found
        "4111111111111111abcdef",  # too short for a digest
        "4111111111111111 deadbeefdeadbeefdeadbeefdeadbeef",
        "card4111111111111111x" + "0" * 20,  # not hex
    ],
)
def test_a_card_number_beside_a_digest_is_still_found(text):
    assert contains_card_number(text)


@given(st.binary(min_size=32, max_size=32))
def test_no_sha256_hex_digest_is_taken_for_a_card_number(raw):
    import hashlib

    assert not contains_card_number(hashlib.sha256(raw).hexdigest())
