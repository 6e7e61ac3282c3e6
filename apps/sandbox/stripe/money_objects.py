"""The JSON shapes of the money objects: charges, refunds, balance transactions and disputes
(API version 2023-08-16, as objects.py)."""

from __future__ import annotations

from typing import Any

from apps.sandbox.models import StripeBalanceTransaction, StripeCharge, StripeDispute, StripeRefund

from .objects import billing_details, related_id, unix

STATEMENT_DESCRIPTOR = "CLEARHOUSE SANDBOX"


def charge_object(charge: StripeCharge) -> dict[str, Any]:
    method = charge.payment_method
    return {
        "id": charge.stripe_id,
        "object": "charge",
        "amount": charge.amount,
        "amount_captured": charge.amount_captured,
        "amount_refunded": charge.amount_refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": related_id(charge.balance_transaction),
        "billing_details": billing_details(method),
        "calculated_statement_descriptor": STATEMENT_DESCRIPTOR,
        "captured": charge.captured,
        "created": unix(charge.created_at),
        "currency": charge.currency,
        "customer": related_id(charge.customer),
        "description": charge.description,
        "disputed": charge.disputed,
        "failure_balance_transaction": None,
        "failure_code": charge.failure_code,
        "failure_message": charge.failure_message,
        "fraud_details": {},
        "invoice": None,
        "livemode": False,
        "metadata": charge.metadata,
        "on_behalf_of": None,
        "outcome": charge.outcome,
        "paid": charge.status == StripeCharge.Status.SUCCEEDED,
        "payment_intent": related_id(charge.payment_intent),
        "payment_method": method.stripe_id,
        "payment_method_details": {
            "card": {
                "brand": method.brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": "fail" if charge.failure_code == "incorrect_cvc" else "pass",
                },
                "country": method.country,
                "exp_month": method.exp_month,
                "exp_year": method.exp_year,
                "fingerprint": method.fingerprint,
                "funding": method.funding,
                "installments": None,
                "last4": method.last4,
                "mandate": None,
                "network": method.brand,
                "network_token": {"used": False},
                "three_d_secure": (
                    {
                        "authentication_flow": "challenge",
                        "result": "authenticated",
                        "result_reason": None,
                        "version": "2.2.0",
                    }
                    if charge.three_d_secure
                    else None
                ),
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": charge.receipt_email,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": charge.refunded,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": charge.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def refund_object(refund: StripeRefund) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": refund.stripe_id,
        "object": "refund",
        "amount": refund.amount,
        "balance_transaction": related_id(refund.balance_transaction),
        "charge": refund.charge.stripe_id,
        "created": unix(refund.created_at),
        "currency": refund.currency,
        "metadata": refund.metadata,
        "payment_intent": related_id(refund.charge.payment_intent),
        "reason": refund.reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": refund.status,
        "transfer_reversal": None,
    }
    if refund.status == StripeRefund.Status.FAILED:
        body["failure_balance_transaction"] = related_id(refund.failure_balance_transaction)
        body["failure_reason"] = refund.failure_reason
    return body


def balance_transaction_object(transaction: StripeBalanceTransaction) -> dict[str, Any]:
    return {
        "id": transaction.stripe_id,
        "object": "balance_transaction",
        "amount": transaction.amount,
        "available_on": unix(transaction.available_on),
        "created": unix(transaction.created_at),
        "currency": transaction.currency,
        "description": transaction.description,
        "exchange_rate": None,
        "fee": transaction.fee,
        "fee_details": transaction.fee_details,
        "net": transaction.net,
        "reporting_category": transaction.reporting_category,
        "source": transaction.source_id,
        "status": transaction.status(),
        "type": transaction.type,
    }


EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)


def dispute_object(dispute: StripeDispute) -> dict[str, Any]:
    transactions = [dispute.balance_transaction] if dispute.balance_transaction is not None else []
    return {
        "id": dispute.stripe_id,
        "object": "dispute",
        "amount": dispute.amount,
        "balance_transactions": [balance_transaction_object(item) for item in transactions],
        "charge": dispute.charge.stripe_id,
        "created": unix(dispute.created_at),
        "currency": dispute.currency,
        "evidence": dict.fromkeys(EVIDENCE_FIELDS),
        "evidence_details": {
            "due_by": unix(dispute.evidence_due_by),
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": dispute.metadata,
        "payment_intent": related_id(dispute.charge.payment_intent),
        "reason": dispute.reason,
        "status": dispute.status,
    }
