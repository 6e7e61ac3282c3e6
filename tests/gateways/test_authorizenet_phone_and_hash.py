"""The Authorize.Net adapter: a phone authorisation captured (captureOnlyTransaction), and the
transaction hash (transHashSha2) of every answer checked against our Signature Key."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from decimal import Decimal

import pytest

from apps.gateways.authorizenet.client import trans_hash_sha2
from apps.gateways.base import Card, ChargeRequest, Outcome
from apps.gateways.errors import GatewayDeclined, GatewayMisconfigured, GatewayOutcomeUnknown
from apps.sandbox.models import AnetTransaction

VISA = Card("4111111111111111", 12, 2030, "123")


def charge(amount: int = 1050, **kwargs) -> ChargeRequest:
    return ChargeRequest(reference=f"t{secrets.token_hex(8)}", amount=amount, currency="USD", payment=VISA, **kwargs)


def test_a_sale_with_an_authorization_code_is_a_capture_only(anet_gateway):
    result = anet_gateway.sale(charge(4217, authorization_code="ROHNFQ"))

    assert (result.outcome, result.auth_code) == (Outcome.APPROVED, "ROHNFQ")
    pk = AnetTransaction.pk_from_trans_id(result.transaction_id)
    assert pk is not None
    stored = AnetTransaction.objects.get(pk=pk)
    assert (stored.transaction_type, stored.status, stored.settle_amount) == (
        "captureOnlyTransaction", AnetTransaction.Status.CAPTURED, 4217,
    )  # fmt: skip


def test_a_bad_authorization_code_is_declined_with_reason_72(anet_gateway):
    with pytest.raises(GatewayDeclined) as declined:
        anet_gateway.sale(charge(authorization_code="RO-HNF"))

    assert declined.value.result.reason_code == "72"


def test_an_authorization_code_is_never_authorized_again(anet_gateway):
    with pytest.raises(GatewayMisconfigured):
        anet_gateway.authorize(charge(authorization_code="ROHNFQ"))

    assert not AnetTransaction.objects.exists()


def test_the_hash_matches_the_upgrade_guides_recipe():
    key = secrets.token_hex(64).upper()
    expected = hmac.new(bytes.fromhex(key), b"^login^60115446835^10.00^", hashlib.sha512).hexdigest().upper()

    assert trans_hash_sha2(key, "login", "60115446835", Decimal("10")) == expected


def test_an_answer_whose_hash_does_not_match_is_an_unknown_outcome(anet_gateway, anet_sandbox, caplog):
    # The gateway signs with another key than ours: its answer cannot be trusted.
    anet_sandbox.signature_key = secrets.token_hex(64).upper()
    anet_sandbox.save(update_fields=["signature_key"])

    with pytest.raises(GatewayOutcomeUnknown):
        anet_gateway.sale(charge(1500))

    assert AnetTransaction.objects.filter(auth_amount=1500).count() == 1  # it did happen: resolution finds it
    assert "anet_trans_hash_mismatch" in caplog.text


def test_an_answer_without_a_hash_is_read_as_before(anet_gateway, anet_sandbox):
    anet_sandbox.signature_key = ""
    anet_sandbox.save(update_fields=["signature_key"])

    assert anet_gateway.sale(charge(1600)).outcome is Outcome.APPROVED
