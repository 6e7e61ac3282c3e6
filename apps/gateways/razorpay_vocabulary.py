"""Razorpay words that pages outside the adapter need without importing its SDK: the browser
token a Checkout answer becomes (apps/gateways/razorpay/vault.py reads it)."""

from __future__ import annotations

# An OpaqueToken of this descriptor carries Checkout's answer for a card saved there:
# "razorpay_order_id|razorpay_payment_id|razorpay_signature".
CHECKOUT_TOKEN_DESCRIPTOR = "razorpay.checkout"
