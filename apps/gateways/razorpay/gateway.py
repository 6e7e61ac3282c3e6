"""The Razorpay adapter: orders, payment lookups, captures, refunds and settlement reports.

Razorpay works the other way round from Authorize.Net: the customer pays in the browser
(Razorpay Checkout) against an order we created; we verify and then ask the API what happened.
So `authorize`/`sale` are refused here, and the adapter adds orders and payment lookups. Settlements
are read from the combined settlement report (`settlements`).

SDK facts this module works around (see docs/architecture.md and the shared gateway notes):
- only `error.description` survives in its exceptions (no HTTP status): the kind of failure is
  read off the exception class and, for BAD_REQUEST_ERROR, the description;
- it has no timeout unless one is passed per call, and prints to stdout on connection errors;
- it pins its own CA bundle (fine for the real API; our sandbox is plain http on loopback);
- `payment.refund` must get a dict (`{"amount": …}`), and `verify_webhook_signature` a str.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import razorpay
import requests
from django.conf import settings
from razorpay import errors as rzp_errors

from apps.gateways import http
from apps.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    CheckoutPayment,
    GatewayResult,
    Order,
    OrderRequest,
    Outcome,
    RefundRequest,
    SavedCard,
    TransactionDetails,
    TransactionState,
    VoidRequest,
)
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayError,
    GatewayFeatureUnavailable,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayOutcomeUnknown,
    GatewayRetryable,
)
from apps.gateways.models import GatewayAccount
from apps.gateways.razorpay.vault import DECLINE_CODES, MAX_RECEIPT_LENGTH, RazorpayVaultMixin, order_of, text
from apps.gateways.settlement_interface import SettlementBatchData, SettlementLineData, SettlementLineKind

logger = logging.getLogger(__name__)

_PAYMENT_STATES = {
    "created": TransactionState.UNDER_REVIEW,  # the customer has not finished paying
    "authorized": TransactionState.AUTHORIZED,
    "captured": TransactionState.CAPTURED,
    "refunded": TransactionState.CAPTURED,  # the charge itself was captured; refunds are separate
    "failed": TransactionState.DECLINED,
}
_REFUND_STATES = {
    "pending": TransactionState.REFUND_PENDING,
    "processed": TransactionState.REFUND_SETTLED,
    "failed": TransactionState.DECLINED,
}


@dataclass(frozen=True)
class RazorpayConfig:
    key_id: str
    key_secret: str = field(repr=False)
    base_url: str
    timeout_seconds: float = 30.0
    auto_capture: bool = True


# Razorpay gives a payment's `card` object only when asked (its brand and last four are ours to show).
_EXPAND_CARD = {"expand[]": "card"}


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError):
        return None


def _payment_info(data: dict[str, Any]) -> CheckoutPayment:
    card = data.get("card") or {}
    return CheckoutPayment(
        payment_id=text(data.get("id")),
        order_id=text(data.get("order_id")),
        status=text(data.get("status")),
        amount=int(data.get("amount") or 0),
        currency=text(data.get("currency")).upper(),
        amount_refunded=int(data.get("amount_refunded") or 0),
        card_brand=text(card.get("network")).lower().replace(" ", "_")[:20],
        card_last4=text(card.get("last4"))[-4:],
        email=text(data.get("email")),
        contact=text(data.get("contact")),
        error_code=text(data.get("error_code")),
        error_reason=text(data.get("error_reason")),
        error_description=text(data.get("error_description")),
        created_at=_timestamp(data.get("created_at")),
    )


def _our_reference(notes: Any) -> str:
    """`notes.reference`, where we put our reference. The settlement report gives notes as text
    (JSON, or the bare value), entities as an object (or `[]` when empty)."""
    if isinstance(notes, str):
        try:
            notes = json.loads(notes)
        except ValueError:
            return ""
    return text(notes.get("reference")) if isinstance(notes, dict) else ""


_RECON_KINDS = {"payment": SettlementLineKind.CHARGE, "refund": SettlementLineKind.REFUND}


def _recon_line(item: dict[str, Any]) -> SettlementLineData:
    """One settlement report item. Razorpay's `fee` includes the GST that `tax` repeats (a payment
    is credited `amount - fee`): the line carries the fee without it, so fee + tax is what was
    deducted. Transfers, adjustments and disputes are adjustments to us."""
    kind = _RECON_KINDS.get(text(item.get("type")), SettlementLineKind.ADJUSTMENT)
    fee, tax = int(item.get("fee") or 0), int(item.get("tax") or 0)
    # Our reference: a payment's order receipt (create_order sends it); a refund's notes.
    reference = text(item.get("order_receipt")) if kind == SettlementLineKind.CHARGE else ""
    return SettlementLineData(
        transaction_id=text(item.get("entity_id")),
        kind=kind,
        status=text(item.get("type"))[:40],
        amount=abs(int(item.get("amount") or 0)),
        currency=text(item.get("currency")).upper(),
        fee=fee - tax,
        tax=tax,
        reference=reference or _our_reference(item.get("notes")),
        parent_transaction_id=text(item.get("payment_id")) if kind == SettlementLineKind.REFUND else "",
        occurred_at=_timestamp(item.get("created_at")),
    )


class RazorpayRequestRefused(GatewayError):
    """BAD_REQUEST_ERROR that is not about a missing id or our credentials: the request itself
    was refused (validation, wrong state). Final: repeating it will not help."""

    code = "request_refused"


def _classify(exc: BaseException, *, mutating: bool, url: str) -> GatewayError:
    if isinstance(exc, rzp_errors.BadRequestError):
        message = str(exc) or "Bad request"
        lowered = message.lower()
        if "does not exist" in lowered:
            return GatewayNotFound(message)
        if "authentication failed" in lowered or "access denied" in lowered:
            return GatewayMisconfigured(f"Razorpay refused our credentials: {message}")
        if "not enabled for" in lowered and "merchant" in lowered:
            # A feature Razorpay turns on per account (recurring payments), not a card's refusal
            # ("this card is not enabled for online payments" is a decline).
            return GatewayFeatureUnavailable(f"Razorpay: {message}")
        return RazorpayRequestRefused(message)
    if isinstance(exc, requests.RequestException) and http.never_sent(exc):
        return GatewayRetryable(f"Razorpay not reached: {type(exc).__name__}", url=url)
    # A server or gateway error, a lost connection, a read timeout or a body that is not JSON:
    # a write may have happened.
    detail = f"{type(exc).__name__}: {exc}"[:200]
    if mutating:
        return GatewayOutcomeUnknown(f"Razorpay's answer was lost or unclear ({detail})")
    return GatewayRetryable(f"Razorpay could not answer ({detail})")


class RazorpayGateway(RazorpayVaultMixin):
    name = "razorpay"
    supports_void = False
    voids_captures = False
    requests_three_d_secure = False
    supports_partial_capture = False

    def __init__(self, config: RazorpayConfig) -> None:
        self.config = config

    # --- plumbing ---------------------------------------------------------------------------

    def _client(self) -> razorpay.Client:
        client = razorpay.Client(
            session=http._session(),
            auth=(self.config.key_id, self.config.key_secret),
            base_url=self.config.base_url.rstrip("/"),
        )
        client.set_app_details({"title": "Clearhouse", "version": "1"})
        return client

    def _request(
        self, operation: str, call: Callable[[razorpay.Client, dict[str, Any]], Any], *, mutating: bool
    ) -> Any:
        kwargs: dict[str, Any] = {"timeout": (min(5.0, self.config.timeout_seconds), self.config.timeout_seconds)}
        try:
            return call(self._client(), kwargs)
        except (rzp_errors.BadRequestError, rzp_errors.GatewayError, rzp_errors.ServerError) as exc:
            error = _classify(exc, mutating=mutating, url=self.config.base_url)
        except (requests.RequestException, ValueError) as exc:  # ValueError: a body that is not JSON
            error = _classify(exc, mutating=mutating, url=self.config.base_url)
        logger.info("razorpay_call_failed", extra={"operation": operation, "error": error.code})
        raise error

    # --- orders and payments (checkout) ----------------------------------------------------

    def create_order(self, request: OrderRequest) -> Order:
        body = {
            "amount": request.amount,
            "currency": request.currency,
            "receipt": request.reference[:MAX_RECEIPT_LENGTH],
            "notes": {"reference": request.reference, **request.notes},
            "payment": {"capture": "automatic" if self.config.auto_capture and request.capture else "manual"},
        }
        data = self._request("orders.create", lambda c, kw: c.order.create(body, **kw), mutating=True)
        return order_of(data)

    def find_order(self, reference: str) -> Order | None:
        """Our order by its receipt (our reference): how a lost create answer is found again."""
        data = self._request(
            "orders.all", lambda c, kw: c.order.all({"receipt": reference[:MAX_RECEIPT_LENGTH]}, **kw), mutating=False
        )
        items = [item for item in data.get("items") or [] if item.get("receipt") == reference[:MAX_RECEIPT_LENGTH]]
        return order_of(items[0]) if items else None

    def get_order(self, order_id: str) -> Order:
        return order_of(self._request("orders.fetch", lambda c, kw: c.order.fetch(order_id, **kw), mutating=False))

    def order_payments(self, order_id: str) -> list[CheckoutPayment]:
        data = self._request(
            "orders.payments", lambda c, kw: c.order.payments(order_id, _EXPAND_CARD, **kw), mutating=False
        )
        return [_payment_info(item) for item in data.get("items") or []]

    def fetch_payment(self, payment_id: str) -> CheckoutPayment:
        return _payment_info(
            self._request(
                "payments.fetch", lambda c, kw: c.payment.fetch(payment_id, _EXPAND_CARD, **kw), mutating=False
            )
        )

    def checkout_signature_valid(self, *, order_id: str, payment_id: str, signature: str) -> bool:
        """Checkout's `razorpay_signature`: hex HMAC-SHA256 of `order_id|payment_id` with the key
        secret, compared in constant time."""
        expected = hmac.new(
            self.config.key_secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())

    # --- the Gateway interface ---------------------------------------------------------------

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        """Only a card saved in Checkout is charged from here (apps/gateways/razorpay/vault.py):
        any other payment is made by the customer in Checkout against an order."""
        if not isinstance(request.payment, SavedCard):
            raise GatewayMisconfigured(
                "Razorpay payments are made by the customer in Checkout: create an order instead."
            )
        return self.charge_saved_card(request, request.payment)

    sale = authorize

    def capture(self, request: CaptureRequest) -> GatewayResult:
        body = {"currency": request.currency}
        try:
            data = self._request(
                "payments.capture",
                lambda c, kw: c.payment.capture(request.transaction_id, request.amount, dict(body), **kw),
                mutating=True,
            )
        except RazorpayRequestRefused as exc:
            if "already been captured" not in exc.message:
                raise GatewayDeclined(self._refused(exc, "capture_refused")) from exc
            data = None  # captured before (a retry of ours, or elsewhere): confirm below
        info = _payment_info(data) if data is not None else self.fetch_payment(request.transaction_id)
        if info.status not in {"captured", "refunded"}:
            raise GatewayDeclined(GatewayResult(Outcome.DECLINED, info.payment_id, message=f"payment is {info.status}"))
        return self._result(info, "Captured")

    def void(self, request: VoidRequest) -> GatewayResult:
        raise GatewayMisconfigured("Razorpay has no void: refund a captured payment instead.")

    def refund(self, request: RefundRequest) -> GatewayResult:
        body = {
            "amount": request.amount,
            "receipt": request.reference[:MAX_RECEIPT_LENGTH],
            "notes": {"reference": request.reference},
        }
        try:
            data = self._request(
                "payments.refund", lambda c, kw: c.payment.refund(request.transaction_id, body, **kw), mutating=True
            )
        except RazorpayRequestRefused as exc:
            code = "refund_exceeds_charge" if "greater than" in exc.message else "refund_refused"
            raise GatewayDeclined(self._refused(exc, code)) from exc
        if data.get("status") == "failed":
            raise GatewayDeclined(
                GatewayResult(
                    Outcome.DECLINED, text(data.get("id")), message="Refund failed", decline_code="refund_failed"
                )
            )
        return GatewayResult(
            Outcome.APPROVED, text(data.get("id")), response_code="1", message=f"Refund {data.get('status')}"
        )

    def fetch_transaction(self, transaction_id: str) -> TransactionDetails:
        if transaction_id.startswith("rfnd_"):
            data = self._request("refunds.fetch", lambda c, kw: c.refund.fetch(transaction_id, **kw), mutating=False)
            return self._refund_details(data)
        info = self.fetch_payment(transaction_id)
        captured = info.status in {"captured", "refunded"}
        return TransactionDetails(
            transaction_id=info.payment_id,
            state=_PAYMENT_STATES.get(info.status, TransactionState.ERROR),
            transaction_type="payment",
            authorized_amount=info.amount if info.status != "failed" else 0,
            settled_amount=info.amount if captured else 0,
            currency=info.currency,
            reason_code=info.error_code,
            message=info.error_description or info.status,
            decline_code=DECLINE_CODES.get(info.error_reason, "card_declined") if info.status == "failed" else "",
            card_brand=info.card_brand,
            card_last4=info.card_last4,
            submitted_at=info.created_at,
        )

    def find_transaction(
        self, reference: str, parent_transaction_id: str = "", *, made_at: datetime | None = None
    ) -> TransactionDetails | None:
        """A refund of ours by its receipt among the payment's refunds (Razorpay cannot search
        refunds by receipt otherwise); a charge on a saved card by its order's receipt: the
        order's payment (its last one that did not fail, else its last), None without either.
        (`made_at` is not needed: both are found by id.)"""
        if not parent_transaction_id:
            order = self.find_order(reference)
            payments = self.order_payments(order.order_id) if order is not None else []
            if not payments:
                return None
            # Newest first, as Razorpay lists them: the latest payment that did not fail.
            latest = sorted(payments, key=lambda p: p.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
            kept = [p for p in latest if p.status != "failed"] or latest
            return self.fetch_transaction(kept[0].payment_id)
        receipt = reference[:MAX_RECEIPT_LENGTH]
        skip = 0
        while True:  # every page: a refund of ours not on the first is still made, not "not found"
            page = self._refunds_page(parent_transaction_id, skip)
            for item in page:
                if item.get("receipt") == receipt:
                    return self._refund_details(item)
            if len(page) < self.REFUNDS_PAGE:
                return None
            skip += len(page)

    REFUNDS_PAGE = 100  # the largest page of a payment's refunds

    def _refunds_page(self, payment_id: str, skip: int) -> list[dict[str, Any]]:
        """A page of the payment's refunds, newest first: one made while we page pushes the rest
        down a place, so a refund may be read twice, but none is skipped."""
        query = {"count": self.REFUNDS_PAGE, "skip": skip}
        data = self._request(
            "payments.refunds",
            lambda c, kw: c.payment.fetch_multiple_refund(payment_id, query, **kw),
            mutating=False,
        )
        return [item for item in data.get("items") or [] if isinstance(item, dict)]

    # --- settlements (the combined settlement report) ------------------------------------------

    RECON_PAGE = 1000  # the settlement report's largest page

    def settlements(self, *, since: datetime, until: datetime) -> list[SettlementBatchData]:
        """Settlements made in [since, until) with every payment and refund each carried: the
        combined report (`settlement.report`) day by day and page by page, grouped by settlement,
        and each settlement (`settlement.fetch`) for its payout and UTR. The report's days may be
        Indian days (UTC+5:30) rather than UTC ones, so the day after the range is read too and
        items are kept by their `settled_at`. Unprocessed settlements paid nothing out yet: skipped."""
        since, until = since.astimezone(UTC), until.astimezone(UTC)
        grouped: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        day, last = since.date(), (until - timedelta(microseconds=1)).date() + timedelta(days=1)
        while day <= last:
            for item in self._recon_day(day):
                settled_at = _timestamp(item.get("settled_at"))
                settlement_id = text(item.get("settlement_id"))
                if not item.get("settled") or not settlement_id or settled_at is None:
                    continue
                if since <= settled_at < until:  # pages shift if a settlement lands meanwhile: keyed
                    key = (text(item.get("type")), text(item.get("entity_id")))
                    grouped.setdefault(settlement_id, {})[key] = item
            day += timedelta(days=1)
        batches = [
            self._settlement_batch(settlement_id, list(items.values())) for settlement_id, items in grouped.items()
        ]
        return sorted((b for b in batches if b is not None), key=lambda batch: (batch.settled_at, batch.batch_id))

    def _recon_day(self, day: date) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self._recon_page(
                {"year": day.year, "month": day.month, "day": day.day, "count": self.RECON_PAGE, "skip": len(items)}
            )
            items += page
            if len(page) < self.RECON_PAGE:
                return items

    def _recon_page(self, query: dict[str, int]) -> list[dict[str, Any]]:
        data = self._request("settlements.report", lambda c, kw: c.settlement.report(query, **kw), mutating=False)
        return [item for item in data.get("items") or [] if isinstance(item, dict)]

    def _settlement_batch(self, settlement_id: str, items: list[dict[str, Any]]) -> SettlementBatchData | None:
        settlement = self._request(
            "settlements.fetch", lambda c, kw: c.settlement.fetch(settlement_id, **kw), mutating=False
        )
        if text(settlement.get("status")) != "processed":
            return None
        lines = [_recon_line(item) for item in items]
        settled_at = min(filter(None, (_timestamp(item.get("settled_at")) for item in items)))
        return SettlementBatchData(
            batch_id=settlement_id,
            settled_at=settled_at,
            currency=next((line.currency for line in lines if line.currency), "INR"),
            lines=lines,
            payout_amount=int(settlement.get("amount") or 0),
            payout_reference=text(settlement.get("utr")),
        )

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _refund_details(data: dict[str, Any]) -> TransactionDetails:
        return TransactionDetails(
            transaction_id=text(data.get("id")),
            state=_REFUND_STATES.get(text(data.get("status")), TransactionState.ERROR),
            transaction_type="refund",
            reference=text(data.get("receipt")),
            settled_amount=int(data.get("amount") or 0),
            currency=text(data.get("currency")).upper(),
            original_transaction_id=text(data.get("payment_id")),
            submitted_at=_timestamp(data.get("created_at")),
        )

    @staticmethod
    def _refused(exc: GatewayError, decline_code: str) -> GatewayResult:
        return GatewayResult(Outcome.DECLINED, "", message=exc.message[:255], decline_code=decline_code)

    @staticmethod
    def _result(info: CheckoutPayment, message: str) -> GatewayResult:
        return GatewayResult(
            Outcome.APPROVED,
            info.payment_id,
            response_code="1",
            message=message,
            card_brand=info.card_brand,
            card_last4=info.card_last4,
        )


def adapter_for(account: GatewayAccount) -> RazorpayGateway:
    """The adapter for one of our gateway accounts at Razorpay (the registry calls this)."""
    credentials = account.credentials()
    base_url = settings.RAZORPAY_LIVE_API_BASE if account.mode == "live" else settings.RAZORPAY_TEST_API_BASE
    return RazorpayGateway(
        RazorpayConfig(
            key_id=credentials["key_id"],
            key_secret=credentials["key_secret"],
            base_url=base_url,
            timeout_seconds=settings.RAZORPAY_TIMEOUT_SECONDS,
            auto_capture=settings.RAZORPAY_AUTO_CAPTURE,
        )
    )
