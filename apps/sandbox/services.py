from __future__ import annotations

import secrets

from django.db import transaction

from apps.audit.actors import Actor
from apps.audit.services import audit_record

from .authorizenet.engine import settle
from .models import AnetAccount, AnetBatch, RzpAccount
from .razorpay.ids import new_id


def anet_account_create(*, api_login_id: str, currency: str = "USD") -> AnetAccount:
    """A sandbox merchant account with fresh credentials (as the real sandbox's sign-up gives)."""
    return AnetAccount.objects.create(
        api_login_id=api_login_id,
        transaction_key=secrets.token_hex(8),
        signature_key=secrets.token_hex(64).upper(),
        currency=currency,
    )


def anet_settle(*, account: AnetAccount | None = None, actor: Actor) -> list[AnetBatch]:
    batches = settle(account=account)
    if batches:
        with transaction.atomic():
            for batch in batches:
                audit_record(
                    actor=actor,
                    action="sandbox.batch_settled",
                    target=batch,
                    after={"batch_id": batch.batch_id, "transactions": batch.transactions.count()},
                )
    return batches


def rzp_account_create(*, key_id: str | None = None) -> RzpAccount:
    """A Razorpay sandbox account with a fresh test key pair (what the dashboard's "Generate key" gives)."""
    return RzpAccount.objects.create(
        key_id=key_id or new_id("rzp_test_"),
        key_secret=new_id("", 24),
    )


def anet_payment_profile_set_decline(*, payment_profile_id: str, declining: bool = True) -> int:
    """Test switch: the sandbox declines (or approves again) charges of this saved card, as a card
    that expired or ran out of funds after it was saved would."""
    from .authorizenet.cim import set_declining

    return set_declining(payment_profile_id=payment_profile_id, declining=declining)


def anet_vault_seed(
    *, account: AnetAccount, reference: str, email: str, card_number: str, expiration: str, zip_code: str = "",
    declining: bool = False,
) -> tuple[str, str]:  # fmt: skip
    """Demo data: a customer profile with one saved card, written straight into the sandbox's
    vault (what createCustomerProfile would store: brand, last four, fingerprint, never the
    number). Returns (customer profile id, payment profile id)."""
    from .authorizenet.engine import card_facts
    from .models import AnetCustomerProfile, AnetPaymentProfile

    facts = card_facts(card_number, expiration, "")
    profile = AnetCustomerProfile.objects.create(account=account, merchant_customer_id=reference[:20], email=email)
    saved = AnetPaymentProfile.objects.create(
        customer_profile=profile, card_type=facts.card_type, card_last4=facts.last4,
        card_fingerprint=facts.fingerprint, expiration=expiration, zip=zip_code, is_default=True, declining=declining,
    )  # fmt: skip
    return profile.profile_id, saved.payment_profile_id
