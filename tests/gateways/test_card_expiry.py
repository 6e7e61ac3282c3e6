"""A card past its expiry month is refused before any gateway call, as a card error naming the part
at fault; a card is good through the last day of its expiry month."""

from __future__ import annotations

from datetime import date

import pytest

from apps.gateways.base import Card, OpaqueToken
from apps.gateways.selectors import card_expired

TODAY = date(2027, 5, 31)


@pytest.mark.parametrize(
    ("exp_month", "exp_year", "param"),
    [
        (12, 2026, "payment_method.exp_year"),
        (6, 2020, "payment_method.exp_year"),
        (4, 2027, "payment_method.exp_month"),
        (1, 2027, "payment_method.exp_month"),
        (5, 2027, None),  # its last month
        (6, 2027, None),
        (1, 2028, None),
    ],
)
def test_a_card_is_expired_after_its_month(exp_month, exp_year, param):
    refusal = card_expired(Card("4111111111111111", exp_month, exp_year), param_prefix="payment_method.", today=TODAY)

    if param is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert (refusal.status_code, refusal.error_type, refusal.code, refusal.param) == (
            402, "card_error", "expired_card", param,
        )  # fmt: skip


def test_only_a_card_has_an_expiry_to_check():
    assert card_expired(OpaqueToken("COMMON.ACCEPT.INAPP.PAYMENT", "nonce"), today=TODAY) is None
