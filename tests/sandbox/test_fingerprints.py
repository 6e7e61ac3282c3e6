"""The sandboxes' card fingerprints are keyed: stable within a deployment, useless without its
SECRET_KEY (a plain hash of a card number is reversed by trying every number)."""

from __future__ import annotations

import hashlib

import pytest
from django.test import override_settings

from apps.sandbox.authorizenet.cards import fingerprint as anet_fingerprint
from apps.sandbox.razorpay.tokens import card_fingerprint as razorpay_fingerprint
from apps.sandbox.stripe.cards import fingerprint as stripe_fingerprint

NUMBER = "4111111111111111"

pytestmark = pytest.mark.sqlite


@pytest.mark.parametrize("fingerprint", [anet_fingerprint, razorpay_fingerprint, stripe_fingerprint])
def test_a_fingerprint_is_stable_keyed_and_never_a_plain_hash(fingerprint):
    first = fingerprint(NUMBER)
    assert fingerprint(NUMBER) == first
    assert fingerprint("4242424242424242") != first
    assert first not in hashlib.sha256(NUMBER.encode()).hexdigest()
    with override_settings(SECRET_KEY="another-deployment-" + "x" * 40):
        assert fingerprint(NUMBER) != first


def test_each_gateway_fingerprints_the_same_card_differently():
    assert anet_fingerprint(NUMBER) != razorpay_fingerprint(NUMBER)
    assert not anet_fingerprint(NUMBER).startswith(stripe_fingerprint(NUMBER))
