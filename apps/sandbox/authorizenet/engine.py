"""The Authorize.Net sandbox: the real XML API's behaviour for the methods Clearhouse uses.

Transactions move like the real service's: authorizedPendingCapture -> capturedPendingSettlement
-> settledSuccessfully (by `sandbox_settle`, the nightly cutoff), or voided; refunds only
against settled charges (reason 54), up to what settled (reason 55); captures up to the
authorised amount (reason 47); the duplicate-transaction window (reason 11). Test triggers as in
the real sandbox: its test card numbers, ZIP 46282 declines, AVS results by ZIP, CVV results by
card code, and card 4222222222222 whose dollar amount picks the reason code. Bank accounts
(eCheck.Net debits, credits, returns): see apps.sandbox.authorizenet.echeck.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from lxml import etree

from apps.core.money import to_decimal, to_minor
from apps.sandbox.authorizenet import (
    cim,
    cim_manage,
    cim_shipping,
    cim_transactions,
    echeck,
    merchant,
    reporting,
    transaction_rules,
    unsupported,
)
from apps.sandbox.authorizenet.cards import (
    AMOUNT_TRIGGER_REASONS,
    AVS_BY_ZIP,
    DECLINE_ZIP,
    REASONS,
    CardFacts,
    auth_code,
    card_facts,
    expiration_problem,
)
from apps.sandbox.authorizenet.followups import CHARGE_TYPES as _CHARGE_TYPES
from apps.sandbox.authorizenet.followups import FollowOns, Outcome
from apps.sandbox.authorizenet.xml import (
    Builder,
    RequestXmlError,
    children,
    error_response,
    find,
    find_text,
    local_name,
    parse,
)
from apps.sandbox.models import AnetAccount, AnetPaymentNonce, AnetPaymentProfile, AnetTransaction
from apps.sandbox.notifications import anet_notify

# A method's handler: (request root, account, response root name, refId) -> response bytes.
Handler = Callable[[etree._Element, AnetAccount, str, str], bytes]

# Charges captured at once: a sale, and the capture of an authorisation obtained by phone.
_CAPTURING_TYPES = {"authCaptureTransaction", "captureOnlyTransaction"}
_API_ERRORS = {
    "E00003": "The request is invalid.",
    "E00004": "The name of the requested API method is invalid.",
    "E00007": "User authentication failed due to invalid authentication values.",
    "E00027": "The transaction was unsuccessful.",
    "E00040": "The record cannot be found.",
}


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


class AuthorizeNetSandbox(FollowOns):
    """One XML request: `AuthorizeNetSandbox(body).handle()` returns the response bytes."""

    # --- entry point --------------------------------------------------------------------

    def __init__(
        self,
        body: bytes,
        *,
        now: datetime | None = None,
        subscription: tuple[str, int | None] = ("", None),
        extra_handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self.now = now or timezone.now()
        # Methods served by the modules above this one (ARB): see apps.sandbox.authorizenet.server.
        self.extra_handlers: Mapping[str, Handler] = extra_handlers or {}
        # Set when the sandbox's own ARB schedule makes the charge: (subscription id, payment number).
        self.subscription = subscription
        # Fault `misreport_declined`: do the work, then tell the client it was declined.
        self.misreport_declined = False
        self.parse_error = ""
        try:
            self.root: etree._Element | None = parse(body)
        except RequestXmlError as exc:
            self.root, self.parse_error = None, str(exc)

    @property
    def method(self) -> str:
        return local_name(self.root) if self.root is not None else ""

    @property
    def transaction_type(self) -> str:
        return find_text(self.root, "transactionRequest/transactionType")

    @property
    def ref_id(self) -> str:
        return find_text(self.root, "refId")

    @property
    def login(self) -> str:
        return find_text(self.root, "merchantAuthentication/name")[:40]

    def handle(self) -> bytes:
        root = self.root
        if root is None:
            return error_response("ErrorResponse", "E00003", f"The request is invalid: {self.parse_error}"[:255])
        method = self.method
        if method == "isAliveRequest":  # the one method that needs no authentication
            return self.authenticate_test(root, AnetAccount(), "isAliveResponse", find_text(root, "refId"))
        handlers = {
            **unsupported.HANDLERS,
            **merchant.HANDLERS,
            "authenticateTestRequest": self.authenticate_test,
            "createTransactionRequest": self.create_transaction,
            **reporting.HANDLERS,
            **cim.HANDLERS,
            **cim_manage.HANDLERS,
            **cim_shipping.HANDLERS,
            **cim_transactions.HANDLERS,
            **self.extra_handlers,
        }
        handler = handlers.get(method)
        if handler is None:
            return error_response("ErrorResponse", "E00004", _API_ERRORS["E00004"])
        response_root = method.removesuffix("Request") + "Response"
        ref_id = find_text(root, "refId")
        account = self.authenticate(root)
        if account is None:
            return error_response(response_root, "E00007", _API_ERRORS["E00007"], ref_id)
        return handler(root, account, response_root, ref_id)

    def authenticate(self, root: etree._Element) -> AnetAccount | None:
        name = find_text(root, "merchantAuthentication/name")
        key = find_text(root, "merchantAuthentication/transactionKey")
        account = AnetAccount.objects.filter(api_login_id=name).first()
        if account is None or not secrets.compare_digest(account.transaction_key.encode(), key.encode()):
            return None
        return account

    def authenticate_test(self, root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
        builder = Builder(response_root)
        builder.messages("Ok", [("I00001", "Successful.")], ref_id)
        return builder.to_bytes()

    # --- createTransaction --------------------------------------------------------------

    def create_transaction(self, root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
        request = find(root, "transactionRequest")
        kind = find_text(request, "transactionType")
        if kind in _CHARGE_TYPES:
            outcome = self._charge(account, request, kind, ref_id)
        elif kind == "priorAuthCaptureTransaction":
            outcome = self._capture(account, request)
        elif kind == "voidTransaction":
            outcome = self._void(account, request)
        elif kind == "refundTransaction":
            outcome = self._refund(account, request, ref_id)
        else:
            outcome = Outcome("3", transaction_rules.unsupported_type_reason(kind))
        if outcome.reason_code in {"E00003", "E00040"}:
            text = _API_ERRORS[outcome.reason_code]
            if outcome.reason_code == "E00003":
                text = f"The element 'transactionType' has an invalid value '{kind}'."[:255]
            return error_response(response_root, outcome.reason_code, text, ref_id)
        if outcome.transaction is not None and (outcome.reason_code == "1" or outcome.response_code == "2"):
            anet_notify(
                account=account,
                transaction_type=kind,
                stored=outcome.transaction,
                response_code=outcome.response_code,
                ref_id=ref_id,
            )
        if self.misreport_declined and outcome.approved:
            # The gateway did it but answers "declined" (reason 54 for a refund, 2 for a charge).
            refund = kind == "refundTransaction"
            outcome = Outcome(
                "3" if refund else "2",
                "54" if refund else "2",
                trans_id=outcome.trans_id,
                account_number=outcome.account_number,
                account_type=outcome.account_type,
                ref_trans_id=outcome.ref_trans_id,
            )
        trans_hash = transaction_rules.response_hash(account, request, outcome.trans_id, outcome.transaction)
        return self._transaction_response(response_root, ref_id, outcome, trans_hash)

    def charge_saved(self, account: AnetAccount, request: etree._Element) -> Outcome:
        """A charge the sandbox makes on its own (an ARB payment), notified like any other."""
        outcome = self._charge(account, request, "authCaptureTransaction", "")
        if outcome.transaction is not None:
            anet_notify(
                account=account,
                transaction_type="authCaptureTransaction",
                stored=outcome.transaction,
                response_code=outcome.response_code,
                ref_id="",
            )
        return outcome

    def _amount(self, request: etree._Element | None, account: AnetAccount) -> int | None:
        value = _decimal(find_text(request, "amount"))
        if value is None or value <= 0:
            return None
        try:
            return to_minor(value, account.currency)
        except ValueError:
            return None

    def _charge(self, account: AnetAccount, request: etree._Element | None, kind: str, ref_id: str) -> Outcome:
        amount = self._amount(request, account)
        if find(request, "payment/bankAccount") is not None:
            window = int(self._setting(request, "duplicateWindow") or account.duplicate_window_seconds)
            return self._bank_outcome(
                echeck.debit(
                    account=account, request=request, kind=kind, amount=amount, ref_id=ref_id,
                    window_seconds=window, now=self.now,
                )
            )  # fmt: skip
        refused = transaction_rules.payment_refusal(request, kind)
        if refused:
            return Outcome("3", refused)
        card = find(request, "payment/creditCard")
        opaque = find(request, "payment/opaqueData")
        zip_code = find_text(request, "billTo/zip")
        profile_ids = ("", "")
        saved = None
        if find(request, "profile") is not None:
            profile_ids = (
                find_text(request, "profile/customerProfileId"),
                find_text(request, "profile/paymentProfile/paymentProfileId"),
            )
            saved = cim.payment_profile_for(account, *profile_ids)
            if saved is None:
                return Outcome("3", "E00040")
            facts, zip_code = cim.facts_of(saved), saved.zip
        elif opaque is not None:
            nonce = AnetPaymentNonce.objects.filter(value=find_text(opaque, "dataValue"), used_at__isnull=True).first()
            if (
                nonce is None
                or AnetPaymentNonce.objects.filter(pk=nonce.pk, used_at__isnull=True).update(used_at=self.now) != 1
            ):
                return Outcome("3", "6")
            facts = CardFacts(
                nonce.card_type, nonce.card_last4, nonce.card_fingerprint, nonce.card_valid, nonce.card_valid,
                False, nonce.expiration, nonce.cvv_code,
            )  # fmt: skip
        elif card is not None:
            facts = card_facts(
                find_text(card, "cardNumber"), find_text(card, "expirationDate"), find_text(card, "cardCode")
            )
        else:
            return Outcome("3", "6")
        masked = f"XXXX{facts.last4}"
        if not facts.valid:
            return Outcome("3", "6", account_number=masked, account_type=facts.card_type)
        expired = expiration_problem(facts.expiration, self.now)
        if expired:
            return Outcome("3", expired, account_number=masked, account_type=facts.card_type)
        if amount is None:
            return Outcome("3", "5", account_number=masked, account_type=facts.card_type)
        reason, avs = self._verdict(kind, facts, zip_code, saved, to_decimal(amount, account.currency))
        invoice = find_text(request, "order/invoiceNumber")
        window = int(self._setting(request, "duplicateWindow") or account.duplicate_window_seconds)
        with transaction.atomic():
            AnetAccount.objects.select_for_update().get(pk=account.pk)  # one charge at a time per account
            duplicate = (
                window > 0
                and AnetTransaction.objects.filter(
                    account=account,
                    transaction_type=kind,
                    card_fingerprint=facts.fingerprint,
                    auth_amount=amount,
                    invoice_number=invoice,
                    submitted_at__gte=self.now - timedelta(seconds=window),
                ).exists()
            )
            if duplicate:
                return Outcome("3", "11", account_number=masked, account_type=facts.card_type, avs=avs)
            approved = reason == "1"
            status = (
                AnetTransaction.Status.DECLINED
                if not approved
                else AnetTransaction.Status.CAPTURED
                if kind in _CAPTURING_TYPES
                else AnetTransaction.Status.AUTHORIZED
            )
            first, _, last = (
                find_text(request, "billTo/firstName") + " " + find_text(request, "billTo/lastName")
            ).partition(" ")
            stored = AnetTransaction.objects.create(
                account=account,
                transaction_type=kind,
                status=status,
                response_code="1" if approved else "2",
                reason_code=reason,
                reason_text=REASONS.get(reason, REASONS["2"]),
                auth_amount=amount,
                settle_amount=amount if kind in _CAPTURING_TYPES and approved else 0,
                currency=account.currency,
                card_type=facts.card_type,
                card_last4=facts.last4,
                card_fingerprint=facts.fingerprint,
                expiration=facts.expiration,
                invoice_number=invoice,
                description=find_text(request, "order/description")[:255],
                ref_id=ref_id,
                customer_email=find_text(request, "customer/email")[:255],
                first_name=first.strip()[:50],
                last_name=last.strip()[:50],
                auth_code=(find_text(request, "authCode").upper() if kind == "captureOnlyTransaction" else auth_code())
                if approved
                else "",
                avs_code=avs,
                cvv_code=facts.cvv_code,
                customer_profile_id=profile_ids[0],
                payment_profile_id=profile_ids[1],
                subscription_id=self.subscription[0],
                subscription_pay_num=self.subscription[1],
                submitted_at=self.now,
            )
        return Outcome(
            stored.response_code,
            reason,
            stored,
            stored.trans_id,
            masked,
            facts.card_type,
            avs,
            facts.cvv_code,
            stored.auth_code,
        )

    @staticmethod
    def _verdict(
        kind: str, facts: CardFacts, zip_code: str, saved: AnetPaymentProfile | None, amount: Decimal
    ) -> tuple[str, str]:
        """The issuer's answer (reason code) and the AVS result, by the sandbox's test triggers."""
        if kind == "captureOnlyTransaction":
            return "1", "P"  # the issuer approved by phone: nothing is asked of it now, no AVS either
        avs = AVS_BY_ZIP.get(zip_code, "Y" if zip_code else "P")
        if zip_code == DECLINE_ZIP or not facts.known_test_card or (saved is not None and saved.declining):
            return "2", avs
        if facts.amount_trigger and int(amount) in AMOUNT_TRIGGER_REASONS:
            return str(int(amount)), avs
        return "1", avs

    @staticmethod
    def _setting(request: etree._Element | None, name: str) -> str:
        for setting in children(find(request, "transactionSettings"), "setting"):
            if find_text(setting, "settingName") == name:
                return find_text(setting, "settingValue")
        return ""

    def _transaction_response(self, response_root: str, ref_id: str, outcome: Outcome, trans_hash: str = "") -> bytes:
        builder = Builder(response_root)
        if outcome.approved:
            builder.messages("Ok", [("I00001", "Successful.")], ref_id)
        else:
            builder.messages("Error", [("E00027", _API_ERRORS["E00027"])], ref_id)
        tr = builder.add(builder.root, "transactionResponse")
        builder.add(tr, "responseCode", outcome.response_code)
        builder.add(tr, "authCode", outcome.auth_code)
        builder.add(tr, "avsResultCode", outcome.avs or "P")
        builder.add(tr, "cvvResultCode", outcome.cvv)
        builder.add(tr, "cavvResultCode", "")
        builder.add(tr, "transId", outcome.trans_id)
        builder.add(tr, "refTransID", outcome.ref_trans_id)
        builder.add(tr, "transHash", "")
        builder.add(tr, "testRequest", "0")
        builder.add(tr, "accountNumber", outcome.account_number)
        builder.add(tr, "accountType", outcome.account_type)
        text = REASONS.get(outcome.reason_code) or transaction_rules.REASON_TEXTS.get(outcome.reason_code, REASONS["2"])
        if outcome.approved:
            message = builder.add(builder.add(tr, "messages"), "message")
            builder.add(message, "code", outcome.reason_code)
            builder.add(message, "description", text)
        else:
            error = builder.add(builder.add(tr, "errors"), "error")
            builder.add(error, "errorCode", outcome.reason_code)
            builder.add(error, "errorText", text)
        builder.add(tr, "transHashSha2", trans_hash)
        return builder.to_bytes()
